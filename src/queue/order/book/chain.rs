//! Pipelining claims: the next message a connection may send behind the one it is still sending,
//! claimed before that one's outcome is known and confirmed (or given back) once it is.

use std::time::SystemTime;

use super::{Claim, Destination, Job, JobState, Place};
use crate::envelope::QueueId;

impl Destination {
    /// For a connection still sending `prev` (in flight): the oldest due job that is ready now or
    /// becomes ready once `prev` leaves its mailboxes, claimed as `Chained`.
    pub(in crate::queue::order) fn claim_after(
        &mut self,
        prev: QueueId,
        now: SystemTime,
    ) -> Option<Claim> {
        self.promote_due(now);
        let ready = self.due.first().copied();
        let successor = self.successor_of(prev, now);
        let place = match (ready, successor) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        if ready == Some(place) {
            self.due.remove(&place);
        }
        self.take(place.id, JobState::Chained)
    }

    /// The oldest due job that waits only for `prev`: second behind it in some mailbox, and in each
    /// of its mailboxes either the head or second behind `prev`.
    fn successor_of(&self, prev: QueueId, now: SystemTime) -> Option<Place> {
        let prev_job = self.jobs.get(&prev)?;
        prev_job
            .mailboxes()
            .filter_map(|mailbox| {
                let mut queue = self.mailboxes.get(mailbox)?.iter();
                (queue.next().map(|p| p.id) == Some(prev)).then(|| queue.next().copied())?
            })
            .filter(|place| {
                self.jobs.get(&place.id).is_some_and(|job| {
                    job.state == JobState::Blocked
                        && job.due_at <= now
                        && self.ready_after(place.id, job, prev)
                })
            })
            .min()
    }

    /// Whether `job` is ready once `prev` has left every mailbox.
    fn ready_after(&self, id: QueueId, job: &Job, prev: QueueId) -> bool {
        job.mailboxes().all(|mailbox| {
            let mut queue = match self.mailboxes.get(mailbox) {
                Some(queue) => queue.iter(),
                None => return false,
            };
            match queue.next() {
                Some(head) if head.id == id => true,
                Some(head) if head.id == prev => queue.next().map(|p| p.id) == Some(id),
                _ => false,
            }
        })
    }

    /// Turns a `Chained` job into an ordinary claim when it is ready now (its predecessor left its
    /// mailboxes); otherwise unclaims it and returns false. True for a job already `InFlight`.
    pub(in crate::queue::order) fn confirm(&mut self, id: QueueId) -> bool {
        let Some(job) = self.jobs.get(&id) else {
            return false;
        };
        match job.state {
            JobState::InFlight => true,
            JobState::Chained if self.is_ready(id, job) => {
                self.set_state(id, JobState::InFlight);
                self.in_flight += 1;
                true
            }
            JobState::Chained => {
                self.unclaim(id);
                false
            }
            _ => false,
        }
    }

    /// Gives a claimed job back untried: no outcome, due time unchanged.
    pub(in crate::queue::order) fn unclaim(&mut self, id: QueueId) {
        let Some(state) = self.jobs.get(&id).map(|job| job.state) else {
            return;
        };
        match state {
            JobState::InFlight => self.in_flight = self.in_flight.saturating_sub(1),
            JobState::Chained => {}
            _ => return,
        }
        self.set_state(id, JobState::Blocked);
        self.refresh(id);
    }
}
