//! Delivery: MX look-up, choice of the hosts more preferred than us, and the SMTP client that hands
//! messages to the primary with per-recipient results. [`Deliverer`] ties them together for the
//! queue; [`check_dns`] is the admin's diagnosis of a domain's MX setup.

mod auto;
pub mod check;
pub mod client;
pub mod dane;
pub mod dns;
pub mod mta_sts;
mod raw_query;
pub mod route;

use std::fmt;
use std::net::SocketAddr;

use tokio::task::JoinSet;

use crate::config::{Config, DomainConfig};
pub use check::{CheckDnsReport, Verdict, check_dns};
pub use client::{
    ClientConfig, ClientError, Connection, EnvelopeStep, Extensions, Message, Opened,
    RecipientOutcome, Response, SendReport, Staged, TlsPolicy, probe,
};
pub use dns::{DnsError, DnsResolver, MxRecord};
pub use route::{Host, Misconfiguration, MxTarget, RouteDecision, SelfIdentity};

/// Why the deliverer could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Dns(#[from] DnsError),
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Why a domain has no hosts to deliver to right now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A temporary DNS failure: the destination counts as unreachable (recovery probing applies).
    #[error("DNS look-up failed: {0}")]
    Dns(DnsError),
    /// Admin-fixable: the mail stays queued, the domain is marked misconfigured; never bounce.
    #[error("misconfigured: {0}")]
    Misconfigured(Misconfiguration),
}

impl RouteError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RouteError::Dns(_))
    }
}

/// One failed try within [`Deliverer::connect_first`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedAttempt {
    pub host: String,
    /// `None` when the host had no address.
    pub addr: Option<SocketAddr>,
    /// `None` when the host had no address.
    pub error: Option<ClientError>,
}

/// No candidate host could be used; every try is listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConnectError {
    pub attempts: Vec<FailedAttempt>,
}

impl ConnectError {
    /// Every try failed to reach its host (no address, refused, timeout, 421 greeting...): the
    /// destination is unreachable and recovery probing applies.
    pub fn is_unreachable(&self) -> bool {
        self.attempts
            .iter()
            .all(|a| a.error.as_ref().is_none_or(ClientError::is_unreachable))
    }

    /// The reply to record for the recipients: that of the last try.
    pub fn to_reply(&self) -> backupmx_smtp::Reply {
        match self.attempts.last().and_then(|a| a.error.as_ref()) {
            Some(error) => error.to_reply(),
            None => backupmx_smtp::Reply::new(
                451,
                backupmx_smtp::EnhancedCode(4, 4, 4),
                self.to_string(),
            ),
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.attempts.is_empty() {
            return write!(f, "no host to try");
        }
        for (i, attempt) in self.attempts.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            match (&attempt.addr, &attempt.error) {
                (Some(addr), Some(error)) => write!(f, "{} [{addr}]: {error}", attempt.host)?,
                _ => write!(f, "{}: no address", attempt.host)?,
            }
        }
        Ok(())
    }
}

/// Routing and connecting for the queue: holds the resolver, our identity and the client settings.
#[derive(Clone)]
pub struct Deliverer {
    resolver: DnsResolver,
    identity: SelfIdentity,
    port: u16,
    client: ClientConfig,
    /// The MTA-STS policies of `tls = "auto"` domains (cached by `max_age`).
    mta_sts: mta_sts::MtaSts,
}

impl Deliverer {
    pub fn new(config: &Config) -> Result<Deliverer, SetupError> {
        let resolver = DnsResolver::new(&config.dns)?;
        let client =
            ClientConfig::new(&config.hostname, &config.delivery, TlsPolicy::Opportunistic)?;
        Ok(Deliverer::from_parts(
            resolver,
            SelfIdentity::from_config(config),
            config.delivery.port,
            client,
        )
        .with_mta_sts_port(config.delivery.mta_sts_port))
    }

    /// The same deliverer fetching MTA-STS policies from `port` (443 unless testing); a new,
    /// empty policy cache.
    pub fn with_mta_sts_port(self, port: u16) -> Deliverer {
        let fetcher = mta_sts::PolicyFetcher::new(
            self.resolver.clone(),
            self.client.verified_rustls_config(),
            port,
        );
        Deliverer {
            mta_sts: mta_sts::MtaSts::new(self.resolver.clone(), fetcher),
            ..self
        }
    }

    /// The MTA-STS look-ups and cache (shared with the readiness check).
    pub fn mta_sts(&self) -> &mta_sts::MtaSts {
        &self.mta_sts
    }

    pub fn from_parts(
        resolver: DnsResolver,
        identity: SelfIdentity,
        port: u16,
        client: ClientConfig,
    ) -> Deliverer {
        let fetcher = mta_sts::PolicyFetcher::new(
            resolver.clone(),
            client.verified_rustls_config(),
            crate::config::DEFAULT_MTA_STS_PORT,
        );
        Deliverer {
            mta_sts: mta_sts::MtaSts::new(resolver.clone(), fetcher),
            resolver,
            identity,
            port,
            client,
        }
    }

    pub fn client_config(&self) -> &ClientConfig {
        &self.client
    }
    pub fn identity(&self) -> &SelfIdentity {
        &self.identity
    }
    pub fn resolver(&self) -> &DnsResolver {
        &self.resolver
    }

    /// The hosts to try for `domain`, best first: the static primary, or the MX hosts strictly more
    /// preferred than us.
    pub async fn resolve(&self, domain: &DomainConfig) -> Result<Vec<Host>, RouteError> {
        let decision = match &domain.primary {
            Some(primary) => self.plan_static(&primary.host, primary.port).await?,
            None => self.plan(&self.lookup_targets(&domain.name).await?),
        };
        match decision {
            RouteDecision::Candidates(hosts) => Ok(hosts),
            RouteDecision::Misconfigured(reason) => Err(RouteError::Misconfigured(reason)),
        }
    }

    /// The domain's MX list with each host's addresses (empty when a host's look-up failed).
    pub async fn lookup_targets(&self, domain: &str) -> Result<Vec<MxTarget>, RouteError> {
        let records = self.resolver.lookup_mx(domain).await.map_err(|e| match e {
            DnsError::NxDomain { .. } => RouteError::Misconfigured(Misconfiguration::NoSuchDomain),
            DnsError::NoData { .. } => RouteError::Misconfigured(Misconfiguration::NoMx),
            other => RouteError::Dns(other),
        })?;
        let mut lookups = JoinSet::new();
        for (index, record) in records.iter().enumerate() {
            let resolver = self.resolver.clone();
            let name = record.exchange.clone();
            lookups.spawn(async move {
                let addresses = if name.is_empty() {
                    Ok(Vec::new())
                } else {
                    resolver.lookup_ips(&name).await
                };
                (index, addresses.unwrap_or_default())
            });
        }
        let mut targets: Vec<MxTarget> = records
            .into_iter()
            .map(|r| MxTarget {
                preference: r.preference,
                name: r.exchange,
                addresses: Vec::new(),
            })
            .collect();
        while let Some(joined) = lookups.join_next().await {
            if let Ok((index, addresses)) = joined {
                targets[index].addresses = addresses;
            }
        }
        Ok(targets)
    }

    /// Applies the routing rule (equal preferences shuffled).
    pub fn plan(&self, targets: &[MxTarget]) -> RouteDecision {
        route::plan_route(targets, &self.identity, self.port, &mut rand::rng())
    }

    async fn plan_static(&self, host: &str, port: u16) -> Result<RouteDecision, RouteError> {
        match self.resolver.lookup_ips(host).await {
            Ok(addresses) => Ok(route::plan_static(host, port, addresses, &self.identity)),
            Err(e) if e.is_temporary() => Err(RouteError::Dns(e)),
            Err(_) => Ok(RouteDecision::Misconfigured(
                Misconfiguration::PrimaryNotFound {
                    name: host.to_owned(),
                },
            )),
        }
    }

    /// Opens a session with the first host (in order) and address that answers, under the default
    /// client TLS policy. An opportunistic TLS handshake failure is retried at once in clear on the
    /// same address.
    pub async fn connect_first(&self, hosts: &[Host]) -> Result<Connection, ConnectError> {
        self.connect_with(hosts, &self.client, None).await
    }

    /// [`Deliverer::connect_first`] under `domain`'s TLS policy (`[[domain]] tls`): under `require`
    /// each host's certificate is verified against its MX name, or for a static primary against
    /// `tls_name` when set (else the primary's host part, a name or an IP address). Under `auto`
    /// (MX routing) the primary's published policy decides, host by host (`delivery/auto.rs`).
    pub async fn connect_for(
        &self,
        domain: &DomainConfig,
        hosts: &[Host],
    ) -> Result<Connection, ConnectError> {
        if domain.tls.mode == crate::config::TlsMode::Auto && domain.primary.is_none() {
            return self.connect_auto(&domain.name, hosts).await;
        }
        let client = self.client.with_tls(domain.tls.mode.into());
        let name = domain.primary.as_ref().and(domain.tls.name.as_deref());
        self.connect_with(hosts, &client, name).await
    }

    async fn connect_with(
        &self,
        hosts: &[Host],
        client: &ClientConfig,
        tls_name: Option<&str>,
    ) -> Result<Connection, ConnectError> {
        first_answering(hosts, |addr, host| async move {
            open(addr, tls_name.unwrap_or(&host), client).await
        })
        .await
    }

    /// Recovery check: the first address of the first host that answers SMTP.
    pub async fn probe_first(&self, hosts: &[Host]) -> Result<SocketAddr, ConnectError> {
        first_answering(hosts, |addr, _host| async move {
            probe(addr, &self.client).await.map(|()| addr)
        })
        .await
    }
}

/// Opens a session; under [`TlsPolicy::Opportunistic`] only, a failed handshake (the server offered
/// STARTTLS but TLS did not work) is retried at once in clear: under `require` it is an error, under
/// `none` no handshake is tried.
pub(crate) async fn open(
    addr: SocketAddr,
    host: &str,
    client: &ClientConfig,
) -> Result<Connection, ClientError> {
    match Connection::open(addr, host, client).await {
        Err(ClientError::TlsHandshake(reason)) if client.tls == TlsPolicy::Opportunistic => {
            tracing::info!(%host, %addr, %reason, "TLS handshake failed; retrying without TLS");
            Connection::open(addr, host, &client.with_tls(TlsPolicy::None)).await
        }
        other => other,
    }
}

/// Tries `hosts` in order, each of their addresses, until `attempt` succeeds; every failure is kept.
pub(crate) async fn first_answering<T, F, Fut>(
    hosts: &[Host],
    attempt: F,
) -> Result<T, ConnectError>
where
    F: Fn(SocketAddr, String) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut attempts = Vec::new();
    for host in hosts {
        if host.addresses.is_empty() {
            attempts.push(FailedAttempt {
                host: host.name.clone(),
                addr: None,
                error: None,
            });
        }
        for addr in host.sockets() {
            match attempt(addr, host.name.clone()).await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    tracing::debug!(host = %host.name, %addr, %error, "delivery host failed");
                    attempts.push(FailedAttempt {
                        host: host.name.clone(),
                        addr: Some(addr),
                        error: Some(error),
                    });
                }
            }
        }
    }
    Err(ConnectError { attempts })
}
