//! What follows a delivery attempt: its results go to the scheduler at once (in memory), then DSNs are
//! queued and the state changes made durable, in batches, by a per-connection recorder.

use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::bounces;
use super::context::QueueContext;
use super::order::Claim;
use super::scheduler::{Consequences, RecipientResult};

/// At most this many attempts of one connection wait for their spool update.
const MAX_RECORDING: usize = 256;

/// Makes one connection's attempt results durable in the background, many per spool update: while
/// one update waits for its fsync the next results gather, so a fast primary costs one fsync per
/// batch of messages rather than one each.
pub(super) struct Recorder {
    tx: mpsc::Sender<(crate::spool::StoredMessage, Consequences)>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    pub(super) fn start(ctx: Arc<QueueContext>) -> Recorder {
        let (tx, mut rx) = mpsc::channel(MAX_RECORDING);
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                apply_batch(&ctx, batch).await;
            }
        });
        Recorder { tx, task }
    }

    pub(super) async fn record(
        &self,
        message: crate::spool::StoredMessage,
        consequences: Consequences,
    ) {
        // The recorder only stops when dropped; a failed send would mean it panicked, and then the
        // results are simply not durable (a restart retries: a duplicate, never a loss).
        let _ = self.tx.send((message, consequences)).await;
    }

    pub(super) async fn finish(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

/// Logged when delivery results cannot be written: the scheduler already has them, so nothing is
/// sent twice in this run, but a restart replays the older spool state.
const UNRECORDED: &str = "could not record delivery results on disk (the queue in memory has them; after a restart these messages may be delivered again)";

/// DSNs first (they need the originals' bodies, which removals delete), then every state change of
/// the batch in one spool update.
pub(super) async fn apply_batch(
    ctx: &QueueContext,
    batch: Vec<(crate::spool::StoredMessage, Consequences)>,
) {
    let mut updates = Vec::new();
    for (message, consequences) in batch {
        for order in &consequences.bounces {
            bounces::send_dsn(ctx, &message, order).await;
        }
        updates.extend(consequences.updates);
    }
    if let Err(e) = ctx.store().record(updates).await {
        warn!(error = %e, "{UNRECORDED}");
    }
}

/// The scheduler's side of an attempt's end (in memory, immediate).
pub(super) fn decide(
    ctx: &QueueContext,
    dest: &str,
    claim: &Claim,
    message: &crate::spool::StoredMessage,
    results: &[(usize, RecipientResult)],
    host: &str,
) -> Consequences {
    let summary = summarize(results);
    log_results(dest, message, results, host);
    ctx.learn_delivery(&message.envelope, results);
    ctx.finish_attempt(dest, claim, results, host, summary)
}

fn log_results(
    dest: &str,
    message: &crate::spool::StoredMessage,
    results: &[(usize, RecipientResult)],
    host: &str,
) {
    for (index, result) in results {
        let to = message
            .envelope
            .recipients
            .get(*index)
            .map_or("?", |r| r.address.as_str());
        let id = message.id;
        match result {
            RecipientResult::Delivered(reply) => {
                metrics::counter!("backupmx_delivered_total").increment(1);
                info!(%id, to, domain = dest, host, reply = reply.as_str(), "delivered")
            }
            RecipientResult::Deferred(reply) => {
                metrics::counter!("backupmx_deferred_total").increment(1);
                info!(%id, to, domain = dest, host, reply = reply.as_str(), "deferred")
            }
            RecipientResult::Failed { reply, .. } => {
                metrics::counter!("backupmx_bounced_total").increment(1);
                warn!(%id, to, domain = dest, host, reply = reply.as_str(), "failed permanently")
            }
        }
    }
}

fn summarize(results: &[(usize, RecipientResult)]) -> String {
    let mut texts: Vec<&str> = results
        .iter()
        .map(|(_, r)| match r {
            RecipientResult::Delivered(t) | RecipientResult::Deferred(t) => t.as_str(),
            RecipientResult::Failed { reply, .. } => reply.as_str(),
        })
        .collect();
    texts.dedup();
    texts.join(" | ")
}

/// DSNs first (they need the original body, which a removal deletes), then the state changes.
pub(super) async fn apply(
    ctx: &QueueContext,
    message: &crate::spool::StoredMessage,
    consequences: Consequences,
) {
    for order in &consequences.bounces {
        bounces::send_dsn(ctx, message, order).await;
    }
    if let Err(e) = ctx.store().record(consequences.updates).await {
        warn!(id = %message.id, error = %e, "{UNRECORDED}");
    }
}
