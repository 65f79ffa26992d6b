//! The spool as the queue sees it: the few calls the queue makes on stored mail (record state
//! changes, read a body, queue a DSN, the postmaster mailbox). This is the seam where a second spool
//! implementation (PostgreSQL, issue 13) plugs in: everything the queue needs from storage is here.

use crate::envelope::{Envelope, QueueId};
use crate::spool::{BodyReader, BodyWriter, Spool, SpoolError, StoredMessage, Update};

/// The queue's narrow handle on the spool. Cheap to clone.
#[derive(Clone)]
pub(super) struct QueueStore {
    spool: Spool,
}

impl QueueStore {
    pub(super) fn new(spool: Spool) -> QueueStore {
        QueueStore { spool }
    }

    /// Makes state changes durable (attempts, recipient states, holds, removals) in one group commit.
    pub(super) async fn record(&self, updates: Vec<Update>) -> Result<(), SpoolError> {
        self.spool.update(updates).await
    }

    pub(super) async fn open_body(&self, id: QueueId) -> Result<BodyReader, SpoolError> {
        self.spool.open_body(id).await
    }

    /// A writer for a new message the queue itself creates (a DSN).
    pub(super) fn body_writer(&self) -> BodyWriter {
        self.spool.body_writer()
    }

    pub(super) async fn commit(
        &self,
        envelope: Envelope,
        body: BodyWriter,
    ) -> Result<StoredMessage, SpoolError> {
        self.spool.commit(envelope, body).await
    }

    /// Copies a message into the local postmaster mailbox.
    pub(super) async fn keep_for_postmaster(&self, id: QueueId) -> Result<(), SpoolError> {
        self.spool.deliver_to_postmaster(id).await
    }

    pub(super) async fn postmaster_list(&self) -> Result<Vec<(QueueId, u64)>, SpoolError> {
        self.spool.postmaster_list().await
    }

    pub(super) async fn postmaster_read(&self, id: QueueId) -> Result<Vec<u8>, SpoolError> {
        self.spool.postmaster_read(id).await
    }

    /// The shared queue when this node is part of a cluster (its claims are the cluster loop's).
    pub(super) fn shared(&self) -> Option<&std::sync::Arc<crate::spool::postgres::PgSpool>> {
        self.spool.shared()
    }

    pub(super) fn quarantined(&self) -> Vec<String> {
        self.spool.quarantined().to_vec()
    }
}
