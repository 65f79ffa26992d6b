//! Certificates by ACME (issue 17, RFC 8555): with `[acme]`, backupmx orders the inbound
//! certificate for `[acme] names` itself, answers the HTTP-01 challenge on `[acme] http_listen`
//! (`http01.rs`), keeps the account, certificate and key in `<state_dir>/acme/` with mode 0600
//! (`store.rs`), renews 30 days before expiry (`schedule.rs`, pure) and swaps the new pair into the
//! running TLS acceptor: new handshakes get it, no restart. Every step is logged.

pub mod http01;
pub mod schedule;
pub mod store;

use std::path::Path;
use std::time::{Duration, SystemTime};

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use tokio::sync::watch;

use crate::config::AcmeConfig;
use crate::inbound::TlsReloader;
pub use http01::Challenges;
pub use store::{Store, StoreError};

/// An order must end within this (first issuance at start, or one renewal).
pub const ORDER_TIMEOUT: Duration = Duration::from_secs(120);
/// After a failed renewal, the next try comes this much later.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(3600);

/// Why no certificate could be obtained.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("ACME ({directory}): {message}")]
    Protocol { directory: String, message: String },
    #[error("ACME: no answer within {} s", ORDER_TIMEOUT.as_secs())]
    Timeout,
    #[error("ACME: {0}")]
    Store(#[from] StoreError),
}

/// Obtains and renews the certificate of `[acme]`.
#[derive(Clone)]
pub struct Acme {
    config: AcmeConfig,
    store: Store,
    challenges: Challenges,
}

impl Acme {
    pub fn new(config: &AcmeConfig, state_dir: &Path) -> Acme {
        Acme {
            config: config.clone(),
            store: Store::new(state_dir),
            challenges: Challenges::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The pending HTTP-01 challenges, which the responder serves.
    pub fn challenges(&self) -> Challenges {
        self.challenges.clone()
    }

    /// Whether a stored certificate can be served now (no order needed before starting).
    pub fn has_certificate(&self) -> bool {
        self.store
            .validity()
            .is_some_and(|(_, until)| until > SystemTime::now())
    }

    /// Orders a certificate and stores it (bounded by [`ORDER_TIMEOUT`]).
    pub async fn obtain(&self) -> Result<(), AcmeError> {
        match tokio::time::timeout(ORDER_TIMEOUT, self.order()).await {
            Ok(result) => result,
            Err(_) => Err(AcmeError::Timeout),
        }
    }

    fn protocol(&self, message: impl std::fmt::Display) -> AcmeError {
        AcmeError::Protocol {
            directory: self.config.directory.clone(),
            message: message.to_string(),
        }
    }

    async fn account(&self) -> Result<Account, AcmeError> {
        let builder = match &self.config.ca_file {
            Some(root) => Account::builder_with_root(root),
            None => Account::builder(),
        }
        .map_err(|e| self.protocol(e))?;
        if let Some(json) = self.store.account()
            && let Ok(credentials) = serde_json::from_str::<AccountCredentials>(&json)
        {
            tracing::info!(directory = %self.config.directory, "ACME: using the stored account");
            return builder
                .from_credentials(credentials)
                .await
                .map_err(|e| self.protocol(e));
        }
        let contact: Vec<&str> = self.config.contact.iter().map(String::as_str).collect();
        let (account, credentials) = builder
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.config.directory.clone(),
                None,
            )
            .await
            .map_err(|e| self.protocol(e))?;
        let json = serde_json::to_string(&credentials).map_err(|e| self.protocol(e))?;
        self.store.save_account(&json)?;
        tracing::info!(directory = %self.config.directory, "ACME: account created");
        Ok(account)
    }

    async fn order(&self) -> Result<(), AcmeError> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self
            .config
            .names
            .iter()
            .map(|name| Identifier::Dns(name.clone()))
            .collect();
        let mut order = account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(|e| self.protocol(e))?;
        tracing::info!(names = %self.config.names.join(","), "ACME: order placed");
        let mut tokens = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(|e| self.protocol(e))?;
            if authorization.status == AuthorizationStatus::Valid {
                continue;
            }
            let mut challenge = authorization
                .challenge(ChallengeType::Http01)
                .ok_or_else(|| self.protocol("the CA offers no http-01 challenge"))?;
            let key_authorization = challenge.key_authorization();
            self.challenges
                .insert(&challenge.token, key_authorization.as_str());
            tokens.push(challenge.token.clone());
            tracing::info!(identifier = %challenge.identifier(), "ACME: answering the http-01 challenge");
            challenge.set_ready().await.map_err(|e| self.protocol(e))?;
        }
        let status = order.poll_ready(&RetryPolicy::default()).await;
        for token in &tokens {
            self.challenges.remove(token);
        }
        let status = status.map_err(|e| self.protocol(e))?;
        if status != OrderStatus::Ready {
            return Err(self.protocol(format!("the order is {status:?}, not ready")));
        }
        let key_pem = order.finalize().await.map_err(|e| self.protocol(e))?;
        let cert_pem = order
            .poll_certificate(&RetryPolicy::default())
            .await
            .map_err(|e| self.protocol(e))?;
        self.store.save_pair(&cert_pem, &key_pem)?;
        let expires = self
            .store
            .validity()
            .map(|(_, until)| crate::readiness::certificate::show_date(unix(until)))
            .unwrap_or_default();
        tracing::info!(path = %self.store.cert_path().display(), %expires, "ACME: certificate stored");
        Ok(())
    }

    /// Renews before expiry and swaps each new pair into `reloader`, until shutdown.
    pub async fn run(self, reloader: TlsReloader, mut shutdown: watch::Receiver<bool>) {
        loop {
            let wait = match self.store.validity() {
                Some((from, until)) => {
                    let at = schedule::renew_at(from, until);
                    tracing::info!(
                        renew_in_s = schedule::wait_until(at, SystemTime::now()).as_secs(),
                        "ACME: renewal scheduled"
                    );
                    schedule::wait_until(at, SystemTime::now())
                }
                None => Duration::ZERO,
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            tracing::info!("ACME: renewing the certificate");
            let renewed = tokio::select! {
                renewed = self.obtain() => renewed,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            let failure = match renewed {
                Ok(()) => match reloader.reload() {
                    Ok(()) => {
                        tracing::info!("ACME: the new certificate is served (no restart)");
                        None
                    }
                    Err(error) => Some(error.to_string()),
                },
                Err(error) => Some(error.to_string()),
            };
            if let Some(error) = failure {
                tracing::warn!(%error, retry_in_s = RETRY_AFTER_FAILURE.as_secs(), "ACME: renewal failed; the current certificate stays");
                tokio::select! {
                    _ = tokio::time::sleep(RETRY_AFTER_FAILURE) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
        }
    }
}

fn unix(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}
