//! The owner of the queue's runtime: the live queue (scheduler), the spool surface, delivery, the
//! clock, and the wake-up and shutdown signals. Workers, the sender, outcomes, bounces, the run loop
//! and the admin API act on the scheduler only through the methods here, each one a short critical
//! section that never spans an `.await`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, watch};

use super::FlushScope;
use super::domains::DomainTable;
use super::order::Claim;
use super::scheduler::{AdminRefusal, Consequences, Health, RecipientResult, Scheduler};
use super::state::QueueState;
use super::store::QueueStore;
use crate::clock::{Clock, to_unix_ms};
use crate::config::{Config, DomainConfig};
use crate::delivery::Deliverer;
use crate::envelope::{Attempt, Envelope, QueueId};
use crate::live::Live;
use crate::recipients::{DeliveryAnswer, RecipientService};
use crate::spool::{Spool, StoredMessage, Update};

/// What the queue's runtime is built from (see `daemon::run`).
pub struct QueueParts {
    pub config: Arc<Config>,
    pub spool: Spool,
    pub deliverer: Deliverer,
    pub clock: Arc<dyn Clock>,
    /// The live queue, shared beforehand with recipient validation (it asks whether a primary is down).
    pub state: Arc<QueueState>,
    pub shutdown: watch::Receiver<bool>,
    /// Learns known-good / known-bad recipients from delivery results (issue 7).
    pub recipients: Arc<RecipientService>,
}

/// What workers, probes, the run loop and the admin API share.
pub struct QueueContext {
    config: Arc<Config>,
    /// The domains delivered for: configured, and removed by a reload but still draining.
    domains: Live<DomainTable>,
    store: QueueStore,
    deliverer: Deliverer,
    clock: Arc<dyn Clock>,
    state: Arc<QueueState>,
    /// Wakes the loop early (a worker connected, a probe saw the destination come back...).
    wake: Notify,
    /// A destination's health changed (up, down, misconfigured): the cluster loop shares it.
    health_changed: Notify,
    shutdown: watch::Receiver<bool>,
    recipients: Arc<RecipientService>,
    /// In a cluster: which destinations this node may still deliver (set by the cluster loop).
    fence: std::sync::OnceLock<super::cluster::Fence>,
    /// The spool's messages are filed and the configured domains pinned (the alerts wait for it).
    loaded: std::sync::atomic::AtomicBool,
}

/// What the run loop should start now, and when to look again.
pub(super) struct DueWork {
    pub workers: Vec<String>,
    pub down: Vec<String>,
    pub probes: Vec<String>,
    pub next: Option<SystemTime>,
}

impl QueueContext {
    pub fn new(parts: QueueParts) -> QueueContext {
        QueueContext {
            domains: Live::new(DomainTable::new(&parts.config)),
            config: parts.config,
            store: QueueStore::new(parts.spool),
            deliverer: parts.deliverer,
            clock: parts.clock,
            state: parts.state,
            wake: Notify::new(),
            health_changed: Notify::new(),
            shutdown: parts.shutdown,
            recipients: parts.recipients,
            fence: std::sync::OnceLock::new(),
            loaded: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(super) fn install_fence(&self, fence: super::cluster::Fence) {
        let _ = self.fence.set(fence);
    }

    /// False once this node must not deliver `dest` any more (a cluster lease it no longer trusts).
    /// Always true with the local spool.
    pub(super) fn may_deliver(&self, dest: &str) -> bool {
        self.fence.get().is_none_or(|fence| fence.may_deliver(dest))
    }

    pub(super) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Wakes the run loop to look at the scheduler again.
    pub(super) fn wake(&self) {
        self.wake.notify_one();
    }

    pub(super) async fn woken(&self) {
        self.wake.notified().await;
    }

    pub(super) fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub(super) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// Recipient validation, which learns from delivery results (and in a cluster from other nodes).
    pub(super) fn recipients(&self) -> &RecipientService {
        &self.recipients
    }

    pub(super) fn store(&self) -> &QueueStore {
        &self.store
    }

    pub(super) fn deliverer(&self) -> &Deliverer {
        &self.deliverer
    }

    /// This node's name in a cluster (`[cluster] node`; the host name by default).
    pub(super) fn node(&self) -> &str {
        &self.config.cluster.node
    }

    /// Our name, as DSNs report it.
    pub(super) fn hostname(&self) -> &str {
        &self.config.hostname
    }

    /// The configured domains, and those a reload removed that still drain.
    pub(super) fn domain_table(&self) -> Arc<DomainTable> {
        self.domains.get()
    }

    /// A reload put `config` in force and removed `removed` (their queues keep draining): new
    /// domains are shown (and filed) at once.
    pub fn reconfigure(&self, config: &Config, removed: &[DomainConfig]) {
        let table = self.domains.get().after_reload(config, removed);
        self.state.with(|sched| {
            for domain in &table.active {
                sched.pin(&domain.name);
            }
            // A draining domain keeps its lifetime: its mail expires as it would have.
            sched.set_lifetimes(super::state::lifetimes(
                table.active.iter().chain(&table.draining),
            ));
        });
        self.domains.set(Arc::new(table));
        self.wake();
    }

    /// The domain settings for a destination: the configured (or draining) domain, or a plain MX
    /// route (DSNs to senders).
    pub(super) fn domain_settings(&self, dest: &str) -> DomainConfig {
        self.domains
            .get()
            .find(dest)
            .cloned()
            .unwrap_or(DomainConfig {
                name: dest.to_string(),
                subdomains: false,
                primary: None,
                tls: Default::default(),
                limits: Default::default(),
            })
    }

    /// Tells recipient validation what the primary said about each recipient.
    pub(super) fn learn_delivery(&self, envelope: &Envelope, results: &[(usize, RecipientResult)]) {
        let answers = results.iter().map(|(index, result)| {
            let answer = match result {
                RecipientResult::Delivered(_) => DeliveryAnswer::Accepted,
                RecipientResult::Failed { status, .. } => DeliveryAnswer::Refused { status },
                RecipientResult::Deferred(_) => DeliveryAnswer::Deferred,
            };
            (*index, answer)
        });
        self.recipients.learn_delivery(envelope, answers);
    }

    /// Files what the spool recovered at start (configured domains are kept even while empty).
    /// Returns how many messages are queued.
    pub(super) fn load(&self, pending: Vec<StoredMessage>) -> usize {
        let now = self.now();
        let count = self.state.with(|sched| {
            for domain in &self.domains.get().active {
                sched.pin(&domain.name);
            }
            for message in pending {
                sched.insert(message, now);
            }
            sched.len()
        });
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
        count
    }

    /// [`QueueContext::load`] has run: the queue holds what the spool recovered.
    pub(super) fn is_loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Queues a message just committed to the spool. In a cluster the owner of its destinations loads
    /// it from the shared queue instead (the commit's notification wakes every node's cluster loop).
    pub(super) fn submit(&self, message: StoredMessage) {
        if self.store.shared().is_some() {
            return;
        }
        let now = self.now();
        self.state.with(|sched| sched.insert(message, now));
    }

    /// Queues mail of a destination this node owns (loaded from the shared queue), in the order of
    /// its `arrival` (commit order).
    pub(super) fn adopt(&self, message: StoredMessage, arrival: u64, destination: &str) -> bool {
        let now = self.now();
        self.state
            .with(|sched| sched.adopt(message, arrival, destination, now))
    }

    /// Gives up every destination with queued jobs that this node may no longer deliver (jobs that
    /// were in flight when their lease ended come back here once their attempt is over).
    pub(super) fn release_unowned(&self) {
        let unowned: Vec<String> = self.state.read(|sched| {
            sched
                .destinations()
                .map(|(name, _)| name.clone())
                .filter(|name| !self.may_deliver(name))
                .collect()
        });
        for destination in unowned {
            self.release_destination(&destination);
        }
    }

    /// Gives up a destination another node now owns (or whose lease this node can no longer trust).
    pub(super) fn release_destination(&self, destination: &str) -> usize {
        let not_mine = crate::spool::postgres::not_mine();
        self.state
            .with(|sched| sched.release_destination(destination, &not_mine))
    }

    /// Makes the matching messages due now; returns how many.
    pub(super) fn flush(&self, scope: &FlushScope) -> usize {
        let now = self.now();
        self.state.with(|sched| sched.flush(scope, now))
    }

    /// Destinations that want a connection (counted as started), a deferral or a probe at `now`.
    pub(super) fn take_due_work(&self, now: SystemTime) -> DueWork {
        self.state.with(|sched| {
            let workers = sched.wanted_workers(now);
            for dest in &workers {
                sched.worker_started(dest);
            }
            let down = sched.due_while_down(now);
            let probes = sched.take_due_probes(now);
            sched.prune_destinations();
            DueWork {
                workers,
                down,
                probes,
                next: sched.next_wakeup(),
            }
        })
    }

    pub(super) fn worker_started(&self, dest: &str) {
        self.state.with(|sched| sched.worker_started(dest));
    }

    pub(super) fn worker_stopped(&self, dest: &str) {
        self.state.with(|sched| sched.worker_stopped(dest));
    }

    /// The destination answered; true when it was down (its queue is now due at once).
    pub(super) fn mark_up(&self, dest: &str) -> bool {
        let now = self.now();
        self.change_health(dest, |sched| sched.mark_up(dest, now))
    }

    pub(super) fn mark_unreachable(&self, dest: &str, error: String) {
        let now = self.now();
        self.change_health(dest, |sched| sched.mark_unreachable(dest, error, now));
    }

    pub(super) fn mark_misconfigured(&self, dest: &str, reason: String) {
        let now = self.now();
        self.change_health(dest, |sched| sched.mark_misconfigured(dest, reason, now));
    }

    /// Applies a health change and tells the cluster loop when the destination's state changed
    /// (not on every failed probe of a destination already down).
    fn change_health<R>(&self, dest: &str, change: impl FnOnce(&mut Scheduler) -> R) -> R {
        let label = |sched: &Scheduler| sched.destination(dest).map(|d| d.health.label());
        let (result, changed) = self.state.with(|sched| {
            let before = label(sched);
            let result = change(sched);
            (result, label(sched) != before)
        });
        if changed {
            self.health_changed.notify_one();
        }
        result
    }

    /// Resolves once a destination's health changed since the last call (a stored permit).
    pub(super) async fn health_changed(&self) {
        self.health_changed.notified().await;
    }

    /// The health of the destinations in `names` this node holds, by name.
    pub(super) fn health_of(&self, names: &[String]) -> Vec<(String, Health)> {
        self.state.read(|sched| {
            names
                .iter()
                .filter_map(|n| Some((n.clone(), sched.destination(n)?.health.clone())))
                .collect()
        })
    }

    /// Another node saw a primary answer again: probe every unreachable destination now.
    pub(super) fn probe_unreachable_now(&self) -> usize {
        let now = self.now();
        let count = self.state.with(|sched| sched.probe_unreachable_now(now));
        if count > 0 {
            self.wake();
        }
        count
    }

    pub(super) fn probe_done(&self, dest: &str) {
        self.state.with(|sched| sched.probe_done(dest));
    }

    /// The reply due mail gets while `dest` is down; `None` when it is not down.
    pub(super) fn down_reply(&self, dest: &str) -> Option<String> {
        self.state
            .read(|sched| match sched.destination(dest).map(|d| &d.health) {
                Some(Health::Unreachable { error, .. }) => {
                    Some(format!("451 4.4.1 destination unreachable: {error}"))
                }
                Some(Health::Misconfigured { reason, .. }) => {
                    Some(format!("451 4.4.4 destination misconfigured: {reason}"))
                }
                _ => None,
            })
    }

    /// The next message a connection to `dest` may send (behind `prev` when pipelining), with a
    /// copy of its state.
    pub(super) fn claim(
        &self,
        dest: &str,
        prev: Option<QueueId>,
    ) -> Option<(Claim, StoredMessage)> {
        if !self.may_deliver(dest) {
            return None;
        }
        let now = self.now();
        self.state.with(|sched| {
            let claim = match prev {
                Some(prev) => sched.claim_after(dest, prev, now)?,
                None => sched.claim(dest, now)?,
            };
            match sched.message(claim.id).cloned() {
                Some(message) => Some((claim, message)),
                None => {
                    sched.unclaim(dest, claim.id);
                    None
                }
            }
        })
    }

    /// True when a message claimed behind another may now be sent (see `Scheduler::confirm_chained`).
    pub(super) fn confirm_chained(&self, dest: &str, id: QueueId) -> bool {
        self.state.with(|sched| sched.confirm_chained(dest, id))
    }

    /// Gives a claimed message back untried.
    pub(super) fn unclaim(&self, dest: &str, id: QueueId) {
        self.state.with(|sched| sched.unclaim(dest, id));
    }

    /// The scheduler's side of an attempt's end (in memory, immediate), recorded as an attempt on
    /// `host` now, with `summary` as its result.
    pub(super) fn finish_attempt(
        &self,
        dest: &str,
        claim: &Claim,
        results: &[(usize, RecipientResult)],
        host: &str,
        summary: String,
    ) -> Consequences {
        let now = self.now();
        let attempt = Attempt {
            at_ms: to_unix_ms(now),
            host: host.to_string(),
            result: summary,
        };
        self.state
            .with(|sched| sched.finish(dest, claim, results, attempt, now))
    }

    /// Ends an attempt for every due message of `dest` with `reply`, without connecting (the
    /// destination is down or refuses us). Returns what must be made durable.
    pub(super) fn defer_all_due(
        &self,
        dest: &str,
        reply: &str,
    ) -> Vec<(StoredMessage, Consequences)> {
        if !self.may_deliver(dest) {
            return Vec::new();
        }
        let now = self.now();
        let at_ms = to_unix_ms(now);
        let mut finished = Vec::new();
        self.state.with(|sched| {
            while let Some(claim) = sched.claim_for_deferral(dest, now) {
                let Some(message) = sched.message(claim.id).cloned() else {
                    continue;
                };
                let results: Vec<_> = claim
                    .recipients
                    .iter()
                    .map(|i| (*i, RecipientResult::Deferred(reply.to_string())))
                    .collect();
                let attempt = Attempt {
                    at_ms,
                    host: "(not connected)".into(),
                    result: reply.to_string(),
                };
                metrics::counter!("backupmx_deferred_total").increment(results.len() as u64);
                let consequences = sched.finish(dest, &claim, &results, attempt, now);
                finished.push((message, consequences));
            }
        });
        finished
    }

    /// How long a message may stay queued before it bounces.
    pub(super) fn max_lifetime(&self) -> Duration {
        self.state.read(|sched| sched.policy().max_lifetime)
    }

    /// Reads the scheduler for a view (the admin API's lists and summaries).
    pub(super) fn view<R>(&self, look: impl FnOnce(&Scheduler) -> R) -> R {
        self.state.read(look)
    }

    pub(super) fn set_held(&self, id: QueueId, held: bool) -> Result<Update, AdminRefusal> {
        let now = self.now();
        self.state.with(|sched| sched.set_held(id, held, now))
    }

    pub(super) fn delete(&self, id: QueueId) -> Result<Update, AdminRefusal> {
        self.state.with(|sched| sched.delete(id))
    }

    /// Fails every pending recipient of `id` now with `reply`; the message and what must follow.
    pub(super) fn bounce_now(
        &self,
        id: QueueId,
        reply: &str,
    ) -> Result<(StoredMessage, Consequences), AdminRefusal> {
        let now = self.now();
        self.state.with(|sched| {
            let message = sched.message(id).cloned().ok_or(AdminRefusal::UnknownId)?;
            let consequences = sched.bounce_now(id, reply, now)?;
            Ok((message, consequences))
        })
    }
}
