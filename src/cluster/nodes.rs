//! Cluster membership: each node's row in `nodes` (its slot for cluster-unique queue ids, its
//! heartbeat), registration at start and the list the admin view shows.

use std::time::Duration;

use tokio_postgres::GenericClient;

use super::db::query_map;

/// Slots give each live node its own range of queue ids (`ms << 16 | slot << 10 | counter`).
pub const SLOTS: i16 = 64;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(
        "another process runs as cluster node {0:?} (its heartbeat is younger than the lease): give each node its own [cluster] node name"
    )]
    NameInUse(String),
    #[error("all {SLOTS} node slots are taken by live nodes")]
    NoSlot,
    #[error("database error: {0}")]
    Database(#[from] tokio_postgres::Error),
}

/// A node as the admin view lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    pub name: String,
    /// Seconds since its last heartbeat (database time).
    pub heartbeat_age_s: f64,
    pub alive: bool,
    /// Leases it holds now.
    pub claims: i64,
}

/// Registers this process as `name` and returns its slot. A name whose heartbeat is fresher than the
/// lease and that belongs to another process is refused; a stale row (a dead node) is taken over, and
/// keeps its slot.
pub async fn register<C: GenericClient>(
    client: &C,
    name: &str,
    process: i64,
    lease: Duration,
    version: &str,
) -> Result<i16, NodeError> {
    let lease_ms = i32::try_from(lease.as_millis()).unwrap_or(i32::MAX);
    let row = client
        .query_opt(
            "INSERT INTO nodes (name, slot, process_token, lease_ms, version)
             VALUES ($1,
                     (SELECT s FROM generate_series(0, $5 - 1) AS s
                      WHERE s NOT IN (SELECT slot FROM nodes) ORDER BY s LIMIT 1),
                     $2, $3, $4)
             ON CONFLICT (name) DO UPDATE
                SET process_token = EXCLUDED.process_token, heartbeat_at = now(), started_at = now(),
                    lease_ms = EXCLUDED.lease_ms, version = EXCLUDED.version
                WHERE nodes.process_token = EXCLUDED.process_token
                   OR nodes.heartbeat_at < now() - nodes.lease_ms * interval '1 millisecond'
             RETURNING slot",
            &[&name, &process, &lease_ms, &version, &i32::from(SLOTS)],
        )
        .await;
    match row {
        Ok(Some(row)) => Ok(row.get(0)),
        Ok(None) => Err(NodeError::NameInUse(name.to_string())),
        // The slot subquery found nothing: NULL into a NOT NULL column.
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::NOT_NULL_VIOLATION) => {
            Err(NodeError::NoSlot)
        }
        Err(e) => Err(e.into()),
    }
}

/// Stamps this node's heartbeat; false when the row now belongs to another process (a second node
/// started with the same name after this one was presumed dead).
pub async fn heartbeat<C: GenericClient>(
    client: &C,
    name: &str,
    process: i64,
) -> Result<bool, tokio_postgres::Error> {
    let n = client
        .execute(
            "UPDATE nodes SET heartbeat_at = now() WHERE name = $1 AND process_token = $2",
            &[&name, &process],
        )
        .await?;
    Ok(n == 1)
}

/// Every node, with whether its heartbeat is within its lease and how many leases it holds.
pub async fn list<C: GenericClient>(client: &C) -> Result<Vec<NodeView>, tokio_postgres::Error> {
    query_map(
        client,
        "SELECT n.name,
                    extract(epoch FROM now() - n.heartbeat_at)::float8,
                    n.heartbeat_at >= now() - n.lease_ms * interval '1 millisecond',
                    (SELECT count(*) FROM leases l WHERE l.node = n.name AND l.expires_at >= now())
             FROM nodes n ORDER BY n.name",
        &[],
        |r| NodeView {
            name: r.get(0),
            heartbeat_age_s: r.get(1),
            alive: r.get(2),
            claims: r.get(3),
        },
    )
    .await
}
