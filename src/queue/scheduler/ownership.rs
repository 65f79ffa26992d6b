//! Destinations this node gains or loses in a cluster (issue 13): a message's recipients of a
//! destination another node owns are kept in this node's copy as not pending ("not mine"), so the
//! scheduler's usual rules never deliver, report or bounce them here.

use std::time::SystemTime;

use super::Scheduler;
use crate::envelope::RecipientStatus;
use crate::spool::StoredMessage;

impl Scheduler {
    /// Queues `message` for `destination`, which this node now owns: a message not yet here is
    /// inserted as loaded; one already here (for another destination this node owns) gets the
    /// recipients of `destination` back as pending. `arrival` is its commit order in the shared
    /// queue: a mailbox's messages go in that order, whatever the nodes' clocks said when their ids
    /// were made. Returns true when something was added.
    pub fn adopt(
        &mut self,
        message: StoredMessage,
        arrival: u64,
        destination: &str,
        now: SystemTime,
    ) -> bool {
        let id = message.id;
        let Some(entry) = self.messages.get_mut(&id) else {
            let pending = message.envelope.pending().next().is_some();
            if pending {
                self.insert_ranked(message, arrival, now);
            }
            return pending;
        };
        let mut rcpts = Vec::new();
        for (index, loaded) in message.envelope.recipients.iter().enumerate() {
            let here = entry.message.envelope.recipients.get_mut(index);
            if let Some(here) = here
                && loaded.route.destination() == destination
                && loaded.status == RecipientStatus::Pending
                && here.status != RecipientStatus::Pending
            {
                here.status = RecipientStatus::Pending;
                rcpts.push((index, here.address.clone()));
            }
        }
        if rcpts.is_empty() {
            return false;
        }
        let due = self.due_time(&message, now);
        self.book
            .insert_ranked(id, arrival, destination, rcpts, due);
        true
    }

    /// This node no longer owns `destination`: its queued jobs are dropped (those in flight finish
    /// their attempt; the shared queue refuses their results), its recipients become `not_mine`, and
    /// messages with nothing left here are forgotten. Returns how many messages were given up.
    pub fn release_destination(&mut self, destination: &str, not_mine: &RecipientStatus) -> usize {
        let ids = self.book.give_up(destination);
        for id in &ids {
            let Some(entry) = self.messages.get_mut(id) else {
                continue;
            };
            for r in &mut entry.message.envelope.recipients {
                if r.route.destination() == destination && r.status == RecipientStatus::Pending {
                    r.status = not_mine.clone();
                }
            }
            if !self.book.contains(*id) {
                self.messages.remove(id);
            }
        }
        ids.len()
    }
}
