//! The scheduler's administrative actions (hold, release, delete, bounce) and what the console reads
//! about a message's schedule. Pure like the rest of the scheduler.

use std::time::SystemTime;

use super::{BounceOrder, Consequences, Scheduler, never};
use crate::clock::to_unix_ms;
use crate::envelope::{QueueId, RecipientStatus};
use crate::spool::Update;

/// Why an administrative action was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdminRefusal {
    #[error("no such message")]
    UnknownId,
    #[error("the message is being delivered right now; try again in a moment")]
    InFlight,
}

impl Scheduler {
    /// When the message is next attempted (None: not queued, or held).
    pub fn due_at(&self, id: QueueId) -> Option<SystemTime> {
        self.book.due_at(id).filter(|t| *t != never())
    }

    pub fn is_in_flight(&self, id: QueueId) -> bool {
        self.book.is_in_flight(id)
    }

    /// Holds (no delivery until released) or releases (due at once) a message. Returns the durable
    /// update to make; the hold keeps its place in its mailboxes' order.
    pub fn set_held(
        &mut self,
        id: QueueId,
        held: bool,
        now: SystemTime,
    ) -> Result<Update, AdminRefusal> {
        let entry = self.messages.get_mut(&id).ok_or(AdminRefusal::UnknownId)?;
        entry.message.held = held;
        self.book.set_due(id, if held { never() } else { now });
        Ok(Update::Hold { id, held })
    }

    /// Deletes a message without notice. Refused while a connection is sending it.
    pub fn delete(&mut self, id: QueueId) -> Result<Update, AdminRefusal> {
        if !self.messages.contains_key(&id) {
            return Err(AdminRefusal::UnknownId);
        }
        if self.book.is_in_flight(id) {
            return Err(AdminRefusal::InFlight);
        }
        self.book.remove(id);
        self.messages.remove(&id);
        Ok(Update::Remove { id })
    }

    /// Bounces every pending recipient now (5.0.0, "returned by the administrator"): the sender gets a
    /// DSN (unless `<>` or NOTIFY says no) and the message leaves the queue.
    pub fn bounce_now(
        &mut self,
        id: QueueId,
        reason: &str,
        now: SystemTime,
    ) -> Result<Consequences, AdminRefusal> {
        if self.book.is_in_flight(id) {
            return Err(AdminRefusal::InFlight);
        }
        let entry = self.messages.get_mut(&id).ok_or(AdminRefusal::UnknownId)?;
        let at_ms = to_unix_ms(now);
        let mut out = Consequences::default();
        let mut failed = Vec::new();
        for recipient in entry.message.envelope.recipients.iter_mut().enumerate() {
            let (index, r) = recipient;
            if r.status != RecipientStatus::Pending {
                continue;
            }
            let status = RecipientStatus::Failed {
                at_ms,
                reply: reason.to_string(),
            };
            r.status = status.clone();
            out.updates.push(Update::Recipient { id, index, status });
            failed.push((index, "5.0.0".to_string(), reason.to_string(), None));
        }
        if !failed.is_empty() {
            out.bounces.push(BounceOrder {
                id,
                delayed: false,
                recipients: failed,
            });
        }
        self.book.remove(id);
        self.messages.remove(&id);
        out.updates.push(Update::Remove { id });
        Ok(out)
    }
}
