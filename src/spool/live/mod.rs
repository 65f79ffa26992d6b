//! The spool's in-memory picture of what is on disk: every live message with its body location, and
//! how many live messages each data segment still holds. Changed only after the change is durable.
//! Messages are kept packed (see `live/packed.rs`): the queue holds the working copy.

use std::collections::HashMap;

use super::Update;
use super::record::{BodyLocation, Record};
use crate::envelope::QueueId;

mod packed;
pub use packed::PackedMessage;

#[derive(Debug)]
pub struct LiveEntry {
    /// `message.to_message()` gives the message as a `StoredMessage`.
    pub message: PackedMessage,
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
                let message = PackedMessage::pack(&message, &body);
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
        let id = match &update {
            Update::Recipient { id, .. } | Update::Attempt { id, .. } | Update::Hold { id, .. } => {
                *id
            }
            Update::Remove { .. } => return,
        };
        if let Some(e) = self.messages.get_mut(&id) {
            e.message.apply(&update, &e.body);
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
                message: e.message.to_message(),
                body: e.body,
            })
            .collect()
    }
}
