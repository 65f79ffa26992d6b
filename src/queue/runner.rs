//! The queue's run loop: loads what the spool recovered, starts delivery workers and recovery probes
//! when the scheduler says so, and defers mail for destinations known to be down. Sessions, ETRN and
//! the admin layer change the scheduler directly and wake the loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tracing::{info, warn};

use super::context::QueueContext;
use super::worker;
use crate::spool::{StoredMessage, Update};

/// The longest the loop sleeps without looking at the clock again.
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// How long shutdown waits for connections to finish the message they are sending.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Runs until shutdown. `recovered` is what the spool found at start.
pub async fn run(ctx: Arc<QueueContext>, recovered: Vec<StoredMessage>) {
    // A crash between the last recipient's result and the removal leaves a finished message: remove it.
    let (pending, finished): (Vec<_>, Vec<_>) = recovered
        .into_iter()
        .partition(|m| m.envelope.pending().next().is_some());
    if !finished.is_empty() {
        let removals = finished
            .iter()
            .map(|m| Update::Remove { id: m.id })
            .collect();
        if let Err(e) = ctx.store().record(removals).await {
            warn!(error = %e, "could not remove finished messages found at start");
        }
    }
    let messages = ctx.load(pending);
    info!(messages, "queue loaded");
    let cluster = ctx
        .store()
        .shared()
        .map(|shared| tokio::spawn(super::cluster::run(ctx.clone(), shared.clone())));
    let mut tasks = JoinSet::new();
    let mut shutdown = ctx.shutdown_signal();
    loop {
        if ctx.shutting_down() {
            break;
        }
        let sleep = start_due_work(&ctx, &mut tasks);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = ctx.woken() => {}
            _ = shutdown.changed() => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    info!(
        running = tasks.len(),
        "queue stopping; letting connections finish their message"
    );
    if tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        warn!("delivery connections still busy after the grace time; aborting them");
        tasks.abort_all();
    }
    // Every result is recorded: hand this node's destinations over at once instead of after `lease`.
    if let (Some(task), Some(shared)) = (cluster, ctx.store().shared()) {
        task.abort();
        match shared.release().await {
            Ok(n) => info!(destinations = n, "cluster claims released"),
            Err(e) => {
                warn!(error = %e, "could not release cluster claims; they expire on their own")
            }
        }
    }
}

/// Starts whatever is due; returns how long the loop may sleep.
fn start_due_work(ctx: &Arc<QueueContext>, tasks: &mut JoinSet<()>) -> Duration {
    let now = ctx.now();
    let due = ctx.take_due_work(now);
    for dest in due.workers {
        tasks.spawn(worker::deliver(ctx.clone(), dest));
    }
    for dest in due.down {
        tasks.spawn(worker::defer_while_down(ctx.clone(), dest));
    }
    for dest in due.probes {
        tasks.spawn(worker::probe(ctx.clone(), dest));
    }
    due.next
        .and_then(|t| t.duration_since(now).ok())
        .unwrap_or(Duration::ZERO)
        .clamp(Duration::from_millis(50), MAX_SLEEP)
}
