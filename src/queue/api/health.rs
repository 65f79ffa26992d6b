//! What the alerts watch in the queue (issue 16), in one pass under the scheduler's lock: each
//! destination's health and waiting mail, and the local queue's size and oldest arrival. Cheaper
//! than the dashboard's per-domain summaries, which walk the queue once per domain.

use std::collections::BTreeMap;

use super::{QueueApi, destination_of};
use crate::queue::scheduler::Health;

/// A destination's health as the alerts see it.
#[derive(Debug, Clone, PartialEq)]
pub enum DestinationHealth {
    /// Unreachable since this time (connection refused, timeout, DNS failure, 421 at greeting),
    /// with the last error.
    Down {
        since_ms: u64,
        error: String,
    },
    Up,
    /// Not tried since start, or misconfigured (no alert either way).
    Unknown,
}

/// A destination this node delivers, as the alerts' monitor takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationFacts {
    pub domain: String,
    pub health: DestinationHealth,
    /// Messages with a recipient pending for it.
    pub queued: u64,
}

/// This node's queue: its destinations, message count and oldest arrival (Unix ms).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueFacts {
    pub destinations: Vec<DestinationFacts>,
    pub messages: u64,
    pub oldest_received_ms: Option<u64>,
}

impl QueueApi {
    /// The queue this node's scheduler holds (in a cluster: the destinations this node delivers);
    /// `None` until the queue has filed what the spool recovered at start (an empty queue then would
    /// be a false "resolved").
    pub fn alert_facts(&self) -> Option<QueueFacts> {
        if !self.ctx.is_loaded() {
            return None;
        }
        Some(self.ctx.view(|sched| {
            let mut queued: BTreeMap<String, u64> = sched
                .destinations()
                .map(|(name, _)| (name.clone(), 0))
                .collect();
            let mut facts = QueueFacts::default();
            for m in sched.messages() {
                facts.messages += 1;
                let received = m.envelope.received_at_ms;
                facts.oldest_received_ms = Some(
                    facts
                        .oldest_received_ms
                        .map_or(received, |o| o.min(received)),
                );
                let mut mine: Vec<String> = m
                    .envelope
                    .pending()
                    .map(|(_, r)| destination_of(&r.route))
                    .collect();
                mine.sort();
                mine.dedup();
                for name in mine {
                    *queued.entry(name).or_default() += 1;
                }
            }
            facts.destinations = queued
                .into_iter()
                .map(|(domain, queued)| {
                    let health = match sched.destination(&domain).map(|d| &d.health) {
                        Some(Health::Up) => DestinationHealth::Up,
                        Some(Health::Unreachable { since_ms, error }) => DestinationHealth::Down {
                            since_ms: *since_ms,
                            error: error.clone(),
                        },
                        _ => DestinationHealth::Unknown,
                    };
                    DestinationFacts {
                        domain,
                        health,
                        queued,
                    }
                })
                .collect();
            facts
        }))
    }

    /// The whole cluster's queue from the shared database (`None` on a single node): its size and
    /// oldest arrival, for the node that reports them.
    pub async fn cluster_queue_facts(
        &self,
    ) -> Result<Option<(u64, Option<u64>)>, super::QueueApiError> {
        let Some(shared) = self.ctx.store().shared() else {
            return Ok(None);
        };
        let domains = self.cluster_domains(shared).await?;
        let messages = domains.iter().map(|d| d.messages as u64).sum();
        let oldest = domains.iter().filter_map(|d| d.oldest_received_at_ms).min();
        Ok(Some((messages, oldest)))
    }
}
