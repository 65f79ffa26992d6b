//! The scheduler: the pure core of the queue. It knows every queued message, each destination's
//! health, and decides what to attempt, when, and what a finished attempt means (delivered, retry at,
//! bounce, expire). No I/O and no clock: every instant is an argument; the run loop does the rest.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::FlushScope;
use super::order::{Claim, OrderBook};
use super::retry::{Decision, RetryPolicy};
use crate::clock::from_unix_ms;
use crate::envelope::QueueId;
use crate::spool::{StoredMessage, Update};

/// The destination key of recipients kept in the local postmaster mailbox (not a domain name).
pub const POSTMASTER: &str = crate::envelope::POSTMASTER_DESTINATION;
pub use crate::envelope::DELAY_WARNING_SENT;
pub use admin::AdminRefusal;

/// How one recipient's attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientResult {
    Delivered(String),
    /// Temporary failure: retry later.
    Deferred(String),
    /// Permanent failure: bounce now. `status` is the enhanced code (e.g. `5.1.1`).
    Failed {
        reply: String,
        status: String,
    },
}

/// What a destination looked like at its last contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Not tried since start.
    Unknown,
    Up,
    /// Could not be reached (refused, timeout, DNS failure, 421 at greeting): probed every
    /// `probe_interval`, flushed the moment it answers.
    Unreachable {
        since_ms: u64,
        error: String,
    },
    /// The MX records make delivery impossible (we are the best MX, no MX, ...): mail waits, never
    /// bounces for it, until an admin fixes DNS.
    Misconfigured {
        since_ms: u64,
        reason: String,
    },
}

impl Health {
    /// The label the API, the dashboard and the cluster's shared health use.
    pub fn label(&self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Unreachable { .. } => "down",
            Health::Misconfigured { .. } => "misconfigured",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DestinationState {
    pub health: Health,
    /// Delivery connections running.
    pub workers: usize,
    pub next_probe: Option<SystemTime>,
    pub probing: bool,
}

impl DestinationState {
    fn new() -> DestinationState {
        DestinationState {
            health: Health::Unknown,
            workers: 0,
            next_probe: None,
            probing: false,
        }
    }
}

/// A message that failed (or is delayed) for some recipients and whose sender must be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceOrder {
    pub id: QueueId,
    pub delayed: bool,
    /// (recipient index, status code, diagnostic, remote host)
    pub recipients: Vec<(usize, String, String, Option<String>)>,
}

/// What the run loop must make durable and do after an attempt.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Consequences {
    pub updates: Vec<Update>,
    pub bounces: Vec<BounceOrder>,
}

#[derive(Debug)]
struct Entry {
    message: StoredMessage,
    warned: bool,
}

pub struct Scheduler {
    book: OrderBook,
    messages: HashMap<QueueId, Entry>,
    destinations: HashMap<String, DestinationState>,
    policy: RetryPolicy,
    max_parallel: usize,
    probe_interval: Duration,
    /// Destinations kept while empty (see [`Scheduler::pin`]).
    pinned: std::collections::HashSet<String>,
    /// Per-destination `max_lifetime` overrides (`[[domain]] max_lifetime`).
    lifetimes: HashMap<String, Duration>,
}

fn is_down(health: &Health) -> bool {
    matches!(
        health,
        Health::Unreachable { .. } | Health::Misconfigured { .. }
    )
}

/// True when `dest` is down, has mail due at `now` and no connection or deferral is running for it.
fn deferral_due(book: &OrderBook, dest: &str, d: &DestinationState, now: SystemTime) -> bool {
    is_down(&d.health) && d.workers == 0 && book.next_due_at(dest).is_some_and(|t| t <= now)
}

/// A held message's due time: far enough never to come.
fn never() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 40)
}

impl Scheduler {
    pub fn new(policy: RetryPolicy, max_parallel: usize, probe_interval: Duration) -> Scheduler {
        Scheduler {
            book: OrderBook::new(),
            messages: HashMap::new(),
            destinations: HashMap::new(),
            policy,
            max_parallel: max_parallel.max(1),
            pinned: Default::default(),
            probe_interval,
            lifetimes: HashMap::new(),
        }
    }

    /// Queues a message (just received, or recovered at start: insert those oldest first), ranked by
    /// its queue id.
    pub fn insert(&mut self, message: StoredMessage, now: SystemTime) {
        let rank = message.id.0;
        self.insert_ranked(message, rank, now);
    }

    /// Queues a message at arrival `rank` (see [`OrderBook::insert_ranked`]).
    pub fn insert_ranked(&mut self, mut message: StoredMessage, rank: u64, now: SystemTime) {
        let id = message.id;
        if self.messages.contains_key(&id) {
            return;
        }
        compact::shrink(&mut message);
        let due = self.due_time(&message, now);
        let mut by_dest: HashMap<String, Vec<(usize, String)>> = HashMap::new();
        for (index, r) in message.envelope.pending() {
            let dest = r.route.destination().to_string();
            by_dest
                .entry(dest)
                .or_default()
                .push((index, r.address.clone()));
        }
        let mut dests: Vec<_> = by_dest.into_iter().collect();
        dests.sort();
        let last_failure = message
            .attempts
            .iter()
            .rev()
            .find(|a| a.result != DELAY_WARNING_SENT)
            .map(|a| (a.at_ms, a.result.clone()));
        for (dest, rcpts) in dests {
            let d = self
                .destinations
                .entry(dest.clone())
                .or_insert_with(DestinationState::new);
            // Mail that was waiting before a restart: its destination is presumed down and probed at
            // once, so it drains the moment the primary answers instead of at its next retry time.
            if let (Health::Unknown, Some((at_ms, error))) = (&d.health, &last_failure)
                && dest != POSTMASTER
            {
                d.health = Health::Unreachable {
                    since_ms: *at_ms,
                    error: error.clone(),
                };
                d.next_probe = Some(now);
            }
            self.book.insert_ranked(id, rank, &dest, rcpts, due);
        }
        let warned = self.already_warned(&message);
        self.messages.insert(id, Entry { message, warned });
    }

    /// Whether a (recovered) message's sender was already warned of the delay. The spool keeps only
    /// the newest attempts, so after days of retries the warning's own entry may be gone: a kept
    /// history that starts at or after the warning time counts as warned too (the first deferral at
    /// or after that time sent the warning), so a restart never warns a second time.
    fn already_warned(&self, message: &StoredMessage) -> bool {
        if message
            .attempts
            .iter()
            .any(|a| a.result == DELAY_WARNING_SENT)
        {
            return true;
        }
        let received = from_unix_ms(message.envelope.received_at_ms);
        let first = message.attempts.first().map(|a| from_unix_ms(a.at_ms));
        self.policy
            .delay_warning_at(received)
            .zip(first)
            .is_some_and(|(warn_at, first)| first >= warn_at)
    }

    /// When a (recovered) message is next due: at once if never tried, else by its retry schedule.
    fn due_time(&self, message: &StoredMessage, now: SystemTime) -> SystemTime {
        if message.held {
            return never();
        }
        let tries = message
            .attempts
            .iter()
            .filter(|a| a.result != DELAY_WARNING_SENT)
            .count();
        let received = from_unix_ms(message.envelope.received_at_ms);
        let last = message
            .attempts
            .last()
            .map_or(received, |a| from_unix_ms(a.at_ms));
        match self.policy.next_attempt_at(received, tries, last) {
            Decision::RetryAt(t) => t,
            Decision::Expire => now,
        }
    }

    /// The domains whose mail has its own `max_lifetime` (replaces the previous set).
    pub fn set_lifetimes(&mut self, lifetimes: HashMap<String, Duration>) {
        self.lifetimes = lifetimes;
    }

    /// What waits for `dest`: messages with recipients pending there, and their bytes. Costs one
    /// look-up per message of that destination (for quotas, bounded by the quota itself).
    pub fn usage(&self, dest: &str) -> (u64, u64) {
        let mut messages = 0;
        let mut bytes = 0;
        for id in self.book.job_ids(dest) {
            if let Some(entry) = self.messages.get(&id) {
                messages += 1;
                bytes += entry.message.size;
            }
        }
        (messages, bytes)
    }

    pub fn message(&self, id: QueueId) -> Option<&StoredMessage> {
        self.messages.get(&id).map(|e| &e.message)
    }

    pub fn messages(&self) -> impl Iterator<Item = &StoredMessage> {
        self.messages.values().map(|e| &e.message)
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn destination(&self, dest: &str) -> Option<&DestinationState> {
        self.destinations.get(dest)
    }

    pub fn destinations(&self) -> impl Iterator<Item = (&String, &DestinationState)> {
        self.destinations.iter()
    }

    /// Takes the next message a connection to `dest` may send now, if any (order rules apply).
    pub fn claim(&mut self, dest: &str, now: SystemTime) -> Option<Claim> {
        self.book.claim_next(dest, now, self.max_parallel)
    }

    /// The next message a connection still sending `prev` may pipeline behind it (see
    /// [`OrderBook::claim_after`]); [`Scheduler::confirm_chained`] decides once `prev` is finished.
    pub fn claim_after(&mut self, dest: &str, prev: QueueId, now: SystemTime) -> Option<Claim> {
        self.book.claim_after(dest, prev, now)
    }

    /// True when a message from [`Scheduler::claim_after`] may now be sent; false when it was given
    /// back because its predecessor stays ahead of it (deferred).
    pub fn confirm_chained(&mut self, dest: &str, id: QueueId) -> bool {
        self.book.confirm(dest, id)
    }

    /// Gives a claimed message back untried: no attempt is recorded.
    pub fn unclaim(&mut self, dest: &str, id: QueueId) {
        self.book.unclaim(dest, id);
    }

    /// Takes a due message regardless of the connection limit (to defer it while the destination is
    /// unreachable or misconfigured, without connecting).
    pub fn claim_for_deferral(&mut self, dest: &str, now: SystemTime) -> Option<Claim> {
        self.book.claim_next(dest, now, usize::MAX)
    }

    /// Makes the matching messages due now (order still applies). Returns how many were flushed.
    pub fn flush(&mut self, scope: &FlushScope, now: SystemTime) -> usize {
        match scope {
            FlushScope::All => {
                self.book.flush_all(now);
                self.keep_held_waiting();
                self.probe_now(now, |_, _| true);
                self.messages.len()
            }
            FlushScope::Domain(domain) => {
                self.book.flush(domain, now);
                self.keep_held_waiting();
                self.probe_now(now, |d, _| d == domain);
                self.book.queued(domain)
            }
            FlushScope::Ids(ids) => {
                let mut n = 0;
                for id in ids {
                    if self.messages.get(id).is_some_and(|e| !e.message.held) {
                        self.book.set_due(*id, now);
                        n += 1;
                    }
                }
                n
            }
        }
    }

    /// The book's flushes make every job due, held ones included: put those back out of reach.
    fn keep_held_waiting(&mut self) {
        for (id, entry) in &self.messages {
            if entry.message.held {
                self.book.set_due(*id, never());
            }
        }
    }

    /// Brings the next probe of the picked down destinations forward to `now` (an admin flush, or
    /// another node seeing a primary answer); returns how many were moved earlier.
    fn probe_now(
        &mut self,
        now: SystemTime,
        pick: impl Fn(&str, &DestinationState) -> bool,
    ) -> usize {
        let mut moved = 0;
        for (dest, d) in self.destinations.iter_mut() {
            if pick(dest, d) && d.next_probe.is_some() {
                moved += usize::from(d.next_probe.is_some_and(|t| t > now));
                d.next_probe = Some(now);
            }
        }
        moved
    }

    /// The earliest instant something needs doing (a due message or a probe). A down destination
    /// being probed is left out: nothing is started for it until the probe ends (which wakes the
    /// run loop), and its past due times would make the loop spin meanwhile.
    pub fn next_wakeup(&self) -> Option<SystemTime> {
        let waiting = |d: &DestinationState| !(d.probing && is_down(&d.health));
        let due = self
            .destinations
            .iter()
            .filter(|(_, d)| waiting(d))
            .filter_map(|(dest, _)| self.book.next_due_at(dest));
        let probes = self
            .destinations
            .values()
            .filter(|d| !d.probing)
            .filter_map(|d| d.next_probe);
        due.chain(probes).min()
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod health_tests;

mod admin;

mod destinations;

mod compact;

mod finish;
mod ownership;
