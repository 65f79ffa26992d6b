//! The cluster loop (issue 13): a node's side of sharing one queue. Every `lease / 5` it sends its
//! heartbeat, which renews its destination leases, and takes free destinations up to its fair share;
//! whenever any node commits mail (a notification) or at least every second, it loads the new mail of
//! the destinations it owns into its scheduler, oldest first. A destination it loses (taken over, or
//! its lease past the node's own deadline because renewals fail) is dropped from the scheduler at
//! once: this node delivers nothing of it any more. The deadlines are watched by their own timer
//! (`fence.rs`), so a database that stops answering can never keep a node delivering. The decisions
//! are the pure `cluster::lease`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::context::QueueContext;
use crate::cluster::events::Event;
use crate::cluster::lease::{Leases, takeover_wait, to_acquire};
use crate::spool::postgres::{Arrivals, PgSpool};

mod admin;
mod fence;
mod health;

pub(super) use fence::Fence;

/// Messages loaded per query: a destination with more is loaded over several pages.
const PAGE: i64 = 1000;
/// A load that takes longer is abandoned (and tried again next round).
const LOAD_TIMEOUT: Duration = Duration::from_secs(5);
/// New mail is looked for at least this often (a notification can be lost with its connection).
const POLL: Duration = Duration::from_secs(1);
/// Loads follow each other at least this far apart: under a stream of commits (a notification each)
/// one load takes everything new instead of one load per commit.
const LOAD_SPACING: Duration = Duration::from_millis(100);

/// Listening for notifications is (re)established within this, or tried again next round.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(2);

struct Node {
    ctx: Arc<QueueContext>,
    shared: Arc<PgSpool>,
    leases: Arc<Mutex<Leases>>,
    /// Owned destinations and the highest arrival loaded for each.
    loaded: HashMap<String, u64>,
    next_heartbeat: Instant,
    /// The health of owned destinations as last stored in the database.
    health: health::SharedHealth,
}

/// Runs until aborted by the run loop (after its last connection finished, so renewals go on while
/// connections drain at shutdown).
pub(super) async fn run(ctx: Arc<QueueContext>, shared: Arc<PgSpool>) {
    let leases = Arc::new(Mutex::new(Leases::new(shared.lease())));
    let fence = Fence::new(leases.clone());
    ctx.install_fence(fence.clone());
    let watchdog = tokio::spawn(fence.clone().watch(ctx.clone()));
    let mut node = Node {
        leases,
        ctx,
        shared,
        loaded: HashMap::new(),
        next_heartbeat: Instant::now(),
        health: health::SharedHealth::default(),
    };
    let _stop_watchdog = AbortOnDrop(watchdog);
    let mut arrivals: Option<Arrivals> = None;
    // Whether new mail was announced since the last load, and when that load ran.
    let mut announced = true;
    let mut last_load = Instant::now() - LOAD_SPACING;
    loop {
        if arrivals.is_none() && !node.ctx.shutting_down() {
            let listen = tokio::time::timeout(LISTEN_TIMEOUT, node.shared.arrivals());
            arrivals = listen.await.ok().and_then(Result::ok);
            if arrivals.is_some() {
                // Changes made while this node was not listening were missed: take a fresh copy.
                tokio::spawn(resync_recipients(node.ctx.clone()));
            }
        }
        if Instant::now() >= node.next_heartbeat {
            if node.heartbeat().await {
                // Newly claimed destinations are loaded at once (a take-over waits for nothing).
                last_load = Instant::now() - POLL;
            }
            // Also retries a write of the destinations' health that failed.
            node.share_health().await;
        }
        node.forget_lost(&fence);
        let load_at = last_load + if announced { LOAD_SPACING } else { POLL };
        if !node.ctx.shutting_down() && Instant::now() >= load_at {
            node.load_new_mail().await;
            last_load = Instant::now();
            announced = false;
        }
        let next_load = last_load + if announced { LOAD_SPACING } else { POLL };
        let wait = node
            .next_heartbeat
            .min(next_load)
            .saturating_duration_since(Instant::now());
        let ctx = node.ctx.clone();
        let woken = match arrivals.as_mut() {
            Some(listening) => tokio::select! {
                _ = tokio::time::sleep(wait) => Woken::Timer,
                _ = ctx.health_changed() => Woken::HealthChanged,
                event = listening.next() => Woken::Event(event),
            },
            None => tokio::select! {
                _ = tokio::time::sleep(wait) => Woken::Timer,
                _ = ctx.health_changed() => Woken::HealthChanged,
            },
        };
        match woken {
            Woken::Timer => {}
            // A probe or a connection saw a destination change state: the other nodes hear it now.
            Woken::HealthChanged => node.share_health().await,
            Woken::Event(Some(Event::Admin(action))) => admin::apply(&node.ctx, action).await,
            Woken::Event(Some(Event::Arrival)) => announced = true,
            Woken::Event(Some(Event::Recipients { node: from, change })) => {
                if from != node.shared.node() {
                    node.ctx.recipients().apply_shared(change);
                }
            }
            Woken::Event(Some(Event::Health(notice))) => {
                health::heard(&node.ctx, &notice, node.shared.node())
            }
            Woken::Event(None) => arrivals = None,
        }
    }
}

/// What ended the cluster loop's wait.
enum Woken {
    Timer,
    HealthChanged,
    Event(Option<Event>),
}

/// Stops the fence's watchdog with the loop (the run loop aborts the loop at shutdown).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Node {
    fn leases(&self) -> std::sync::MutexGuard<'_, Leases> {
        self.leases.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Renews this node's leases and claims free destinations within its share; true when it claimed
    /// one.
    async fn heartbeat(&mut self) -> bool {
        // A database that does not answer (a cut network) must not stall the loop: the node's own
        // deadlines are checked between heartbeats whatever happens to this one.
        let renew_interval = self.leases().renew_interval();
        self.next_heartbeat = Instant::now() + renew_interval;
        let answer = tokio::time::timeout(renew_interval, self.shared.heartbeat());
        let round = match answer.await {
            Ok(Ok(round)) => round,
            Ok(Err(error)) => {
                warn!(%error, "cluster heartbeat failed; claims end at their deadline");
                return false;
            }
            Err(_) => {
                warn!("cluster heartbeat timed out; claims end at their deadline");
                return false;
            }
        };
        if !round.still_registered {
            warn!(node = %self.shared.node(), "another process runs under this node name");
        }
        let lost = self.leases().renewed(round.sent_at, &round.held);
        self.give_up(lost.destinations, "taken over by another node");
        if self.ctx.shutting_down() {
            return false;
        }
        // A dead node's destinations are taken the moment its leases expire, not up to one
        // renewal interval later.
        if let Some(wait) = takeover_wait(self.shared.node(), &round.candidates) {
            self.next_heartbeat = self.next_heartbeat.min(round.sent_at + wait);
        }
        let wanted = to_acquire(self.shared.node(), &round.candidates, round.live_nodes);
        let wanted: Vec<String> = wanted
            .into_iter()
            .filter(|d| !self.loaded.contains_key(d))
            .collect();
        if wanted.is_empty() {
            return false;
        }
        let answer = tokio::time::timeout(renew_interval, self.shared.acquire(&wanted));
        match answer.await.unwrap_or_else(|_| {
            Err(crate::spool::SpoolError::Unavailable(
                "claiming timed out".into(),
            ))
        }) {
            Ok((sent_at, granted)) => {
                let claimed = !granted.is_empty();
                for (destination, epoch) in granted {
                    info!(%destination, epoch, "claimed destination");
                    self.leases().acquired(&destination, epoch, sent_at);
                    self.loaded.insert(destination, 0);
                }
                claimed
            }
            Err(error) => {
                warn!(%error, "claiming destinations failed");
                false
            }
        }
    }

    /// Forgets the load marks of destinations the fence's watchdog gave up.
    fn forget_lost(&mut self, fence: &Fence) {
        for destination in fence.take_lost() {
            self.loaded.remove(&destination);
        }
    }

    fn give_up(&mut self, destinations: Vec<String>, why: &str) {
        for destination in destinations {
            self.loaded.remove(&destination);
            let messages = self.ctx.release_destination(&destination);
            warn!(%destination, messages, reason = why, "stopped delivering destination");
        }
    }

    /// Stores and announces the owned destinations' changes of health.
    async fn share_health(&mut self) {
        let owned: Vec<String> = self.loaded.keys().cloned().collect();
        self.health.share(&self.ctx, &self.shared, &owned).await;
    }

    /// Loads what was committed for owned destinations since the last look.
    async fn load_new_mail(&mut self) {
        let now = Instant::now();
        let owned: Vec<(String, u64)> = self
            .loaded
            .iter()
            .map(|(d, after)| (d.clone(), *after))
            .collect();
        let leases = self.leases.clone();
        let mine = move |d: &str| {
            let leases = leases.lock().unwrap_or_else(|e| e.into_inner());
            leases.may_deliver(d, now).is_some()
        };
        let mut added = 0usize;
        for (destination, mut after) in owned {
            loop {
                let load = self.shared.load_pending(&destination, after, PAGE, &mine);
                let page = match tokio::time::timeout(LOAD_TIMEOUT, load).await {
                    Ok(Ok(page)) => page,
                    Ok(Err(error)) => {
                        warn!(%destination, %error, "loading queued mail failed");
                        break;
                    }
                    Err(_) => {
                        warn!(%destination, "loading queued mail timed out");
                        break;
                    }
                };
                let full = page.len() as i64 == PAGE;
                for loaded in page {
                    after = after.max(loaded.arrival);
                    if self.ctx.adopt(loaded.message, loaded.arrival, &destination) {
                        added += 1;
                    }
                }
                if !full {
                    break;
                }
            }
            if let Some(mark) = self.loaded.get_mut(&destination) {
                *mark = after;
            }
        }
        if added > 0 {
            self.ctx.wake();
        }
    }
}

/// Replaces this node's copy of the recipient cache with the shared table.
async fn resync_recipients(ctx: Arc<QueueContext>) {
    match ctx.recipients().resync_shared().await {
        Ok(entries) => info!(entries, "recipient cache copied from the shared table"),
        Err(error) => warn!(%error, "recipient cache not copied from the shared table"),
    }
}
