//! A batch's requests between writing and replying: new messages with their body's place, state
//! changes, and how a failed batch is answered.

use std::io;

use tokio::sync::oneshot;
use tracing::error;

use super::codec;
use super::record::{self, BodyLocation};
use super::{SpoolError, StoredMessage, Update};

pub(super) enum Staged {
    Commit {
        message: StoredMessage,
        location: BodyLocation,
        reply: oneshot::Sender<Result<StoredMessage, SpoolError>>,
    },
    Update {
        updates: Vec<Update>,
        reply: oneshot::Sender<Result<(), SpoolError>>,
    },
}

impl Staged {
    pub(super) fn encode_into(&self, buf: &mut Vec<u8>) {
        match self {
            Staged::Commit {
                message, location, ..
            } => {
                codec::frame(&record::encode_message(message, location), buf);
            }
            Staged::Update { updates, .. } => {
                for u in updates {
                    codec::frame(&record::encode_update(u), buf);
                }
            }
        }
    }
}

pub(super) fn fail_all(staged: Vec<Staged>, e: &io::Error) {
    error!(error = %e, "spool write failed; nothing in this batch was acknowledged");
    for s in staged {
        let err = || io_error(e);
        match s {
            Staged::Commit { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Staged::Update { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
        }
    }
}

/// Answers every new message of a batch with `e` and keeps the batch's state changes.
pub(super) fn refuse_commits(staged: Vec<Staged>, e: &io::Error) -> Vec<Staged> {
    error!(error = %e, "could not make new message bodies durable; this batch's new messages were refused");
    staged
        .into_iter()
        .filter_map(|s| match s {
            Staged::Commit { reply, .. } => {
                let _ = reply.send(Err(io_error(e)));
                None
            }
            update => Some(update),
        })
        .collect()
}

fn io_error(e: &io::Error) -> SpoolError {
    SpoolError::Io(io::Error::new(e.kind(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::QueueId;

    #[test]
    fn refusing_commits_keeps_the_state_changes() {
        let message = StoredMessage {
            id: QueueId(1),
            envelope: crate::spool::tests::envelope("bob@example.test"),
            attempts: Vec::new(),
            held: false,
            size: 1,
        };
        let (commit_tx, mut commit_rx) = oneshot::channel();
        let (update_tx, mut update_rx) = oneshot::channel();
        let staged = vec![
            Staged::Commit {
                message,
                location: BodyLocation::File { len: 1 },
                reply: commit_tx,
            },
            Staged::Update {
                updates: vec![Update::Remove { id: QueueId(7) }],
                reply: update_tx,
            },
        ];
        let kept = refuse_commits(staged, &io::Error::other("disk on fire"));
        assert!(matches!(kept.as_slice(), [Staged::Update { .. }]));
        assert!(matches!(commit_rx.try_recv(), Ok(Err(SpoolError::Io(_)))));
        assert!(update_rx.try_recv().is_err(), "the update is still pending");
    }
}
