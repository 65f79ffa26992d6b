//! Self-fencing: a node delivers a destination only while its lease is valid by the node's own
//! monotonic clock (`cluster::lease`: counted from when the renewal was *sent*, ending a margin before
//! the database lets the lease expire). A watchdog on its own timer drops every lease past that
//! deadline from the scheduler, whatever the database or the cluster loop are doing; the sender asks
//! the fence before each message's body leaves (a lease lost mid-transaction abandons it).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::warn;

use super::super::context::QueueContext;
use crate::cluster::lease::Leases;

/// How often the watchdog looks at the deadlines.
const WATCH_EVERY: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub(in crate::queue) struct Fence {
    leases: Arc<Mutex<Leases>>,
    /// Destinations the watchdog gave up, for the cluster loop to forget.
    lost: Arc<Mutex<BTreeSet<String>>>,
}

impl Fence {
    pub(super) fn new(leases: Arc<Mutex<Leases>>) -> Fence {
        Fence {
            leases,
            lost: Arc::default(),
        }
    }

    /// True while this node may still deliver `destination`.
    pub(in crate::queue) fn may_deliver(&self, destination: &str) -> bool {
        let leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        leases.may_deliver(destination, Instant::now()).is_some()
    }

    pub(super) fn take_lost(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.lost.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Drops expired leases from the scheduler every [`WATCH_EVERY`]; runs until aborted.
    pub(super) async fn watch(self, ctx: Arc<QueueContext>) {
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            let expired = {
                let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
                leases.expire(Instant::now()).destinations
            };
            for destination in expired {
                let messages = ctx.release_destination(&destination);
                warn!(%destination, messages, reason = "lease not renewed in time", "stopped delivering destination");
                self.lost
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(destination);
            }
            ctx.release_unowned();
        }
    }
}
