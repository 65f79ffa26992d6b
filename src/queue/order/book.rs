//! One destination's share of the order book: its mailbox queues of jobs and the sets of ready jobs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use crate::envelope::QueueId;

mod chain;

/// A mailbox key, shared by every job of that mailbox (100,000 queued messages to one mailbox hold
/// one copy of its name, not 100,000).
pub(super) type Mailbox = Arc<str>;

/// How one recipient's attempt ended, as far as ordering is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered, or failed for good (bounced): the recipient leaves its mailbox queue.
    Done,
    /// Temporarily failed: the message stays at the head of that mailbox, later ones keep waiting.
    Deferred,
}

/// A job handed to one connection: the message and the recipient indexes (into the envelope) to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub id: QueueId,
    pub recipients: Vec<usize>,
}

/// A job's place in the queues: its arrival rank first (commit order in a cluster, the queue id on
/// one node), the id only breaking ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Place {
    rank: u64,
    pub(super) id: QueueId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobState {
    /// Some mailbox has an older message ahead of this one.
    Blocked,
    /// Head of all its mailboxes; in `waiting` until its due time.
    Waiting,
    /// Head of all its mailboxes and due; in `due`.
    Due,
    /// Claimed by a connection.
    InFlight,
    /// Claimed by a connection still sending an older message of the same mailbox, to be pipelined
    /// behind it; not counted in `in_flight` until [`Destination::confirm`].
    Chained,
}

#[derive(Debug)]
pub(super) struct Job {
    /// Pending (mailbox, recipient index) pairs, sorted. One small allocation for the common message
    /// with one recipient, instead of a map of sets (about 500 bytes less per queued message).
    pending: Vec<(Mailbox, u32)>,
    pub(super) due_at: SystemTime,
    state: JobState,
    rank: u64,
}

impl Job {
    fn place(&self, id: QueueId) -> Place {
        Place {
            rank: self.rank,
            id,
        }
    }

    pub(super) fn is_in_flight(&self) -> bool {
        matches!(self.state, JobState::InFlight | JobState::Chained)
    }

    /// The distinct mailboxes with a pending recipient (the pairs are sorted by mailbox).
    fn mailboxes(&self) -> impl Iterator<Item = &Mailbox> {
        let mut last: Option<&Mailbox> = None;
        self.pending.iter().filter_map(move |(mailbox, _)| {
            let new = last != Some(mailbox);
            last = Some(mailbox);
            new.then_some(mailbox)
        })
    }

    /// Drops the recipient `index`; returns its mailbox when no other pending recipient is in it.
    fn finish_recipient(&mut self, index: usize) -> Option<Mailbox> {
        let at = self
            .pending
            .iter()
            .position(|(_, i)| *i as usize == index)?;
        let (mailbox, _) = self.pending.remove(at);
        (!self.pending.iter().any(|(m, _)| *m == mailbox)).then_some(mailbox)
    }
}

/// One destination's share of the book.
#[derive(Debug, Default)]
pub(super) struct Destination {
    pub(super) jobs: BTreeMap<QueueId, Job>,
    /// Per mailbox, the jobs with a pending recipient there, oldest first.
    mailboxes: HashMap<Mailbox, BTreeSet<Place>>,
    waiting: BTreeSet<(SystemTime, Place)>,
    due: BTreeSet<Place>,
    pub(super) in_flight: usize,
}

impl Destination {
    fn is_ready(&self, id: QueueId, job: &Job) -> bool {
        job.mailboxes().all(|mailbox| {
            self.mailboxes
                .get(mailbox)
                .and_then(|queue| queue.first())
                .is_some_and(|head| head.id == id)
        })
    }

    /// Takes a job out of the ready sets (its state is left for the caller to set).
    fn unlist(&mut self, id: QueueId) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        let place = job.place(id);
        match job.state {
            JobState::Waiting => {
                self.waiting.remove(&(job.due_at, place));
            }
            JobState::Due => {
                self.due.remove(&place);
            }
            JobState::Blocked | JobState::InFlight | JobState::Chained => {}
        }
    }

    /// Recomputes whether a job not in flight is ready and files it accordingly.
    fn refresh(&mut self, id: QueueId) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        if job.is_in_flight() {
            return;
        }
        let ready = self.is_ready(id, job);
        match (ready, job.state) {
            (true, JobState::Blocked) => {
                self.waiting.insert((job.due_at, job.place(id)));
                self.set_state(id, JobState::Waiting);
            }
            (false, JobState::Waiting | JobState::Due) => {
                self.unlist(id);
                self.set_state(id, JobState::Blocked);
            }
            _ => {}
        }
    }

    fn set_state(&mut self, id: QueueId, state: JobState) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.state = state;
        }
    }

    fn head_of(&self, mailbox: &str) -> Option<QueueId> {
        self.mailboxes
            .get(mailbox)
            .and_then(|q| q.first().map(|p| p.id))
    }

    /// The shared key of `mailbox` when a job of this destination already uses it.
    pub(super) fn shared_key(&self, mailbox: &str) -> Option<Mailbox> {
        self.mailboxes
            .get_key_value(mailbox)
            .map(|(k, _)| k.clone())
    }

    /// Files a job at arrival `rank`; `pending` holds (mailbox, recipient index) pairs, not empty.
    pub(super) fn insert(
        &mut self,
        id: QueueId,
        rank: u64,
        mut pending: Vec<(Mailbox, u32)>,
        due_at: SystemTime,
    ) {
        pending.sort_unstable();
        pending.dedup();
        pending.shrink_to_fit();
        let job = Job {
            pending,
            due_at,
            state: JobState::Blocked,
            rank,
        };
        let place = job.place(id);
        let mut displaced = Vec::new();
        for mailbox in job.mailboxes() {
            let queue = self.mailboxes.entry(mailbox.clone()).or_default();
            if let Some(head) = queue.first().copied().filter(|head| *head > place) {
                // Only happens when mail is inserted out of arrival order (e.g. during recovery).
                displaced.push(head.id);
            }
            queue.insert(place);
        }
        self.jobs.insert(id, job);
        self.refresh(id);
        displaced.into_iter().for_each(|head| self.refresh(head));
    }

    /// Removes a job from a mailbox queue and returns the mailbox's new head, if any.
    fn leave_mailbox(&mut self, place: Place, mailbox: &str) -> Option<QueueId> {
        let queue = self.mailboxes.get_mut(mailbox)?;
        queue.remove(&place);
        if queue.is_empty() {
            self.mailboxes.remove(mailbox);
            return None;
        }
        self.head_of(mailbox)
    }

    /// Moves the waiting jobs whose time has come to `due`.
    fn promote_due(&mut self, now: SystemTime) {
        while let Some(&(at, place)) = self.waiting.first() {
            if at > now {
                break;
            }
            self.waiting.pop_first();
            self.due.insert(place);
            self.set_state(place.id, JobState::Due);
        }
    }

    pub(super) fn claim(&mut self, now: SystemTime) -> Option<Claim> {
        self.promote_due(now);
        let id = self.due.pop_first()?.id;
        let claim = self.take(id, JobState::InFlight)?;
        self.in_flight += 1;
        Some(claim)
    }

    /// Marks a job claimed (`InFlight` or `Chained`) and lists the recipients to send.
    fn take(&mut self, id: QueueId, state: JobState) -> Option<Claim> {
        let job = self.jobs.get_mut(&id)?;
        job.state = state;
        let mut recipients = job
            .pending
            .iter()
            .map(|(_, index)| *index as usize)
            .collect::<Vec<_>>();
        recipients.sort_unstable();
        recipients.dedup();
        Some(Claim { id, recipients })
    }

    /// Ends an attempt; returns true when the job has no pending recipient left (and is gone).
    pub(super) fn release(
        &mut self,
        id: QueueId,
        outcomes: &[(usize, Outcome)],
        next_due: SystemTime,
    ) -> bool {
        let Some(job) = self.jobs.get_mut(&id) else {
            return true;
        };
        let place = job.place(id);
        let emptied = outcomes
            .iter()
            .filter(|(_, o)| *o == Outcome::Done)
            .filter_map(|(index, _)| job.finish_recipient(*index))
            .collect::<Vec<_>>();
        let finished = job.pending.is_empty();
        self.unlist(id);
        if self
            .jobs
            .get(&id)
            .is_some_and(|job| job.state == JobState::InFlight)
        {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        if let Some(job) = self.jobs.get_mut(&id) {
            job.due_at = next_due;
            job.state = JobState::Blocked;
        }
        if finished {
            self.jobs.remove(&id);
        }
        let heads = emptied
            .iter()
            .filter_map(|m| self.leave_mailbox(place, m))
            .collect::<Vec<_>>();
        self.refresh(id);
        heads.into_iter().for_each(|head| self.refresh(head));
        finished
    }

    pub(super) fn remove(&mut self, id: QueueId) {
        self.unlist(id);
        let Some(job) = self.jobs.remove(&id) else {
            return;
        };
        if job.state == JobState::InFlight {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let place = job.place(id);
        let heads = job
            .mailboxes()
            .filter_map(|m| self.leave_mailbox(place, m))
            .collect::<Vec<_>>();
        heads.into_iter().for_each(|head| self.refresh(head));
    }

    /// Moves a job's due time; a ready job is refiled under its new time.
    pub(super) fn set_due(&mut self, id: QueueId, at: SystemTime) {
        let Some(state) = self.jobs.get(&id).map(|job| job.state) else {
            return;
        };
        if matches!(state, JobState::Waiting | JobState::Due) {
            self.unlist(id);
            self.set_state(id, JobState::Blocked);
        }
        if let Some(job) = self.jobs.get_mut(&id) {
            job.due_at = at;
        }
        self.refresh(id);
    }

    pub(super) fn flush(&mut self, now: SystemTime) {
        let late = self
            .jobs
            .iter()
            .filter(|(_, job)| job.due_at > now && !job.is_in_flight())
            .map(|(id, _)| *id)
            .collect::<Vec<_>>();
        late.into_iter().for_each(|id| self.set_due(id, now));
    }

    pub(super) fn next_due_at(&self) -> Option<SystemTime> {
        let due_now = self
            .due
            .first()
            .and_then(|place| self.jobs.get(&place.id))
            .map(|job| job.due_at);
        let waiting = self.waiting.first().map(|(at, _)| *at);
        due_now.into_iter().chain(waiting).min()
    }
}
