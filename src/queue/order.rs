//! The order book: the pure core that decides which queued message a destination's next connection may
//! take, so that per recipient mailbox messages reach the primary in arrival order while up to
//! `max_parallel` connections per destination deliver in parallel.
//!
//! Model. A *job* is one message's pending recipients for one destination (a message whose recipients
//! go to two primaries has two jobs). Each destination keeps, per mailbox, the ordered set of jobs that
//! still have a pending recipient in that mailbox. A job is *ready* when it is not in flight and it is the
//! head (oldest) of every mailbox it still has pending recipients in. Only ready jobs are claimed, so a
//! message is handed to delivery only once every older message for each of its mailboxes has left that
//! mailbox (delivered or failed for good). A deferred recipient keeps its message at the head of the
//! mailbox, so later messages for that mailbox wait behind it, on retries and flushes alike.
//!
//! Partial claims: a job is claimed whole or not at all (all its pending mailboxes must be heads). This
//! is the simplest rule that is obviously correct and keeps one SMTP transaction per message; its cost is
//! that a message for A and B waits for an older message for A even when B is free.
//!
//! Cost. Ready jobs sit in per-destination sets: `waiting` ordered by (due time, id) and `due` ordered by
//! id. [`OrderBook::claim_next`] moves the jobs whose time has come from `waiting` to `due` (each job
//! moves once per readiness) and takes the oldest due job: O(log n) amortised per claim. Readiness is
//! recomputed only for the jobs whose mailbox heads changed.

mod book;
#[cfg(test)]
mod chain_tests;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::envelope::QueueId;
pub use book::{Claim, Outcome};
use book::{Destination, Mailbox};

/// The key of a recipient mailbox: the domain lower-cased, the local part kept as is (local parts may
/// be case-sensitive at the primary).
pub fn mailbox_key(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_ascii_lowercase()),
        None => address.to_owned(),
    }
}

/// Which message each destination's next connection may take. See the module docs for the rules.
#[derive(Debug, Default)]
pub struct OrderBook {
    destinations: HashMap<Arc<str>, Destination>,
    /// The destinations each message has a job in (names shared with `destinations`).
    jobs_of: HashMap<QueueId, JobsOf>,
}

/// The destinations of one message: almost always one, kept without a further allocation.
#[derive(Debug)]
enum JobsOf {
    One(Arc<str>),
    Many(Vec<Arc<str>>),
}

impl JobsOf {
    fn as_slice(&self) -> &[Arc<str>] {
        match self {
            JobsOf::One(d) => std::slice::from_ref(d),
            JobsOf::Many(ds) => ds,
        }
    }

    fn push(&mut self, destination: Arc<str>) {
        match self {
            JobsOf::One(d) => *self = JobsOf::Many(vec![d.clone(), destination]),
            JobsOf::Many(ds) => ds.push(destination),
        }
    }

    /// Drops `destination`; true when none is left.
    fn forget(&mut self, destination: &str) -> bool {
        match self {
            JobsOf::One(d) => &**d == destination,
            JobsOf::Many(ds) => {
                ds.retain(|d| &**d != destination);
                ds.is_empty()
            }
        }
    }
}

impl OrderBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a message's pending recipients for one destination, due at `due_at`. `recipients` are
    /// (envelope index, address) pairs. Returns false (and changes nothing) when the message already has
    /// a job for that destination or no recipient is given. Insert in arrival order, or insert every
    /// recovered message before claiming any: an older message inserted after a newer one for the same
    /// mailbox was claimed cannot undo that claim. Ranked by queue id (the tests' shorthand; the
    /// scheduler always names the rank).
    #[cfg(test)]
    pub fn insert<S: AsRef<str>>(
        &mut self,
        id: QueueId,
        destination: &str,
        recipients: impl IntoIterator<Item = (usize, S)>,
        due_at: SystemTime,
    ) -> bool {
        self.insert_ranked(id, id.0, destination, recipients, due_at)
    }

    /// [`OrderBook::insert`] with an explicit arrival `rank`: a mailbox's messages go in rank order
    /// (ties by id). One node ranks by queue id; a cluster by commit order in the database, which does
    /// not depend on the nodes' clocks. One book uses one kind of rank.
    pub fn insert_ranked<S: AsRef<str>>(
        &mut self,
        id: QueueId,
        rank: u64,
        destination: &str,
        recipients: impl IntoIterator<Item = (usize, S)>,
        due_at: SystemTime,
    ) -> bool {
        let name = self.destination_name(destination);
        let dest = self.destinations.entry(name.clone()).or_default();
        if dest.jobs.contains_key(&id) {
            return false;
        }
        let pending = recipients
            .into_iter()
            .map(|(index, address)| {
                let key = mailbox_key(address.as_ref());
                let mailbox: Mailbox = dest.shared_key(&key).unwrap_or_else(|| key.into());
                (mailbox, index as u32)
            })
            .collect::<Vec<_>>();
        if pending.is_empty() {
            self.drop_if_idle(destination);
            return false;
        }
        dest.insert(id, rank, pending, due_at);
        match self.jobs_of.get_mut(&id) {
            Some(jobs) => jobs.push(name),
            None => {
                self.jobs_of.insert(id, JobsOf::One(name));
            }
        }
        true
    }

    /// The shared name of `destination` (allocated once per destination).
    fn destination_name(&self, destination: &str) -> Arc<str> {
        self.destinations
            .get_key_value(destination)
            .map_or_else(|| destination.into(), |(k, _)| k.clone())
    }

    /// The oldest message for `destination` that is due at `now` and whose every pending mailbox has
    /// no older message pending, unless `max_parallel` jobs are already in flight there.
    pub fn claim_next(
        &mut self,
        destination: &str,
        now: SystemTime,
        max_parallel: usize,
    ) -> Option<Claim> {
        let dest = self.destinations.get_mut(destination)?;
        if dest.in_flight >= max_parallel {
            return None;
        }
        dest.claim(now)
    }

    /// For a connection still sending `prev`: the next message it may pipeline behind it, the oldest
    /// due one that is ready now or will be once `prev` is done with every mailbox. It rides on
    /// `prev`'s connection, so the `max_parallel` limit does not apply; it is counted in flight only
    /// once [`OrderBook::confirm`] accepts it.
    pub fn claim_after(
        &mut self,
        destination: &str,
        prev: QueueId,
        now: SystemTime,
    ) -> Option<Claim> {
        self.destinations
            .get_mut(destination)?
            .claim_after(prev, now)
    }

    /// After the predecessor's outcome is recorded: true when a job from
    /// [`OrderBook::claim_after`] may be sent (it is an ordinary claim from now on); false when it
    /// must not (the predecessor was deferred in one of its mailboxes) and it was given back.
    pub fn confirm(&mut self, destination: &str, id: QueueId) -> bool {
        self.destinations
            .get_mut(destination)
            .is_some_and(|dest| dest.confirm(id))
    }

    /// Gives a claimed job back untried (no outcome, due time unchanged).
    pub fn unclaim(&mut self, destination: &str, id: QueueId) {
        if let Some(dest) = self.destinations.get_mut(destination) {
            dest.unclaim(id);
        }
    }

    /// Ends a claimed attempt. Recipients reported `Done` leave their mailbox queues; the others (also
    /// those missing from `outcomes`) stay pending, due again at `next_due`. Returns true when the
    /// message has nothing left pending for this destination.
    pub fn release(
        &mut self,
        id: QueueId,
        destination: &str,
        outcomes: &[(usize, Outcome)],
        next_due: SystemTime,
    ) -> bool {
        let Some(dest) = self.destinations.get_mut(destination) else {
            return true;
        };
        let finished = dest.release(id, outcomes, next_due);
        if finished {
            self.forget(id, destination);
        }
        finished
    }

    /// Drops a message from every destination (delivered elsewhere, expired, deleted by an admin).
    pub fn remove(&mut self, id: QueueId) {
        let Some(jobs) = self.jobs_of.remove(&id) else {
            return;
        };
        for destination in jobs.as_slice() {
            if let Some(dest) = self.destinations.get_mut(destination) {
                dest.remove(id);
                self.drop_if_idle(destination);
            }
        }
    }

    /// Gives up every job of `destination` that no connection holds (another cluster node owns the
    /// destination now); returns their ids. Jobs in flight finish their attempt as usual.
    pub fn give_up(&mut self, destination: &str) -> Vec<QueueId> {
        let Some(dest) = self.destinations.get(destination) else {
            return Vec::new();
        };
        let ids: Vec<QueueId> = dest
            .jobs
            .iter()
            .filter(|(_, job)| !job.is_in_flight())
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            if let Some(dest) = self.destinations.get_mut(destination) {
                dest.remove(*id);
            }
            self.forget(*id, destination);
        }
        ids
    }

    /// Makes every job of `destination` due at `now` (the flush behind ETRN, the console and recovery).
    /// Order is still kept: blocked messages stay behind their elders.
    pub fn flush(&mut self, destination: &str, now: SystemTime) {
        if let Some(dest) = self.destinations.get_mut(destination) {
            dest.flush(now);
        }
    }

    pub fn flush_all(&mut self, now: SystemTime) {
        self.destinations
            .values_mut()
            .for_each(|dest| dest.flush(now));
    }

    /// Sets the due time of every job of message `id` (earlier for a flush of ids, later to hold it).
    pub fn set_due(&mut self, id: QueueId, at: SystemTime) {
        let destinations = self.jobs_of.get(&id).map_or(&[][..], JobsOf::as_slice);
        for destination in destinations {
            if let Some(dest) = self.destinations.get_mut(destination) {
                dest.set_due(id, at);
            }
        }
    }

    /// Jobs of `destination` currently claimed.
    pub fn in_flight(&self, destination: &str) -> usize {
        self.destinations
            .get(destination)
            .map_or(0, |d| d.in_flight)
    }

    /// The earliest due time among the ready jobs of `destination` (in the past when one can be claimed
    /// now); `None` when nothing there is ready. A run loop sleeps until then.
    pub fn next_due_at(&self, destination: &str) -> Option<SystemTime> {
        self.destinations
            .get(destination)
            .and_then(Destination::next_due_at)
    }

    /// Number of queued jobs for `destination` (in flight included).
    pub fn queued(&self, destination: &str) -> usize {
        self.destinations
            .get(destination)
            .map_or(0, |d| d.jobs.len())
    }

    /// The messages with a job for `destination` (in flight included).
    pub fn job_ids(&self, destination: &str) -> impl Iterator<Item = QueueId> + '_ {
        self.destinations
            .get(destination)
            .into_iter()
            .flat_map(|d| d.jobs.keys().copied())
    }

    /// When message `id` is next due (the earliest over its destinations); None when not queued.
    pub fn due_at(&self, id: QueueId) -> Option<SystemTime> {
        self.jobs_of
            .get(&id)?
            .as_slice()
            .iter()
            .filter_map(|d| self.destinations.get(d)?.jobs.get(&id).map(|j| j.due_at))
            .min()
    }

    /// True while a connection holds message `id`.
    pub fn is_in_flight(&self, id: QueueId) -> bool {
        let destinations = self.jobs_of.get(&id).map_or(&[][..], JobsOf::as_slice);
        destinations.iter().any(|d| {
            self.destinations
                .get(d)
                .and_then(|dest| dest.jobs.get(&id))
                .is_some_and(|j| j.is_in_flight())
        })
    }

    pub fn contains(&self, id: QueueId) -> bool {
        self.jobs_of.contains_key(&id)
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.jobs_of.is_empty()
    }

    /// Destinations that have queued jobs.
    #[cfg(test)]
    pub fn destinations(&self) -> impl Iterator<Item = &str> {
        self.destinations.keys().map(|d| &**d)
    }

    fn forget(&mut self, id: QueueId, destination: &str) {
        if self
            .jobs_of
            .get_mut(&id)
            .is_some_and(|jobs| jobs.forget(destination))
        {
            self.jobs_of.remove(&id);
        }
        self.drop_if_idle(destination);
    }

    fn drop_if_idle(&mut self, destination: &str) {
        if self
            .destinations
            .get(destination)
            .is_some_and(|d| d.jobs.is_empty())
        {
            self.destinations.remove(destination);
        }
    }
}
