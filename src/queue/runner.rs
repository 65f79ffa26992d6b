//! The queue's run loop: owns the scheduler behind a lock, starts delivery workers and recovery probes
//! when the scheduler says so, defers mail for destinations known to be down, and takes commands
//! (submit, flush) from sessions, ETRN and the admin layer.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::scheduler::Scheduler;
use super::{QueueCommand, worker};
use crate::clock::Clock;
use crate::config::Config;
use crate::delivery::Deliverer;
use crate::spool::{Spool, StoredMessage, Update};

/// The longest the loop sleeps without looking at the clock again.
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// How long shutdown waits for connections to finish the message they are sending.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// What workers, probes and the loop share.
pub struct QueueContext {
    pub config: Arc<Config>,
    pub spool: Spool,
    pub deliverer: Deliverer,
    pub clock: Arc<dyn Clock>,
    pub scheduler: Mutex<Scheduler>,
    /// Wakes the loop early (a worker connected, a probe saw the destination come back...).
    pub wake: Notify,
    pub shutdown: watch::Receiver<bool>,
    /// Learns known-good / known-bad recipients from delivery results (issue 7).
    pub recipients: Arc<crate::recipients::RecipientService>,
}

impl QueueContext {
    pub fn scheduler(&self) -> MutexGuard<'_, Scheduler> {
        self.scheduler.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// Runs until shutdown. `recovered` is what the spool found at start.
pub async fn run(
    ctx: Arc<QueueContext>,
    recovered: Vec<StoredMessage>,
    mut commands: mpsc::UnboundedReceiver<QueueCommand>,
) {
    // A crash between the last recipient's result and the removal leaves a finished message: remove it.
    let (pending, finished): (Vec<_>, Vec<_>) = recovered
        .into_iter()
        .partition(|m| m.envelope.pending().next().is_some());
    if !finished.is_empty() {
        let removals = finished
            .iter()
            .map(|m| Update::Remove { id: m.id })
            .collect();
        if let Err(e) = ctx.spool.update(removals).await {
            warn!(error = %e, "could not remove finished messages found at start");
        }
    }
    {
        let now = ctx.clock.now();
        let mut sched = ctx.scheduler();
        for domain in &ctx.config.domains {
            sched.pin(&domain.name);
        }
        for message in pending {
            sched.insert(message, now);
        }
        info!(messages = sched.len(), "queue loaded");
    }
    let mut tasks = JoinSet::new();
    let mut shutdown = ctx.shutdown.clone();
    loop {
        if ctx.shutting_down() {
            break;
        }
        let sleep = start_due_work(&ctx, &mut tasks);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = ctx.wake.notified() => {}
            _ = shutdown.changed() => {}
            command = commands.recv() => match command {
                Some(command) => handle_command(&ctx, command),
                None => break,
            },
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
}

fn handle_command(ctx: &QueueContext, command: QueueCommand) {
    let now = ctx.clock.now();
    match command {
        QueueCommand::Submit(message) => ctx.scheduler().insert(message, now),
        QueueCommand::Flush(scope) => {
            let n = ctx.scheduler().flush(&scope, now);
            info!(?scope, messages = n, "queue flushed");
        }
    }
}

/// Starts whatever is due; returns how long the loop may sleep.
fn start_due_work(ctx: &Arc<QueueContext>, tasks: &mut JoinSet<()>) -> Duration {
    let now = ctx.clock.now();
    let (workers, down, probes, next) = {
        let mut sched = ctx.scheduler();
        let workers = sched.wanted_workers(now);
        for dest in &workers {
            sched.worker_started(dest);
        }
        let down = sched.due_while_down(now);
        let probes = sched.take_due_probes(now);
        sched.prune_destinations();
        (workers, down, probes, sched.next_wakeup())
    };
    for dest in workers {
        tasks.spawn(worker::deliver(ctx.clone(), dest));
    }
    for dest in down {
        tasks.spawn(worker::defer_while_down(ctx.clone(), dest));
    }
    for dest in probes {
        tasks.spawn(worker::probe(ctx.clone(), dest));
    }
    next.and_then(|t| t.duration_since(now).ok())
        .unwrap_or(Duration::ZERO)
        .clamp(Duration::from_millis(50), MAX_SLEEP)
}
