//! [`Spool`]: the one spool interface the session, the queue and the daemon use, with two
//! implementations behind it: the local journal ([`LocalSpool`], the default) and the PostgreSQL
//! queue shared by a cluster's nodes ([`PgSpool`], issue 13). Callers never ask which is in use,
//! except the queue's cluster loop, which needs the shared queue's claims ([`Spool::shared`]).

use std::path::Path;
use std::sync::Arc;

use super::handle::LocalSpool;
use super::postgres::PgSpool;
use super::{BodyReader, BodyWriter, SpoolError, SpoolStats, StoredMessage, Update};
use crate::config::{ClusterConfig, PostgresConfig};
use crate::envelope::{Envelope, QueueId};

/// Handle to the spool; cheap to clone, shared by every session and the queue.
#[derive(Clone)]
pub struct Spool {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Local(LocalSpool),
    Shared(Arc<PgSpool>),
}

impl Spool {
    /// Opens (creating if needed) the local spool at `dir`, locks it against a second process, recovers
    /// every live message and cleans up leftovers of a crash.
    pub fn open(dir: &Path) -> Result<(Spool, Vec<StoredMessage>), SpoolError> {
        let (local, recovered) = LocalSpool::open(dir)?;
        Ok((
            Spool {
                backend: Backend::Local(local),
            },
            recovered,
        ))
    }

    /// Opens the shared queue: checks its schema and registers this node. Nothing is recovered here:
    /// a node loads mail only for the destinations it claims (the queue's cluster loop).
    pub async fn open_shared(
        dir: &Path,
        pg: &PostgresConfig,
        cluster: &ClusterConfig,
    ) -> Result<Spool, SpoolError> {
        Ok(Spool {
            backend: Backend::Shared(PgSpool::open(dir, pg, cluster).await?),
        })
    }

    /// The shared queue, when this node is part of a cluster.
    pub fn shared(&self) -> Option<&Arc<PgSpool>> {
        match &self.backend {
            Backend::Local(_) => None,
            Backend::Shared(pg) => Some(pg),
        }
    }

    /// Starts a new body; its queue id is allocated now (the Received header names it).
    pub fn body_writer(&self) -> BodyWriter {
        match &self.backend {
            Backend::Local(local) => local.body_writer(),
            Backend::Shared(pg) => pg.body_writer(),
        }
    }

    /// Makes the message durable: returns only once body and envelope are on stable storage (fsync'd,
    /// or committed in the shared database).
    pub async fn commit(
        &self,
        envelope: Envelope,
        body: BodyWriter,
    ) -> Result<StoredMessage, SpoolError> {
        match &self.backend {
            Backend::Local(local) => local.commit(envelope, body).await,
            Backend::Shared(pg) => pg.commit(envelope, body).await,
        }
    }

    /// Applies state changes durably.
    pub async fn update(&self, updates: Vec<Update>) -> Result<(), SpoolError> {
        match &self.backend {
            Backend::Local(local) => local.update(updates).await,
            Backend::Shared(pg) => pg.update(updates).await,
        }
    }

    /// Opens a stored body for reading.
    pub async fn open_body(&self, id: QueueId) -> Result<BodyReader, SpoolError> {
        match &self.backend {
            Backend::Local(local) => local.open_body(id).await,
            Backend::Shared(pg) => pg.open_body(id).await,
        }
    }

    /// Copies a message into the postmaster mailbox.
    pub async fn deliver_to_postmaster(&self, id: QueueId) -> Result<(), SpoolError> {
        match &self.backend {
            Backend::Local(local) => local.deliver_to_postmaster(id).await,
            Backend::Shared(pg) => pg.deliver_to_postmaster(id).await,
        }
    }

    /// The postmaster mailbox: (id, size in bytes) of each message, oldest first.
    pub async fn postmaster_list(&self) -> Result<Vec<(QueueId, u64)>, SpoolError> {
        match &self.backend {
            Backend::Local(local) => local.postmaster_list(),
            Backend::Shared(pg) => pg.postmaster_list().await,
        }
    }

    /// One message of the postmaster mailbox.
    pub async fn postmaster_read(&self, id: QueueId) -> Result<Vec<u8>, SpoolError> {
        match &self.backend {
            Backend::Local(local) => local.postmaster_read(id).await,
            Backend::Shared(pg) => pg.postmaster_read(id).await,
        }
    }

    /// Counters: commits, group commits, fsyncs.
    pub fn stats(&self) -> &SpoolStats {
        match &self.backend {
            Backend::Local(local) => local.stats(),
            Backend::Shared(pg) => pg.stats(),
        }
    }

    /// What recovery set aside at start (one line each), for the console.
    pub fn quarantined(&self) -> &[String] {
        match &self.backend {
            Backend::Local(local) => local.quarantined(),
            Backend::Shared(_) => &[],
        }
    }

    pub fn dir(&self) -> &Path {
        match &self.backend {
            Backend::Local(local) => local.dir(),
            Backend::Shared(pg) => pg.dir(),
        }
    }

    /// Stops the committer once the requests already sent are written. Later calls fail with Closed.
    pub fn close(&self) {
        match &self.backend {
            Backend::Local(local) => local.close(),
            Backend::Shared(pg) => pg.close(),
        }
    }
}
