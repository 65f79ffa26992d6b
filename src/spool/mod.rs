//! The spool: the only code that touches message files. Durable, group-committed storage of messages
//! (envelope + body) and of their state changes, and recovery of the whole queue at start.
//! See docs/spool-format.md for the on-disk format.

mod body;
mod codec;
#[cfg(test)]
mod damage_tests;
mod facade;
mod handle;
mod layout;
mod live;
pub mod postgres;
mod record;
mod recover;
mod replay;
mod reserve;
mod segments;
mod staged;
#[cfg(test)]
mod tests;
pub mod transfer;
mod writer;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;

pub use body::{BodyReader, BodyWriter, INLINE_LIMIT};
pub use facade::Spool;
pub use replay::{JournalCheck, JournalEnd, Replay, Skip, check_journal_bytes};

use crate::envelope::{Attempt, Envelope, QueueId, RecipientStatus};

/// Why the spool could not do what was asked. Every spool error is temporary for the SMTP client
/// (452 4.3.1; 451 4.3.0 when the shared queue's database is unavailable): nothing is acknowledged
/// that is not on disk or committed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The shared queue's database cannot be reached (or did not answer in time): 451 4.3.0.
    #[error("the shared queue's database is unavailable: {0}")]
    Unavailable(String),
    /// The shared queue cannot be used by this binary (schema, node name).
    #[error("{0}")]
    Schema(String),
    #[error("spool is closed")]
    Closed,
    #[error("unknown queue id {0}")]
    UnknownId(QueueId),
    #[error("spool directory {0} is in use by another backupmx process")]
    Locked(PathBuf),
    #[error("corrupt spool record in {file} at offset {offset}: {reason}")]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
}

/// A message as the spool knows it (recovered at start or just committed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: QueueId,
    pub envelope: Envelope,
    pub attempts: Vec<Attempt>,
    pub held: bool,
    /// Body size in bytes (Received header included).
    pub size: u64,
}

/// A durable change to a stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    Recipient {
        id: QueueId,
        index: usize,
        status: RecipientStatus,
    },
    Attempt {
        id: QueueId,
        attempt: Attempt,
    },
    Hold {
        id: QueueId,
        held: bool,
    },
    /// The message is finished (all recipients done, or deleted): its files may go.
    Remove {
        id: QueueId,
    },
}

/// Counters for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct SpoolStats {
    /// Messages made durable.
    pub commits: AtomicU64,
    /// Group commits (journal writes).
    pub batches: AtomicU64,
    /// fsync/fdatasync calls made by the committer.
    pub fsyncs: AtomicU64,
}
