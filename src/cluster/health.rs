//! Destination health shared by the nodes (issue 13): the node delivering a destination stores what it
//! last saw of it in `destination_health` and announces each change (`NOTIFY backupmx_health`, payload
//! `NODE STATE DESTINATION`). Every node's console then shows the delivering node's view, and a
//! primary seen answering again by one node makes every other node probe its own unreachable
//! destinations at once (they may share that primary) instead of at their next `probe_interval`.
//! The payload format is pure and tested here.

use tokio_postgres::GenericClient;

pub const HEALTH_CHANNEL: &str = "backupmx_health";

/// A destination's state as a node saw it (never "unknown": nothing is shared before a first contact).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    Up,
    Down,
    Misconfigured,
}

impl HealthState {
    /// The label the API and the dashboard use (`DomainSummary::state`).
    pub fn label(self) -> &'static str {
        match self {
            HealthState::Up => "up",
            HealthState::Down => "down",
            HealthState::Misconfigured => "misconfigured",
        }
    }

    pub fn parse(label: &str) -> Option<HealthState> {
        Some(match label {
            "up" => HealthState::Up,
            "down" => HealthState::Down,
            "misconfigured" => HealthState::Misconfigured,
            _ => return None,
        })
    }
}

/// One destination's last seen health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenHealth {
    pub destination: String,
    pub state: HealthState,
    /// Down or misconfigured since (Unix ms).
    pub since_ms: Option<u64>,
    /// The last error, or the misconfiguration's reason.
    pub detail: Option<String>,
    /// The node that saw it.
    pub node: String,
}

/// What a notification on [`HEALTH_CHANNEL`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthNotice {
    pub node: String,
    pub state: HealthState,
    pub destination: String,
}

impl HealthNotice {
    pub fn payload(&self) -> String {
        format!("{} {} {}", self.node, self.state.label(), self.destination)
    }

    pub fn parse(payload: &str) -> Option<HealthNotice> {
        let mut words = payload.splitn(3, ' ');
        let node = words.next().filter(|w| !w.is_empty())?;
        let state = HealthState::parse(words.next()?)?;
        let destination = words.next().filter(|w| !w.is_empty())?;
        Some(HealthNotice {
            node: node.to_string(),
            state,
            destination: destination.to_string(),
        })
    }
}

/// Stores `changes` and announces each, in one transaction (the notifications leave at COMMIT).
pub async fn publish(
    client: &mut deadpool_postgres::Client,
    changes: &[SeenHealth],
) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let upsert = tx
        .prepare_cached(
            "INSERT INTO destination_health (destination, state, since_ms, detail, node, seen_at)
             VALUES ($1, $2, $3, $4, $5, now())
             ON CONFLICT (destination) DO UPDATE SET state = $2, since_ms = $3, detail = $4,
                 node = $5, seen_at = now()",
        )
        .await?;
    let notify = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
    for seen in changes {
        let since = seen
            .since_ms
            .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX));
        tx.execute(
            &upsert,
            &[
                &seen.destination,
                &seen.state.label(),
                &since,
                &seen.detail,
                &seen.node,
            ],
        )
        .await?;
        let notice = HealthNotice {
            node: seen.node.clone(),
            state: seen.state,
            destination: seen.destination.clone(),
        };
        tx.execute(&notify, &[&HEALTH_CHANNEL, &notice.payload()])
            .await?;
    }
    tx.commit().await
}

/// Every destination's last seen health.
pub async fn read_all<C: GenericClient>(
    client: &C,
) -> Result<Vec<SeenHealth>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT destination, state, since_ms, detail, node FROM destination_health",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(SeenHealth {
                destination: row.get(0),
                state: HealthState::parse(row.get::<_, &str>(1))?,
                since_ms: row
                    .get::<_, Option<i64>>(2)
                    .map(|ms| u64::try_from(ms).unwrap_or(0)),
                detail: row.get(3),
                node: row.get(4),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip() {
        for state in [
            HealthState::Up,
            HealthState::Down,
            HealthState::Misconfigured,
        ] {
            let notice = HealthNotice {
                node: "mx2".into(),
                state,
                destination: "example.test".into(),
            };
            assert_eq!(HealthNotice::parse(&notice.payload()), Some(notice));
            assert_eq!(HealthState::parse(state.label()), Some(state));
        }
    }

    #[test]
    fn malformed_notices_are_ignored() {
        for payload in [
            "",
            "mx2",
            "mx2 up",
            "mx2 up ",
            " up example.test",
            "mx2 sideways example.test",
            "mx2 unknown example.test",
        ] {
            assert_eq!(HealthNotice::parse(payload), None, "{payload:?}");
        }
    }
}
