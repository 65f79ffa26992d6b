//! The spool: the only code that touches message files. Durable, group-committed storage of messages
//! (envelope + body) and of their state changes, and recovery of the whole queue at start.
//! See docs/spool-format.md for the on-disk format.

use std::path::PathBuf;

use crate::envelope::{Attempt, Envelope, QueueId, RecipientStatus};

/// Why the spool could not do what was asked. Every spool error is temporary for the SMTP client
/// (452 4.3.1): nothing is acknowledged that is not on disk.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("spool is closed")]
    Closed,
    #[error("unknown queue id {0}")]
    UnknownId(QueueId),
    #[error("spool directory {0} is in use by another backupmx process")]
    Locked(PathBuf),
    #[error("corrupt spool record in {file} at offset {offset}: {reason}")]
    Corrupt { file: PathBuf, offset: u64, reason: String },
}

impl SpoolError {
    /// The SMTP reply the session gives when a commit fails.
    pub fn smtp_reply(&self) -> backupmx_smtp::Reply {
        backupmx_smtp::Reply::new(
            452,
            backupmx_smtp::EnhancedCode(4, 3, 1),
            "Insufficient system storage, try again later",
        )
    }
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
    Recipient { id: QueueId, index: usize, status: RecipientStatus },
    Attempt { id: QueueId, attempt: Attempt },
    Hold { id: QueueId, held: bool },
    /// The message is finished (all recipients done, or deleted): its files may go.
    Remove { id: QueueId },
}

/// Handle to the spool; cheap to clone, shared by every session and the queue.
#[derive(Clone)]
pub struct Spool {
    _private: (),
}

/// Receives one message body while DATA/BDAT runs: small bodies stay in memory, larger ones spill to a
/// private temporary file, so a 50 MB message never sits in RAM. Dropping it discards the body.
pub struct BodyWriter {
    _private: (),
}

/// Reads a stored body (the exact bytes the session gave, Received header included).
pub struct BodyReader {
    _private: (),
}

impl Spool {
    /// Opens (creating if needed) the spool at `dir`, locks it against a second process, recovers every
    /// live message and cleans up leftovers of a crash.
    pub fn open(dir: &std::path::Path) -> Result<(Spool, Vec<StoredMessage>), SpoolError> {
        let _ = dir;
        todo!()
    }

    /// Starts a new body; its queue id is allocated now (the Received header names it).
    pub fn body_writer(&self) -> BodyWriter {
        todo!()
    }

    /// Makes the message durable: returns only after body, envelope and directory entries are fsync'd.
    pub async fn commit(
        &self,
        envelope: Envelope,
        body: BodyWriter,
    ) -> Result<StoredMessage, SpoolError> {
        let _ = (envelope, body);
        todo!()
    }

    /// Applies state changes durably (returns after fsync).
    pub async fn update(&self, updates: Vec<Update>) -> Result<(), SpoolError> {
        let _ = updates;
        todo!()
    }

    /// Opens a stored body for reading.
    pub async fn open_body(&self, id: QueueId) -> Result<BodyReader, SpoolError> {
        let _ = id;
        todo!()
    }

    /// Copies a message into the local postmaster mailbox (fsync'd).
    pub async fn deliver_to_postmaster(&self, id: QueueId) -> Result<(), SpoolError> {
        let _ = id;
        todo!()
    }
}

impl BodyWriter {
    pub fn id(&self) -> QueueId {
        todo!()
    }
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub async fn write(&mut self, data: &[u8]) -> Result<(), SpoolError> {
        let _ = data;
        todo!()
    }
}

impl tokio::io::AsyncRead for BodyReader {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        _buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        todo!()
    }
}
