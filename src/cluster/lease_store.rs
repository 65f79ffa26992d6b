//! The leases' SQL: acquire, renew and release destination leases in the shared `leases` table. Expiry is
//! judged by the database's clock only; the node's own deadline is the pure core's business
//! (`lease.rs`). Every statement is one round trip.

use std::time::Duration;

use tokio_postgres::{GenericClient, Row};

use super::db::query_map;

use super::lease::Candidate;

/// Interval literal for a lease, in whole milliseconds.
fn millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

/// A `RETURNING destination, epoch` row: a lease held and the epoch its writes carry.
fn held_lease(row: &Row) -> (String, u64) {
    (row.get(0), row.get::<_, i64>(1) as u64)
}

/// Takes each of `destinations` that is free, expired or already ours; returns those granted, with the
/// epoch every later write for them must carry (a new epoch each time ownership changes hands).
pub async fn acquire<C: GenericClient>(
    client: &C,
    node: &str,
    destinations: &[String],
    lease: Duration,
) -> Result<Vec<(String, u64)>, tokio_postgres::Error> {
    if destinations.is_empty() {
        return Ok(Vec::new());
    }
    query_map(
        client,
        "INSERT INTO leases (destination, shard, node, epoch, expires_at)
             SELECT d, 0, $2, 1, now() + $3 * interval '1 millisecond' FROM unnest($1::text[]) AS d
             ON CONFLICT (destination, shard) DO UPDATE
                SET node = EXCLUDED.node,
                    epoch = CASE WHEN leases.node = EXCLUDED.node AND leases.expires_at >= now()
                                 THEN leases.epoch ELSE leases.epoch + 1 END,
                    expires_at = EXCLUDED.expires_at
                WHERE leases.expires_at < now() OR leases.node = EXCLUDED.node
             RETURNING destination, epoch",
        &[&destinations, &node, &(millis(lease) as f64)],
        held_lease,
    )
    .await
}

/// What a renewal answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    /// Every lease still ours, with its epoch.
    pub held: Vec<(String, u64)>,
    /// Milliseconds until the earliest lease of another node expires (negative: already expired), so
    /// the node knows when to try taking it over.
    pub next_foreign_expiry_ms: Option<i64>,
}

/// Extends every unexpired lease `node` holds by `lease` from now (database time), and reports the next
/// foreign expiry. A lease another node took is absent from the answer, and so is one that expired
/// untaken: the node has already given it up on its own deadline, and takes it back only through
/// [`acquire`], under a new epoch.
pub async fn renew<C: GenericClient>(
    client: &C,
    node: &str,
    lease: Duration,
) -> Result<Renewal, tokio_postgres::Error> {
    let held = query_map(
        client,
        "UPDATE leases SET expires_at = now() + $2 * interval '1 millisecond'
             WHERE node = $1 AND expires_at >= now() RETURNING destination, epoch",
        &[&node, &(millis(lease) as f64)],
        held_lease,
    )
    .await?;
    let next: Option<f64> = client
        .query_one(
            "SELECT (extract(epoch FROM min(expires_at) - now()) * 1000)::float8
             FROM leases WHERE node <> $1",
            &[&node],
        )
        .await?
        .get(0);
    Ok(Renewal {
        held,
        next_foreign_expiry_ms: next.map(|ms| ms as i64),
    })
}

/// Gives up every lease of `node` (orderly shutdown, after its last result is committed), so another
/// node can take over at once instead of after `lease`. The rows stay, expired, so the next owner's
/// epoch is still higher than every epoch used before (a zombie write can never match it).
pub async fn release<C: GenericClient>(
    client: &C,
    node: &str,
) -> Result<u64, tokio_postgres::Error> {
    client
        .execute(
            "UPDATE leases SET expires_at = '-infinity' WHERE node = $1 AND expires_at >= now()",
            &[&node],
        )
        .await
}

/// Destinations with pending mail, each with its live owner (if any) and the arrival of its oldest
/// pending message: the input of `lease::to_acquire`.
pub async fn candidates<C: GenericClient>(
    client: &C,
) -> Result<Vec<Candidate>, tokio_postgres::Error> {
    query_map(
        client,
        "SELECT r.destination, l.node, min(m.arrival),
                 (extract(epoch FROM l.expires_at - now()) * 1000)::bigint
             FROM recipients r
             JOIN messages m ON m.id = r.message_id
             LEFT JOIN leases l ON l.destination = r.destination AND l.shard = 0 AND l.expires_at >= now()
             WHERE r.status = 0
             GROUP BY r.destination, l.node, l.expires_at
             ORDER BY min(m.arrival)",
        &[],
        |r| Candidate {
            destination: r.get(0),
            owner: r.get(1),
            oldest_arrival: r.get::<_, i64>(2) as u64,
            expires_in: r
                .get::<_, Option<i64>>(3)
                .map(|ms| Duration::from_millis(ms.max(0) as u64)),
        },
    )
    .await
}
