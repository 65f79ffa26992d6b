//! The recipient service: what the SMTP session's driver asks for each RCPT ([`RecipientService::check`]),
//! what the queue tells it after each delivery ([`RecipientService::learn_delivery`]), and the cache's
//! life (load at start, periodic atomic save, save at shutdown). Admin operations are in views.rs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::address::AddressKey;
use super::cache::{Cache, DEFAULT_MAX_ENTRIES, Known};
use super::callout::{CalloutAnswer, CalloutPool};
use super::error::CacheError;
use super::lists::Lists;
use super::shared::{CacheChange, SharedCache};
use super::store;
use super::verdict::{CacheState, Decision, Mode, PrimaryState, Reason, Verdict, decide};
use crate::clock::{Clock, to_unix_ms};
use crate::config::{Config, DomainConfig, RecipientsConfig};
use crate::delivery::Deliverer;
use crate::envelope::{Envelope, Route};
use crate::live::Live;

/// How long a failed callout connection makes the primary count as down (no new callout meanwhile:
/// a dead primary must not cost every RCPT a connect timeout). Success is not remembered: while the
/// primary answers, each unknown address costs one question on the open connection.
const DOWN_MEMORY: Duration = Duration::from_secs(10);
/// How often a changed cache is written to disk.
const SAVE_INTERVAL: Duration = Duration::from_secs(30);

/// Whether the queue currently sees a destination as unreachable. Declared here and implemented by
/// the queue, so that recipient validation does not depend on the queue.
pub trait PrimaryHealth: Send + Sync {
    fn is_down(&self, domain: &str) -> bool;
}

/// What waits for a domain now (messages, bytes), for its quota (`[[domain]] max_messages`,
/// `max_bytes`). Declared here and implemented by the queue, like [`PrimaryHealth`].
pub trait DomainUsage: Send + Sync {
    fn usage(&self, domain: &str) -> (u64, u64);
}

/// What the primary answered for one recipient at delivery (the queue's results, in the terms
/// recipient validation learns from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryAnswer<'a> {
    Accepted,
    /// A permanent refusal; `status` is its enhanced code (e.g. `5.1.1`).
    Refused {
        status: &'a str,
    },
    Deferred,
}

/// The last time the cache learnt something about a domain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LearningEvent {
    pub at_ms: u64,
    pub address: String,
    pub known: &'static str,
    /// `callout`, `delivery` or `import`.
    pub source: &'static str,
}

pub struct RecipientService {
    /// Replaced by a config reload ([`RecipientService::reconfigure`]), as are `domains` and `lists`.
    pub(super) settings: Live<RecipientsConfig>,
    pub(super) domains: Live<Vec<DomainConfig>>,
    hostname: String,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) cache: Mutex<Cache>,
    cache_path: Option<PathBuf>,
    dirty: AtomicBool,
    pub(super) lists: Live<Lists>,
    callouts: CalloutPool,
    deliverer: Option<Deliverer>,
    health: Option<Arc<dyn PrimaryHealth>>,
    usage: Option<Arc<dyn DomainUsage>>,
    /// Per destination: when the last callout found no primary answering.
    unreachable_since: Mutex<HashMap<String, Instant>>,
    pub(super) learned: Mutex<HashMap<String, LearningEvent>>,
    /// In a cluster: where changes go and the copy comes from (instead of the cache file).
    shared: Option<Arc<dyn SharedCache>>,
}

impl RecipientService {
    /// The service for `config`, its cache read from `<spool>/recipients-cache` (a damaged file is
    /// logged and replaced by an empty cache: the cache is an optimisation, never a reason not to run).
    /// `deliverer` routes callouts (`None`: no callouts, the primary counts as down).
    pub fn new(config: &Config, clock: Arc<dyn Clock>, deliverer: Option<Deliverer>) -> Self {
        let path = store::cache_path(&config.spool.dir);
        let now_ms = to_unix_ms(clock.now());
        let cache = match store::load(&path).and_then(|text| {
            text.map(|t| Cache::from_text(&t, now_ms, DEFAULT_MAX_ENTRIES))
                .transpose()
        }) {
            Ok(cache) => cache.unwrap_or_else(|| Cache::new(DEFAULT_MAX_ENTRIES)),
            Err(error) => {
                tracing::warn!(%error, "recipient cache unreadable; starting empty");
                Cache::new(DEFAULT_MAX_ENTRIES)
            }
        };
        let mut service = RecipientService::in_memory(config, clock, deliverer);
        service.cache = Mutex::new(cache);
        service.cache_path = Some(path);
        service
    }

    /// A service that keeps its cache in memory only (tests, tools).
    pub fn in_memory(config: &Config, clock: Arc<dyn Clock>, deliverer: Option<Deliverer>) -> Self {
        RecipientService {
            settings: Live::new(config.recipients.clone()),
            domains: Live::new(config.domains.clone()),
            hostname: config.hostname.clone(),
            clock,
            cache: Mutex::new(Cache::new(DEFAULT_MAX_ENTRIES)),
            cache_path: None,
            dirty: AtomicBool::new(false),
            lists: Live::new(lists_of(config)),
            callouts: CalloutPool::default(),
            deliverer,
            health: None,
            usage: None,
            unreachable_since: Mutex::new(HashMap::new()),
            learned: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// Puts a reloaded config's recipient policies, domains and list files in force; checks already
    /// running finish with the ones they started with. List files are read again on first use.
    pub fn reconfigure(&self, config: &Config) {
        self.settings.set(Arc::new(config.recipients.clone()));
        self.domains.set(Arc::new(config.domains.clone()));
        self.lists.set(Arc::new(lists_of(config)));
    }

    /// Lets the queue say what waits for a domain, so its quota can refuse new mail.
    pub fn with_usage(mut self, usage: Arc<dyn DomainUsage>) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Shares the verify cache with the other nodes of a cluster: `shared` replaces the cache file
    /// (what this node learns goes there, and its copy comes from there: [`Self::resync_shared`]).
    pub fn with_shared_cache(mut self, shared: Arc<dyn SharedCache>) -> Self {
        self.cache_path = None;
        self.cache().clear();
        self.shared = Some(shared);
        self
    }

    /// Lets the queue's view of destination health count as "primary down".
    pub fn with_primary_health(mut self, health: Arc<dyn PrimaryHealth>) -> Self {
        self.health = Some(health);
        self
    }

    pub(super) fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn now_ms(&self) -> u64 {
        to_unix_ms(self.clock.now())
    }

    /// The final verdict for `address` (never [`Verdict::Callout`]: a needed callout is run here,
    /// bounded by `callout_timeout`). `domain` is the configured domain the route names.
    pub async fn check(&self, address: &str, domain: &str) -> Decision {
        if self.over_quota(domain) {
            return self.count(domain, decision_over_quota());
        }
        let policy = self.settings.get().policy(domain);
        let Some(key) = AddressKey::parse(address) else {
            return self.count(domain, accept(Reason::AcceptAll));
        };
        let known = self.known_state(policy.mode, domain, &key);
        let mut decision = decide(&policy, known, self.primary_state(domain));
        if decision.verdict == Verdict::Callout {
            let (answer, primary) = self.callout(domain, &key).await;
            // Only `verify` takes the primary's answer; a list stays the authority for its domain.
            let known = if policy.mode == Mode::Verify {
                answer
            } else {
                known
            };
            decision = decide(&policy, known, primary);
            if decision.verdict == Verdict::Callout {
                decision = decide(&policy, known, PrimaryState::Down);
            }
        }
        self.count(domain, decision)
    }

    /// True when what waits for `domain` has reached its `max_messages` or `max_bytes`.
    fn over_quota(&self, domain: &str) -> bool {
        let domains = self.domains.get();
        let Some(limits) = domains.iter().find(|d| d.name == domain).map(|d| &d.limits) else {
            return false;
        };
        let (Some(usage), true) = (&self.usage, limits.has_quota()) else {
            return false;
        };
        let (messages, bytes) = usage.usage(domain);
        limits.is_full(messages, bytes)
    }

    fn known_state(&self, mode: Mode, domain: &str, key: &AddressKey) -> CacheState {
        match mode {
            Mode::AcceptAll => CacheState::Unknown,
            // No usable list: accept rather than refuse on a broken file.
            Mode::List => match self.lists.get().contains(domain, key) {
                Some(false) => CacheState::Bad,
                Some(true) | None => CacheState::Good,
            },
            Mode::Verify => self.cache().state(key, self.now_ms()),
        }
    }

    fn primary_state(&self, domain: &str) -> PrimaryState {
        let failed_recently = self
            .unreachable_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(domain)
            .is_some_and(|at| at.elapsed() < DOWN_MEMORY);
        let queue_says_down = self.health.as_ref().is_some_and(|h| h.is_down(domain));
        if failed_recently || queue_says_down || self.deliverer.is_none() {
            PrimaryState::Down
        } else {
            PrimaryState::Unknown
        }
    }

    /// Runs a callout and turns its answer into what the verdict needs; caches what it learnt.
    async fn callout(&self, domain: &str, key: &AddressKey) -> (CacheState, PrimaryState) {
        let started = Instant::now();
        let addrs = self.primary_addresses(domain).await;
        let timeout = self
            .settings
            .get()
            .callout_timeout
            .saturating_sub(started.elapsed());
        let address = key.to_string();
        let answer = self
            .callouts
            .ask(domain, &addrs, &self.hostname, &address, timeout)
            .await;
        tracing::debug!(%address, ?answer, elapsed = ?started.elapsed(), "recipient callout");
        {
            let mut failures = self
                .unreachable_since
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match answer {
                CalloutAnswer::Unreachable(_) => {
                    failures.insert(domain.to_string(), Instant::now())
                }
                _ => failures.remove(domain),
            };
        }
        match answer {
            CalloutAnswer::Accepted => {
                self.learn(key, Known::Good, "callout");
                (CacheState::Good, PrimaryState::Up)
            }
            CalloutAnswer::Refused(_) => {
                self.learn(key, Known::Bad, "callout");
                (CacheState::Bad, PrimaryState::Up)
            }
            CalloutAnswer::Deferred(_) => (CacheState::Unknown, PrimaryState::Deferring),
            CalloutAnswer::Unreachable(_) => (CacheState::Unknown, PrimaryState::Down),
        }
    }

    /// The primary's addresses, best first (static primary or MX hosts more preferred than us).
    async fn primary_addresses(&self, domain: &str) -> Vec<SocketAddr> {
        let domains = self.domains.get();
        let (Some(deliverer), Some(config)) =
            (&self.deliverer, domains.iter().find(|d| d.name == domain))
        else {
            return Vec::new();
        };
        let resolve = deliverer.resolve(config);
        let callout_timeout = self.settings.get().callout_timeout;
        match tokio::time::timeout(callout_timeout, resolve).await {
            Ok(Ok(hosts)) => hosts.iter().flat_map(|h| h.sockets()).collect(),
            _ => Vec::new(),
        }
    }

    /// Records an answer about an address (any source) and marks the cache for saving.
    pub fn learn(&self, key: &AddressKey, known: Known, source: &'static str) {
        let ttl = match known {
            Known::Good => self.settings.get().positive_ttl,
            Known::Bad => self.settings.get().negative_ttl,
        };
        let now_ms = self.now_ms();
        let entry = self.cache().insert(key.clone(), known, now_ms, ttl);
        self.dirty.store(true, Ordering::Relaxed);
        if source != "callout" {
            tracing::info!("recipient learnt: {key} is {} ({source})", known.label());
        }
        self.note_learning(key, known, now_ms, source);
        if let Some(shared) = &self.shared {
            let (key, source) = (key.clone(), source.to_string());
            shared.publish(CacheChange::Learned { key, entry, source });
        }
    }

    /// The latest learning about `key`'s domain, for the console.
    fn note_learning(&self, key: &AddressKey, known: Known, at_ms: u64, source: &'static str) {
        let event = LearningEvent {
            at_ms,
            address: key.to_string(),
            known: known.label(),
            source,
        };
        self.learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.domain.clone(), event);
    }

    /// Applies a change another node made (not published again).
    pub fn apply_shared(&self, change: CacheChange) {
        let now_ms = self.now_ms();
        match change {
            CacheChange::Learned { key, entry, source } => {
                let known = entry.known;
                let learned_ms = entry.learned_ms;
                self.cache().restore(key.clone(), entry, now_ms);
                self.note_learning(&key, known, learned_ms, shared_source(&source));
            }
            CacheChange::Forgotten { key } => {
                self.cache().remove(&key);
            }
        }
    }

    /// Replaces this node's copy with the shared table (at start, and whenever the node's listening
    /// connection was re-established, since changes may have been missed meanwhile). Without a
    /// shared cache, or when the table cannot be read, nothing changes.
    pub async fn resync_shared(&self) -> Result<usize, String> {
        let Some(shared) = &self.shared else {
            return Ok(0);
        };
        let now_ms = self.now_ms();
        let changes = shared.snapshot(now_ms).await?;
        let mut cache = self.cache();
        cache.clear();
        for change in changes {
            if let CacheChange::Learned { key, entry, .. } = change {
                cache.restore(key, entry, now_ms);
            }
        }
        Ok(cache.len())
    }

    /// Tells the other nodes that an administrator purged `key`.
    pub(super) fn publish_forgotten(&self, key: &AddressKey) {
        if let Some(shared) = &self.shared {
            shared.publish(CacheChange::Forgotten { key: key.clone() });
        }
    }

    /// The queue's hook: recipients the primary accepted are known-good, `5.1.1` refusals known-bad.
    /// Only domains in `verify` mode learn.
    pub fn learn_delivery<'a>(
        &self,
        envelope: &Envelope,
        answers: impl IntoIterator<Item = (usize, DeliveryAnswer<'a>)>,
    ) {
        for (index, answer) in answers {
            let Some(recipient) = envelope.recipients.get(index) else {
                continue;
            };
            let Route::Relay { domain } = &recipient.route else {
                continue;
            };
            if self.settings.get().policy(domain).mode != Mode::Verify {
                continue;
            }
            let known = match answer {
                DeliveryAnswer::Accepted => Known::Good,
                DeliveryAnswer::Refused { status: "5.1.1" } => Known::Bad,
                _ => continue,
            };
            if let Some(key) = AddressKey::parse(&recipient.address) {
                self.learn(&key, known, "delivery");
            }
        }
    }

    fn count(&self, domain: &str, decision: Decision) -> Decision {
        let result = match decision.verdict {
            Verdict::Accept => "accepted",
            Verdict::Refuse550 => "refused",
            Verdict::Tempfail450 | Verdict::TryPrimary451 | Verdict::Callout => "tempfailed",
            Verdict::OverQuota452 => "over_quota",
        };
        metrics::counter!(
            "backupmx_recipients_total",
            "domain" => domain.to_string(),
            "result" => result,
            "reason" => decision.reason.label(),
        )
        .increment(1);
        decision
    }

    /// Writes the cache if it changed since the last save.
    pub fn save_if_dirty(&self) -> Result<(), CacheError> {
        let Some(path) = &self.cache_path else {
            return Ok(());
        };
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let text = self.cache().to_text(self.now_ms());
        store::save_atomic(path, &text).inspect_err(|_| self.dirty.store(true, Ordering::Relaxed))
    }

    pub(super) fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Saves the cache every little while and once more at shutdown; closes callout connections.
    pub async fn run_persistence(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(SAVE_INTERVAL) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            if let Err(error) = self.save_if_dirty() {
                tracing::warn!(%error, "recipient cache not saved");
            }
        }
        if let Err(error) = self.save_if_dirty() {
            tracing::warn!(%error, "recipient cache not saved at shutdown");
        }
        self.callouts.close_all().await;
    }
}

fn accept(reason: Reason) -> Decision {
    Decision {
        verdict: Verdict::Accept,
        reason,
    }
}

#[cfg(test)]
mod tests;

/// The list file of every `list` domain of `config`.
fn lists_of(config: &Config) -> Lists {
    Lists::new(
        config
            .recipients
            .domains
            .iter()
            .filter_map(|(name, d)| d.list.clone().map(|path| (name.clone(), path))),
    )
}

/// The static label of a source another node named (unknown ones are shown as `shared`).
fn shared_source(source: &str) -> &'static str {
    match source {
        "callout" => "callout",
        "delivery" => "delivery",
        "import" => "import",
        _ => "shared",
    }
}

fn decision_over_quota() -> Decision {
    Decision {
        verdict: Verdict::OverQuota452,
        reason: Reason::OverQuota,
    }
}
