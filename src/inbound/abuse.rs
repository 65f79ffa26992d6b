//! The shell around the pure [`Limiter`]: one per server, shared by every connection, with the exempt
//! networks, the clock, and the log line and metric every limit hit produces.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use ipnet::IpNet;

use super::limiter::{ClientLimits, LimitHit, Limiter};
use crate::clock::Clock;
use crate::config::LimitsConfig;

/// Logs a limit hit and counts it in `backupmx_limit_hits_total{limit=...}`.
pub fn record_hit(hit: LimitHit, client: IpAddr) {
    tracing::info!(%client, limit = hit.name(), "client limit reached");
    metrics::counter!("backupmx_limit_hits_total", "limit" => hit.name()).increment(1);
}

/// Per-client limits of a running server.
pub struct AbuseGuard {
    limiter: Mutex<Limiter>,
    /// Replaced by a config reload ([`AbuseGuard::reconfigure`]).
    exempt: std::sync::RwLock<Vec<IpNet>>,
    clock: Arc<dyn Clock>,
}

impl AbuseGuard {
    pub fn new(config: &LimitsConfig, clock: Arc<dyn Clock>) -> AbuseGuard {
        AbuseGuard {
            limiter: Mutex::new(Limiter::new(client_limits(config), clock.now())),
            exempt: std::sync::RwLock::new(config.exempt.clone()),
            clock,
        }
    }

    /// A reloaded config's limits and exempt networks; the counts so far are kept.
    pub fn reconfigure(&self, config: &LimitsConfig) {
        self.limiter().set_limits(client_limits(config));
        *self.exempt.write().unwrap_or_else(PoisonError::into_inner) = config.exempt.clone();
    }

    /// True when `ip` is in `limits.exempt`: no per-client counting at all.
    /// The server's injected wall clock (sessions read it for `Received:` and the end of data).
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.exempt
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|net| net.contains(&ip))
    }

    /// Admits a new connection from `ip` (the slot is held until the [`ClientSlot`] is dropped), or
    /// says which limit refuses it (already logged and counted).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ClientSlot, LimitHit> {
        if self.is_exempt(ip) {
            return Ok(ClientSlot { guard: None, ip });
        }
        let now = self.clock.now();
        self.limiter()
            .connect(ip, now)
            .inspect_err(|hit| record_hit(*hit, ip))?;
        Ok(ClientSlot {
            guard: Some(Arc::clone(self)),
            ip,
        })
    }

    /// Counts one RCPT from `ip`, or says it is over the rate (already logged and counted).
    pub fn recipient(&self, ip: IpAddr) -> Result<(), LimitHit> {
        if self.is_exempt(ip) {
            return Ok(());
        }
        let now = self.clock.now();
        self.limiter()
            .recipient(ip, now)
            .inspect_err(|hit| record_hit(*hit, ip))
    }

    /// The counts stay consistent even if a holder panicked: every update is a single step.
    fn limiter(&self) -> std::sync::MutexGuard<'_, Limiter> {
        self.limiter.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection counted against its client's limits; dropping it ends the count.
pub struct ClientSlot {
    guard: Option<Arc<AbuseGuard>>,
    ip: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        if let Some(guard) = &self.guard {
            guard.limiter().disconnect(self.ip);
        }
    }
}

fn client_limits(config: &LimitsConfig) -> ClientLimits {
    ClientLimits {
        max_connections: config.max_connections_per_ip,
        connections_per_minute: config.connections_per_minute,
        recipients_per_minute: config.recipients_per_minute,
    }
}
