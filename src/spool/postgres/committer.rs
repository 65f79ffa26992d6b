//! The group committer of the shared queue: one task, one connection. It takes every request waiting
//! in its channel and sends the new messages as one transaction (`cluster::commit::commit_batch`:
//! pipelined, about two round trips whatever the batch size) and the state changes as another. A
//! database error answers every request of the batch with `Unavailable` (451 4.3.0 for new mail) and
//! the next batch reconnects: nothing is acknowledged that is not committed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Client;
use tracing::warn;

use super::convert::new_message;
use super::updates::apply;
use crate::cluster::db;
use crate::spool::{SpoolError, SpoolStats, StoredMessage, Update};

const MAX_BATCH: usize = 1024;
/// A commit that takes longer than this is answered 451; it may still commit (the client then sends
/// the message again: a duplicate, never a loss).
const COMMIT_TIMEOUT: Duration = Duration::from_secs(20);

pub(super) enum Request {
    Commit {
        message: StoredMessage,
        /// The body when it stayed in memory (otherwise its chunks are already stored).
        inline: Option<Vec<u8>>,
        reply: oneshot::Sender<Result<StoredMessage, SpoolError>>,
    },
    Update {
        updates: Vec<Update>,
        reply: oneshot::Sender<Result<(), SpoolError>>,
    },
}

pub(super) struct Committer {
    pub url: String,
    pub password: Option<String>,
    pub node: String,
    pub client: Option<Client>,
    pub stats: Arc<SpoolStats>,
    pub rx: mpsc::Receiver<Request>,
}

pub(super) async fn run(mut c: Committer) {
    while let Some(first) = c.rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match c.rx.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let mut commits = Vec::new();
        let mut updates = Vec::new();
        for request in batch {
            match request {
                Request::Commit {
                    message,
                    inline,
                    reply,
                } => commits.push((message, inline, reply)),
                Request::Update { updates: u, reply } => updates.push((u, reply)),
            }
        }
        if !commits.is_empty() {
            commit_messages(&mut c, commits).await;
        }
        if !updates.is_empty() {
            record_updates(&mut c, updates).await;
        }
    }
}

/// The connection, reconnecting when the last one failed.
async fn client(c: &mut Committer) -> Result<&mut Client, SpoolError> {
    if c.client.as_ref().is_none_or(|client| client.is_closed()) {
        let connect = db::connect(&c.url, c.password.as_deref());
        let client = tokio::time::timeout(super::CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| SpoolError::Unavailable("connecting to PostgreSQL timed out".into()))?
            .map_err(|e| SpoolError::Unavailable(e.to_string()))?;
        c.client = Some(client);
    }
    c.client
        .as_mut()
        .ok_or_else(|| SpoolError::Unavailable("no connection".into()))
}

type PendingCommit = (
    StoredMessage,
    Option<Vec<u8>>,
    oneshot::Sender<Result<StoredMessage, SpoolError>>,
);

async fn commit_messages(c: &mut Committer, commits: Vec<PendingCommit>) {
    let rows: Vec<_> = commits
        .iter()
        .map(|(message, inline, _)| new_message(message, inline.clone()))
        .collect();
    let node = c.node.clone();
    let result = match client(c).await {
        Ok(client) => {
            let commit = crate::cluster::commit::commit_batch(client, &node, &rows);
            match tokio::time::timeout(COMMIT_TIMEOUT, commit).await {
                Ok(Ok(arrivals)) => Ok(arrivals),
                Ok(Err(e)) => Err(SpoolError::Unavailable(e.to_string())),
                Err(_) => Err(SpoolError::Unavailable("commit timed out".into())),
            }
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_arrivals) => {
            c.stats
                .commits
                .fetch_add(commits.len() as u64, Ordering::Relaxed);
            c.stats.batches.fetch_add(1, Ordering::Relaxed);
            for (message, _, reply) in commits {
                let _ = reply.send(Ok(message));
            }
        }
        Err(error) => {
            warn!(%error, messages = commits.len(), "shared queue commit failed");
            c.client = None;
            for (_, _, reply) in commits {
                let _ = reply.send(Err(SpoolError::Unavailable(error.to_string())));
            }
        }
    }
}

type PendingUpdate = (Vec<Update>, oneshot::Sender<Result<(), SpoolError>>);

async fn record_updates(c: &mut Committer, batch: Vec<PendingUpdate>) {
    let all: Vec<Update> = batch.iter().flat_map(|(u, _)| u.iter().cloned()).collect();
    let node = c.node.clone();
    let result = match client(c).await {
        Ok(client) => {
            match tokio::time::timeout(COMMIT_TIMEOUT, apply(client, &node, &all)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(SpoolError::Unavailable(e.to_string())),
                Err(_) => Err(SpoolError::Unavailable("update timed out".into())),
            }
        }
        Err(e) => Err(e),
    };
    if let Err(error) = &result {
        warn!(%error, "shared queue update failed");
        c.client = None;
    }
    for (_, reply) in batch {
        let _ = reply.send(match &result {
            Ok(()) => Ok(()),
            Err(e) => Err(SpoolError::Unavailable(e.to_string())),
        });
    }
}
