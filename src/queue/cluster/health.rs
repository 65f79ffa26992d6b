//! Destination health shared through the database (`cluster::health`): this node stores and
//! announces each change of state of the destinations it delivers; when another node announces that
//! a destination answers again, this node probes its own unreachable destinations at once (a primary
//! often serves several backed-up domains, each delivered by whichever node holds its lease).

use std::collections::HashMap;
use std::time::Duration;

use tracing::{info, warn};

use super::super::context::QueueContext;
use super::super::scheduler::Health;
use crate::cluster::health::{self, HealthNotice, HealthState, SeenHealth};
use crate::spool::postgres::PgSpool;

/// A write that takes longer is abandoned and tried again at the next heartbeat.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What this node last stored for each destination it delivers.
#[derive(Default)]
pub(super) struct SharedHealth {
    published: HashMap<String, HealthState>,
}

impl SharedHealth {
    /// Stores and announces the states of `owned` destinations that changed since the last write.
    pub(super) async fn share(&mut self, ctx: &QueueContext, shared: &PgSpool, owned: &[String]) {
        self.published.retain(|dest, _| owned.contains(dest));
        let changes: Vec<SeenHealth> = ctx
            .health_of(owned)
            .into_iter()
            .filter_map(|(dest, h)| seen(dest, &h, shared.node()))
            .filter(|s| self.published.get(&s.destination) != Some(&s.state))
            .collect();
        if changes.is_empty() {
            return;
        }
        let written = tokio::time::timeout(WRITE_TIMEOUT, async {
            let mut client = shared.client().await.map_err(|e| e.to_string())?;
            health::publish(&mut client, &changes)
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        match written {
            Ok(Ok(())) => {
                for s in changes {
                    self.published.insert(s.destination, s.state);
                }
            }
            Ok(Err(error)) => warn!(%error, "destination health not shared"),
            Err(_) => warn!("sharing destination health timed out"),
        }
    }
}

/// Another node's announcement: a destination it delivers answers again, so ours may too.
pub(super) fn heard(ctx: &QueueContext, notice: &HealthNotice, me: &str) {
    if notice.node == me || notice.state != HealthState::Up {
        return;
    }
    let probes = ctx.probe_unreachable_now();
    if probes > 0 {
        info!(
            destination = %notice.destination,
            node = %notice.node,
            probes,
            "another node sees a destination answer again; probing unreachable destinations now"
        );
    }
}

/// A destination's health as shared; nothing for one not tried yet.
fn seen(destination: String, h: &Health, node: &str) -> Option<SeenHealth> {
    let (state, since_ms, detail) = match h {
        Health::Unknown => return None,
        Health::Up => (HealthState::Up, None, None),
        Health::Unreachable { since_ms, error } => {
            (HealthState::Down, Some(*since_ms), Some(error.clone()))
        }
        Health::Misconfigured { since_ms, reason } => (
            HealthState::Misconfigured,
            Some(*since_ms),
            Some(reason.clone()),
        ),
    };
    Some(SeenHealth {
        destination,
        state,
        since_ms,
        detail,
        node: node.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_shared_with_its_since_and_detail_but_unknown_is_not() {
        assert_eq!(seen("a.test".into(), &Health::Unknown, "mx1"), None);
        let up = seen("a.test".into(), &Health::Up, "mx1").unwrap();
        assert_eq!(
            (up.state, up.since_ms, up.detail),
            (HealthState::Up, None, None)
        );
        let down = Health::Unreachable {
            since_ms: 7,
            error: "connection refused".into(),
        };
        let down = seen("a.test".into(), &down, "mx1").unwrap();
        assert_eq!(down.state, HealthState::Down);
        assert_eq!(down.since_ms, Some(7));
        assert_eq!(down.detail.as_deref(), Some("connection refused"));
        assert_eq!(down.node, "mx1");
        let bad = Health::Misconfigured {
            since_ms: 9,
            reason: "we are the best MX".into(),
        };
        let bad = seen("a.test".into(), &bad, "mx1").unwrap();
        assert_eq!(bad.state, HealthState::Misconfigured);
        assert_eq!(
            bad.state.label(),
            Health::Misconfigured {
                since_ms: 0,
                reason: String::new()
            }
            .label()
        );
    }
}
