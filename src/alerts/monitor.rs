//! The pure alert state machine: given what is true now ([`Facts`], sampled every `check_interval`)
//! and the thresholds, [`Monitor::observe`] returns the alerts for the conditions that changed since
//! the last sample, one per change, never one per sample. Its state is saved with the outbox, so a
//! restart neither repeats an alert nor forgets a condition in progress. Time is an argument.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::event::Raised;
use crate::config::{AlertsConfig, DiskThreshold, format_duration};
// The queue's own view of a destination: plain data, so the monitor stays pure.
use crate::queue::api::{DestinationFacts, DestinationHealth};

/// Quarantine lines remembered (so a line seen again after a restart is not alerted twice).
const SEEN_QUARANTINE: usize = 1000;

/// A cluster node as the shared database lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFact {
    pub name: String,
    pub alive: bool,
}

/// One sample of everything alerts watch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Facts {
    pub now_ms: u64,
    /// The destinations this node delivers (in a cluster: those it holds the lease of).
    pub destinations: Vec<DestinationFacts>,
    /// Queued messages and the oldest's arrival; `None`: not this node's to judge (another cluster
    /// node reports the cluster's queue).
    pub queue: Option<QueueFacts>,
    /// The spool file system; `None`: unknown (the check failed, or a cluster without local spool).
    pub disk: Option<DiskFacts>,
    /// The served inbound certificate's end of validity (Unix ms); `None`: no certificate.
    pub certificate_not_after_ms: Option<u64>,
    /// Cluster nodes; empty on a single node.
    pub nodes: Vec<NodeFact>,
    /// This node sends `node_lost` (the alive node with the smallest name).
    pub node_leader: bool,
    /// What recovery quarantined (one line each).
    pub quarantined: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueFacts {
    pub messages: u64,
    pub oldest_received_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiskFacts {
    pub free: u64,
    pub total: u64,
}

/// What the monitor remembers between samples (and across restarts).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Monitor {
    /// Per domain: `primary_down` was sent and not yet answered by `primary_up`, or a drain is
    /// being timed.
    #[serde(default)]
    primaries: BTreeMap<String, PrimaryState>,
    /// Threshold conditions raised and not yet resolved (`queue_age`, `queue_size`, ...).
    #[serde(default)]
    active: BTreeSet<String>,
    /// Each cluster node's liveness at the last sample.
    #[serde(default)]
    nodes: BTreeMap<String, bool>,
    #[serde(default)]
    seen_quarantine: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct PrimaryState {
    /// `primary_down` was sent (then `primary_up` is owed).
    down_alerted: bool,
    /// When `primary_up` was sent with mail waiting: (time, count); `primary_drained` is owed.
    drain: Option<(u64, u64)>,
}

impl Monitor {
    /// The alerts for what changed since the previous sample.
    pub fn observe(&mut self, facts: &Facts, settings: &AlertsConfig) -> Vec<Raised> {
        let mut raised = Vec::new();
        for destination in &facts.destinations {
            self.primary(destination, facts.now_ms, settings, &mut raised);
        }
        let known: BTreeSet<&str> = facts
            .destinations
            .iter()
            .map(|d| d.domain.as_str())
            .collect();
        // A domain no longer delivered here (removed and drained, or moved to another node) is
        // forgotten, unless its `primary_down` still waits for its `primary_up`: should it come
        // back, that is owed, and no second `primary_down` is.
        self.primaries
            .retain(|d, state| known.contains(d.as_str()) || state.down_alerted);
        if let Some(queue) = facts.queue {
            self.queue_age(queue, facts.now_ms, settings.queue_age, &mut raised);
            self.queue_size(queue, settings.queue_size, &mut raised);
        }
        if let Some(disk) = facts.disk {
            self.disk_space(disk, settings.disk_space, &mut raised);
        }
        self.certificate(facts, settings.certificate_expiry, &mut raised);
        self.nodes(facts, &mut raised);
        self.quarantine(&facts.quarantined, &mut raised);
        raised
    }

    fn primary(
        &mut self,
        destination: &DestinationFacts,
        now_ms: u64,
        settings: &AlertsConfig,
        raised: &mut Vec<Raised>,
    ) {
        let domain = destination.domain.as_str();
        let state = self.primaries.entry(domain.to_string()).or_default();
        match &destination.health {
            DestinationHealth::Down { since_ms, error } => {
                state.drain = None;
                let down_for = Duration::from_millis(now_ms.saturating_sub(*since_ms));
                if !state.down_alerted && down_for >= settings.primary_down_after {
                    state.down_alerted = true;
                    let text = format!(
                        "primary of {domain} unreachable for {} ({error}); {} message(s) queued",
                        format_duration(whole_seconds(down_for)),
                        destination.queued
                    );
                    raised.push(
                        Raised::new("primary_down", Some(domain), text)
                            .with("down_since_ms", *since_ms)
                            .with("error", error.as_str())
                            .with("queued", destination.queued),
                    );
                }
            }
            DestinationHealth::Up if state.down_alerted => {
                state.down_alerted = false;
                let queued = destination.queued;
                let text = if queued == 0 {
                    format!("primary of {domain} answers again; nothing was waiting")
                } else {
                    format!(
                        "primary of {domain} answers again; delivering {queued} queued message(s)"
                    )
                };
                raised.push(
                    Raised::new("primary_up", Some(domain), text)
                        .with("queued", queued)
                        .with("drained", queued == 0),
                );
                state.drain = (queued > 0).then_some((now_ms, queued));
            }
            DestinationHealth::Up => {
                if let Some((up_ms, count)) = state.drain
                    && destination.queued == 0
                {
                    state.drain = None;
                    let took = Duration::from_millis(now_ms.saturating_sub(up_ms));
                    let text = format!(
                        "queue of {domain} drained: {count} message(s) delivered in {}",
                        format_duration(whole_seconds(took).max(Duration::from_secs(1)))
                    );
                    raised.push(
                        Raised::new("primary_drained", Some(domain), text)
                            .with("delivered", count)
                            .with("drain_ms", now_ms.saturating_sub(up_ms)),
                    );
                }
            }
            DestinationHealth::Unknown => {}
        }
    }

    /// Raises `key` when `now` turns true, resolves it when it turns false; `None` when unchanged.
    fn edge(&mut self, key: &str, now: bool) -> Option<bool> {
        let was = self.active.contains(key);
        match (was, now) {
            (false, true) => {
                self.active.insert(key.to_string());
                Some(false)
            }
            (true, false) => {
                self.active.remove(key);
                Some(true)
            }
            _ => None,
        }
    }

    fn queue_age(
        &mut self,
        queue: QueueFacts,
        now_ms: u64,
        threshold: Option<Duration>,
        raised: &mut Vec<Raised>,
    ) {
        let Some(threshold) = threshold else {
            self.active.remove("queue_age");
            return;
        };
        let age = queue
            .oldest_received_ms
            .map(|t| Duration::from_millis(now_ms.saturating_sub(t)));
        let over = age.is_some_and(|a| a > threshold);
        let limit = format_duration(threshold);
        match self.edge("queue_age", over) {
            Some(false) => {
                let age = format_duration(whole_seconds(age.unwrap_or_default()));
                raised.push(
                    Raised::new(
                        "queue_age",
                        None,
                        format!("the oldest queued message waits for {age} (threshold {limit})"),
                    )
                    .with("oldest_received_ms", queue.oldest_received_ms)
                    .with("threshold_ms", millis(threshold)),
                );
            }
            Some(true) => raised.push(
                Raised::new(
                    "queue_age",
                    None,
                    format!("no queued message is older than {limit} any more"),
                )
                .resolved(),
            ),
            None => {}
        }
    }

    fn queue_size(&mut self, queue: QueueFacts, threshold: Option<u64>, raised: &mut Vec<Raised>) {
        let Some(threshold) = threshold else {
            self.active.remove("queue_size");
            return;
        };
        let count = queue.messages;
        match self.edge("queue_size", count > threshold) {
            Some(false) => raised.push(
                Raised::new(
                    "queue_size",
                    None,
                    format!("{count} messages queued (threshold {threshold})"),
                )
                .with("messages", count)
                .with("threshold", threshold),
            ),
            Some(true) => raised.push(
                Raised::new(
                    "queue_size",
                    None,
                    format!("{count} messages queued, at or below {threshold} again"),
                )
                .with("messages", count)
                .resolved(),
            ),
            None => {}
        }
    }

    fn disk_space(
        &mut self,
        disk: DiskFacts,
        threshold: Option<DiskThreshold>,
        raised: &mut Vec<Raised>,
    ) {
        let Some(threshold) = threshold else {
            self.active.remove("disk_space");
            return;
        };
        let (low, limit) = match threshold {
            DiskThreshold::Bytes(bytes) => (disk.free < bytes, format!("{bytes} bytes")),
            DiskThreshold::Percent(percent) => (
                u128::from(disk.free) * 100 < u128::from(disk.total) * u128::from(percent),
                format!("{percent}%"),
            ),
        };
        let free = disk.free;
        let text =
            |what: &str| format!("{free} bytes free on the spool's file system ({what} {limit})");
        match self.edge("disk_space", low) {
            Some(false) => raised.push(
                Raised::new("disk_space", None, text("below"))
                    .with("free_bytes", free)
                    .with("total_bytes", disk.total),
            ),
            Some(true) => raised.push(
                Raised::new("disk_space", None, text("no longer below"))
                    .with("free_bytes", free)
                    .resolved(),
            ),
            None => {}
        }
    }

    fn certificate(&mut self, facts: &Facts, within: Duration, raised: &mut Vec<Raised>) {
        let not_after = facts.certificate_not_after_ms;
        let soon = not_after.is_some_and(|end| end.saturating_sub(facts.now_ms) <= millis(within));
        match self.edge("certificate_expiry", soon) {
            Some(false) => {
                let end = not_after.unwrap_or_default();
                let left = Duration::from_millis(end.saturating_sub(facts.now_ms));
                let text = if end <= facts.now_ms {
                    "the inbound TLS certificate has expired".to_string()
                } else {
                    format!(
                        "the inbound TLS certificate expires in {}",
                        format_duration(whole_seconds(left))
                    )
                };
                raised
                    .push(Raised::new("certificate_expiry", None, text).with("not_after_ms", end));
            }
            Some(true) => raised.push(
                Raised::new(
                    "certificate_expiry",
                    None,
                    "the inbound TLS certificate was renewed".to_string(),
                )
                .with("not_after_ms", not_after)
                .resolved(),
            ),
            None => {}
        }
    }

    /// Every node tracks liveness (so a new leader does not repeat what the old one sent); only the
    /// leader raises. A node first seen already dead is not alerted (a long-gone row).
    fn nodes(&mut self, facts: &Facts, raised: &mut Vec<Raised>) {
        let mut now = BTreeMap::new();
        for node in &facts.nodes {
            let before = self.nodes.get(&node.name).copied();
            now.insert(node.name.clone(), node.alive);
            if !facts.node_leader {
                continue;
            }
            match (before, node.alive) {
                (Some(true), false) => raised.push(Raised::new(
                    "node_lost",
                    Some(&node.name),
                    format!(
                        "cluster node {} stopped renewing its claims; the others take over its destinations",
                        node.name
                    ),
                )),
                (Some(false), true) => raised.push(
                    Raised::new(
                        "node_lost",
                        Some(&node.name),
                        format!("cluster node {} is alive again", node.name),
                    )
                    .resolved(),
                ),
                _ => {}
            }
        }
        self.nodes = now;
    }

    fn quarantine(&mut self, lines: &[String], raised: &mut Vec<Raised>) {
        for line in lines {
            if self.seen_quarantine.contains(line) {
                continue;
            }
            self.seen_quarantine.push(line.clone());
            raised.push(Raised::new(
                "quarantine",
                None,
                format!("set aside at start-up: {line}"),
            ));
        }
        let excess = self.seen_quarantine.len().saturating_sub(SEEN_QUARANTINE);
        self.seen_quarantine.drain(..excess);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Durations in texts: whole seconds (a sample's milliseconds are noise to a reader).
fn whole_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

#[cfg(test)]
#[path = "monitor_tests.rs"]
mod tests;
