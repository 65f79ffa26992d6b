//! The running server's readiness: computed for every configured domain at start and every hour,
//! and for one domain on demand (the API); the latest result per domain feeds the API, the
//! dashboard's badges and the metrics `backupmx_domain_readiness{domain}` (1 ready, 0.5 warning,
//! 0 broken) and `backupmx_readiness_check_failing{domain,check}` (1 when the check fails).

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use super::{Gatherer, Readiness, Status, Verdict};
use crate::inbound::TlsReloader;

/// How often every domain is checked again.
pub const REFRESH_EVERY: Duration = Duration::from_secs(3600);

/// The latest readiness of each configured domain.
pub struct ReadinessService {
    gatherer: Gatherer,
    /// The inbound certificate as served now (it changes on SIGHUP and ACME renewals).
    tls: Option<TlsReloader>,
    latest: RwLock<BTreeMap<String, Readiness>>,
}

impl ReadinessService {
    pub fn new(gatherer: Gatherer, tls: Option<TlsReloader>) -> ReadinessService {
        ReadinessService {
            gatherer,
            tls,
            latest: RwLock::new(BTreeMap::new()),
        }
    }

    /// Checks `domain` now and keeps the result.
    pub async fn refresh(&self, domain: &str) -> Readiness {
        let certificate = self.tls.as_ref().map(TlsReloader::current_chain);
        let readiness = self.gatherer.assess(domain, certificate).await;
        publish_metrics(&readiness);
        if readiness.verdict != Verdict::Ready {
            tracing::warn!(
                domain = %readiness.domain,
                verdict = readiness.verdict.as_str(),
                checks = %readiness.worst_checks().join(","),
                "domain readiness"
            );
        }
        let mut latest = self.latest.write().unwrap_or_else(PoisonError::into_inner);
        latest.insert(readiness.domain.clone(), readiness.clone());
        readiness
    }

    /// Checks every configured domain, one after another.
    pub async fn refresh_all(&self) {
        for domain in self.gatherer.domains() {
            self.refresh(&domain).await;
        }
    }

    /// The latest result for `domain`, if it was checked.
    pub fn latest(&self, domain: &str) -> Option<Readiness> {
        let latest = self.latest.read().unwrap_or_else(PoisonError::into_inner);
        latest.get(domain).cloned()
    }

    /// Whether `domain` is one of the configured domains.
    pub fn is_configured(&self, domain: &str) -> bool {
        self.gatherer.domains().iter().any(|d| d == domain)
    }

    /// Checks every domain at once, then every [`REFRESH_EVERY`], until shutdown.
    pub async fn run(self: std::sync::Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = self.refresh_all() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(REFRESH_EVERY) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }
}

fn publish_metrics(readiness: &Readiness) {
    let value = match readiness.verdict {
        Verdict::Ready => 1.0,
        Verdict::Warning => 0.5,
        Verdict::Broken => 0.0,
    };
    let domain = readiness.domain.clone();
    metrics::gauge!("backupmx_domain_readiness", "domain" => domain.clone()).set(value);
    for check in &readiness.checks {
        let failing = if check.status == Status::Fail {
            1.0
        } else {
            0.0
        };
        metrics::gauge!(
            "backupmx_readiness_check_failing",
            "domain" => domain.clone(),
            "check" => check.name
        )
        .set(failing);
    }
}
