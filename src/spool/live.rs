//! The spool's in-memory picture of what is on disk: every live message with its body location, and
//! how many live messages each data segment still holds. Changed only after the change is durable.

use std::collections::HashMap;

use super::record::{BodyLocation, Record};
use super::{StoredMessage, Update};
use crate::envelope::QueueId;

/// At most this many attempts are kept per message (the newest); older ones only cost memory.
pub const MAX_ATTEMPTS_KEPT: usize = 100;

#[derive(Debug, Clone)]
pub struct LiveEntry {
    pub message: StoredMessage,
    pub body: BodyLocation,
}

/// What a removal freed on disk.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Freed {
    /// A data segment whose last live message went.
    pub segment: Option<u64>,
    /// A message with its own body file.
    pub body_file: Option<QueueId>,
}

#[derive(Debug, Default)]
pub struct Live {
    pub messages: HashMap<QueueId, LiveEntry>,
    pub segment_refs: HashMap<u64, usize>,
}

impl Live {
    /// Applies one record. Changes to unknown ids are ignored: the message was removed earlier.
    pub fn apply(&mut self, record: Record) -> Freed {
        match record {
            Record::Message { message, body } => {
                let id = message.id;
                let freed = self.remove(id);
                if let BodyLocation::Segment { segment, .. } = body {
                    *self.segment_refs.entry(segment).or_insert(0) += 1;
                }
                self.messages.insert(id, LiveEntry { message, body });
                // Re-adding the same message (a compacted journal replayed after the original) moves
                // its reference rather than freeing its body.
                Freed {
                    segment: freed.segment.filter(|s| !self.segment_refs.contains_key(s)),
                    body_file: None,
                }
            }
            Record::Change(Update::Remove { id }) => self.remove(id),
            Record::Change(update) => {
                self.change(update);
                Freed::default()
            }
        }
    }

    fn change(&mut self, update: Update) {
        match update {
            Update::Recipient { id, index, status } => {
                if let Some(r) = self
                    .messages
                    .get_mut(&id)
                    .and_then(|e| e.message.envelope.recipients.get_mut(index))
                {
                    r.status = status;
                }
            }
            Update::Attempt { id, attempt } => {
                if let Some(e) = self.messages.get_mut(&id) {
                    let attempts = &mut e.message.attempts;
                    attempts.push(attempt);
                    if attempts.len() > MAX_ATTEMPTS_KEPT {
                        // Keep the delay-warning marker: it says the sender was warned already.
                        let oldest = attempts
                            .iter()
                            .position(|a| a.result != crate::envelope::DELAY_WARNING_SENT)
                            .unwrap_or(0);
                        attempts.remove(oldest);
                    }
                }
            }
            Update::Hold { id, held } => {
                if let Some(e) = self.messages.get_mut(&id) {
                    e.message.held = held;
                }
            }
            Update::Remove { .. } => {}
        }
    }

    fn remove(&mut self, id: QueueId) -> Freed {
        let Some(entry) = self.messages.remove(&id) else {
            return Freed::default();
        };
        match entry.body {
            BodyLocation::File { .. } => Freed {
                segment: None,
                body_file: Some(id),
            },
            BodyLocation::Segment { segment, .. } => {
                let gone = match self.segment_refs.get_mut(&segment) {
                    Some(n) if *n > 1 => {
                        *n -= 1;
                        false
                    }
                    _ => true,
                };
                if gone {
                    self.segment_refs.remove(&segment);
                }
                Freed {
                    segment: gone.then_some(segment),
                    body_file: None,
                }
            }
        }
    }

    /// The journal records that recreate the live state (a compacted journal's content), oldest first.
    pub fn snapshot(&self) -> Vec<Record> {
        let mut ids: Vec<&QueueId> = self.messages.keys().collect();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| self.messages.get(id))
            .map(|e| Record::Message {
                message: e.message.clone(),
                body: e.body,
            })
            .collect()
    }
}
