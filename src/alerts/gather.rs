//! One sample of what the alerts watch, gathered from their sources: the queue (through
//! `queue::api`, like the admin layer), the spool's file system (statvfs), the certificate the
//! inbound listeners serve (asked of the `TlsReloader`, never read from disk), and in a cluster the
//! nodes' liveness from the shared database.

use std::path::PathBuf;

use super::monitor::{DiskFacts, Facts, NodeFact, QueueFacts};
use crate::inbound::TlsReloader;
use crate::queue::api::QueueApi;

/// Where the facts come from.
#[derive(Clone)]
pub struct Sources {
    pub queue: QueueApi,
    /// The served inbound certificate; `None` without TLS.
    pub tls: Option<TlsReloader>,
    /// The spool directory (its file system's free space).
    pub spool_dir: PathBuf,
}

impl Sources {
    /// Everything at `now_ms`; `None` while the queue is still loading at start. A source that fails
    /// leaves its part unknown (logged), so one broken source never silences the others.
    pub async fn gather(&self, now_ms: u64) -> Option<Facts> {
        let local = self.queue.alert_facts()?;
        let mut facts = Facts {
            now_ms,
            destinations: local.destinations,
            queue: Some(QueueFacts {
                messages: local.messages,
                oldest_received_ms: local.oldest_received_ms,
            }),
            disk: self.disk(),
            certificate_not_after_ms: self.certificate_not_after_ms(),
            quarantined: self.queue.quarantined(),
            ..Facts::default()
        };
        match self.queue.cluster_nodes().await {
            Ok(None) => {}
            Ok(Some(nodes)) => {
                let mine = self.queue.node();
                let leader = nodes
                    .iter()
                    .filter(|n| n.alive)
                    .map(|n| n.name.as_str())
                    .min();
                facts.node_leader = leader == Some(mine);
                facts.nodes = nodes
                    .into_iter()
                    .map(|n| NodeFact {
                        name: n.name,
                        alive: n.alive,
                    })
                    .collect();
                // The cluster's queue is judged by the leader alone, from the database.
                facts.queue = None;
                if facts.node_leader {
                    match self.queue.cluster_queue_facts().await {
                        Ok(Some((messages, oldest_received_ms))) => {
                            facts.queue = Some(QueueFacts {
                                messages,
                                oldest_received_ms,
                            });
                        }
                        Ok(None) => {}
                        Err(error) => {
                            tracing::warn!(%error, "alerts: cannot read the cluster's queue")
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "alerts: cannot read the cluster's nodes"),
        }
        Some(facts)
    }

    fn disk(&self) -> Option<DiskFacts> {
        match rustix::fs::statvfs(&self.spool_dir) {
            Ok(stat) => {
                let unit = stat.f_frsize.max(1);
                Some(DiskFacts {
                    free: stat.f_bavail.saturating_mul(unit),
                    total: stat.f_blocks.saturating_mul(unit),
                })
            }
            Err(error) => {
                tracing::warn!(%error, dir = %self.spool_dir.display(), "alerts: cannot read the spool's free space");
                None
            }
        }
    }

    fn certificate_not_after_ms(&self) -> Option<u64> {
        let chain = self.tls.as_ref()?.current_chain();
        let leaf = chain.first()?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
        let seconds = u64::try_from(cert.validity().not_after.timestamp()).ok()?;
        Some(seconds.saturating_mul(1000))
    }
}
