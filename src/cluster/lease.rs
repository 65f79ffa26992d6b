//! Destination leases of one cluster node, as a pure core: which destinations this node may deliver
//! right now, given when its renewals were *sent* and what the database answered. No I/O, no clock:
//! every instant is an argument (monotonic `Instant`s, never wall time: see docs/cluster.md).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A lease this node holds: the fencing epoch every result write must carry, and the instant after
/// which the node must assume another node may have taken the destination over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub epoch: u64,
    pub valid_until: Instant,
}

/// What changed for the node after a renewal answer or a tick.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Lost {
    /// Destinations to stop delivering at once (taken over, or past their validity).
    pub destinations: Vec<String>,
}

/// The leases one node holds.
#[derive(Debug, Clone)]
pub struct Leases {
    lease: Duration,
    held: HashMap<String, Held>,
}

impl Leases {
    /// `lease` is `[cluster] lease`: how long the database keeps a claim alive without a renewal.
    pub fn new(lease: Duration) -> Leases {
        Leases {
            lease,
            held: HashMap::new(),
        }
    }

    /// How often renewals are sent: five per lease, so two lost renewals still leave time to spare.
    pub fn renew_interval(&self) -> Duration {
        self.lease / 5
    }

    /// The node stops trusting a lease this long before the database would let it expire. The
    /// database measures from when it stamped the renewal, the node from when it sent it (earlier), so
    /// the margin only has to cover the two clocks' rates differing over one lease.
    pub fn margin(&self) -> Duration {
        self.lease / 5
    }

    fn valid_until(&self, sent_at: Instant) -> Instant {
        sent_at + (self.lease - self.margin())
    }

    /// The database granted `destination` with `epoch` to a request sent at `sent_at`.
    pub fn acquired(&mut self, destination: &str, epoch: u64, sent_at: Instant) {
        let valid_until = self.valid_until(sent_at);
        self.held
            .insert(destination.to_string(), Held { epoch, valid_until });
    }

    /// The answer to a renewal sent at `sent_at`: the (destination, epoch) pairs the database still
    /// gives this node. Every held lease not in the answer, or with another epoch, was taken over.
    pub fn renewed(&mut self, sent_at: Instant, answer: &[(String, u64)]) -> Lost {
        let granted: HashMap<&str, u64> = answer.iter().map(|(d, e)| (d.as_str(), *e)).collect();
        let valid_until = self.valid_until(sent_at);
        let mut lost = Vec::new();
        self.held
            .retain(|dest, held| match granted.get(dest.as_str()) {
                Some(&epoch) if epoch == held.epoch => {
                    // An answer to an older request than one already counted must not shorten validity.
                    held.valid_until = held.valid_until.max(valid_until);
                    true
                }
                _ => {
                    lost.push(dest.clone());
                    false
                }
            });
        lost.sort();
        Lost { destinations: lost }
    }

    /// Drops every lease past its validity (renewals failing: database gone or node cut off).
    pub fn expire(&mut self, now: Instant) -> Lost {
        let mut lost = Vec::new();
        self.held.retain(|dest, held| {
            let alive = now < held.valid_until;
            if !alive {
                lost.push(dest.clone());
            }
            alive
        });
        lost.sort();
        Lost { destinations: lost }
    }

    /// The epoch to fence a write or a new message with, if this node may still deliver `destination`.
    pub fn may_deliver(&self, destination: &str, now: Instant) -> Option<u64> {
        self.held
            .get(destination)
            .filter(|h| now < h.valid_until)
            .map(|h| h.epoch)
    }

    /// Gives every lease up (orderly shutdown, once the last result is committed).
    pub fn release_all(&mut self) -> Vec<String> {
        let mut all: Vec<String> = self.held.drain().map(|(d, _)| d).collect();
        all.sort();
        all
    }

    pub fn held(&self) -> impl Iterator<Item = (&str, &Held)> {
        self.held.iter().map(|(d, h)| (d.as_str(), h))
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The earliest instant any held lease stops being valid (when to look again at the latest).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.held.values().map(|h| h.valid_until).min()
    }
}

/// How many destinations one node should hold: an even share plus one, so a node does not refuse
/// work while another is about to give some back, and one node alone takes everything.
pub fn fair_share(destinations: usize, live_nodes: usize) -> usize {
    destinations.div_ceil(live_nodes.max(1)) + 1
}

/// A destination with pending mail as seen in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub destination: String,
    /// The node holding an unexpired lease on it, if any.
    pub owner: Option<String>,
    /// Arrival of its oldest pending message: older mail is taken first.
    pub oldest_arrival: u64,
    /// How long the owner's lease has left, by the database's clock (none when free).
    pub expires_in: Option<Duration>,
}

/// The least time between two looks at leases about to expire (an expiry already past, or a clock
/// that rounds, cannot make the loop spin).
const MIN_TAKEOVER_WAIT: Duration = Duration::from_millis(20);
/// How long after another node's lease expires `me` looks again, to be past it by the database's clock.
const TAKEOVER_MARGIN: Duration = Duration::from_millis(50);

/// When `me` should look again so that a destination whose owner stopped renewing (a dead node) is
/// taken the moment its lease expires, not at `me`'s next periodic heartbeat: the earliest expiry of
/// another node's lease on a destination with pending mail, plus a margin. `None` when no other node
/// holds one.
pub fn takeover_wait(me: &str, candidates: &[Candidate]) -> Option<Duration> {
    candidates
        .iter()
        .filter(|c| c.owner.as_deref().is_some_and(|owner| owner != me))
        .filter_map(|c| c.expires_in)
        .min()
        .map(|left| (left + TAKEOVER_MARGIN).max(MIN_TAKEOVER_WAIT))
}

/// Which free destinations `me` should try to acquire now, oldest mail first, within its fair share.
/// Only destinations with pending mail count towards a node's share: leases on drained destinations
/// cost nothing, and counting them would leave a dead node's last destinations unclaimed.
pub fn to_acquire(me: &str, candidates: &[Candidate], live_nodes: usize) -> Vec<String> {
    let share = fair_share(candidates.len(), live_nodes);
    let mut free: Vec<&Candidate> = candidates.iter().filter(|c| c.owner.is_none()).collect();
    free.sort_by(|a, b| {
        a.oldest_arrival
            .cmp(&b.oldest_arrival)
            .then_with(|| a.destination.cmp(&b.destination))
    });
    let mine = candidates
        .iter()
        .filter(|c| c.owner.as_deref() == Some(me))
        .count();
    free.into_iter()
        .take(share.saturating_sub(mine))
        .map(|c| c.destination.clone())
        .collect()
}

#[cfg(test)]
mod tests;
