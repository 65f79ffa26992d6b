//! The cluster-wide views of the shared queue, for the admin layer of any node: a filtered, paged
//! listing in arrival order with each message's accepting node and the node that owns its pending
//! mail; one message; per-destination totals; and the admin actions done on the rows themselves.

use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::load::{Loaded, fill_details};

/// Which rows a listing shows (strings already lower-cased; `status` one of `held`, `queued`,
/// `deferred`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub destination: Option<String>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub status: Option<String>,
    pub newest_first: bool,
    pub offset: i64,
    pub limit: i64,
}

/// One listed message: as loaded, plus the node whose lease covers a pending recipient.
#[derive(Debug, Clone)]
pub struct Listed {
    pub message: Loaded,
    pub claimed_by: Option<String>,
}

const LIST: &str = "
    SELECT m.id, m.arrival, m.accepted_by, m.envelope, m.held, m.size,
           (SELECT l.node FROM recipients r
              JOIN leases l ON l.destination = r.destination AND l.shard = 0 AND l.expires_at >= now()
             WHERE r.message_id = m.id AND r.status = 0 LIMIT 1),
           count(*) OVER ()
    FROM messages m
    WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM recipients r
               WHERE r.message_id = m.id AND r.status = 0 AND r.destination = $1))
      AND ($2::text IS NULL OR strpos(lower(m.sender), $2) > 0)
      AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM recipients r
               WHERE r.message_id = m.id AND strpos(lower(r.address), $3) > 0))
      AND ($4::text IS NULL
           OR ($4 = 'held' AND m.held)
           OR ($4 = 'queued' AND NOT m.held
               AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.message_id = m.id))
           OR ($4 = 'deferred' AND NOT m.held
               AND EXISTS (SELECT 1 FROM attempts a WHERE a.message_id = m.id)))
      AND ($7::bigint IS NULL OR m.id = $7)
    ORDER BY CASE WHEN $5 THEN -m.arrival ELSE m.arrival END
    OFFSET $6 LIMIT $8";

/// The matching messages (one page) and how many match in all.
pub async fn list<C: GenericClient>(
    client: &C,
    filter: &Filter,
) -> Result<(usize, Vec<Listed>), tokio_postgres::Error> {
    page(client, filter, None).await
}

/// One message, wherever it was accepted.
pub async fn one<C: GenericClient>(
    client: &C,
    id: u64,
) -> Result<Option<Listed>, tokio_postgres::Error> {
    let filter = Filter {
        limit: 1,
        ..Filter::default()
    };
    Ok(page(client, &filter, Some(id as i64))
        .await?
        .1
        .into_iter()
        .next())
}

async fn page<C: GenericClient>(
    client: &C,
    filter: &Filter,
    id: Option<i64>,
) -> Result<(usize, Vec<Listed>), tokio_postgres::Error> {
    let params: [&(dyn ToSql + Sync); 8] = [
        &filter.destination,
        &filter.sender,
        &filter.recipient,
        &filter.status,
        &filter.newest_first,
        &filter.offset,
        &id,
        &filter.limit,
    ];
    let rows = client.query(LIST, &params).await?;
    let total = rows.first().map_or(0, |r| r.get::<_, i64>(7) as usize);
    let mut loaded: Vec<Loaded> = rows.iter().map(Loaded::from_row).collect();
    fill_details(client, &mut loaded).await?;
    let listed = loaded
        .into_iter()
        .zip(rows.iter().map(|r| r.get::<_, Option<String>>(6)))
        .map(|(message, claimed_by)| Listed {
            message,
            claimed_by,
        })
        .collect();
    Ok((total, listed))
}

/// One destination's pending mail across the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationTotals {
    pub destination: String,
    pub messages: u64,
    pub bytes: u64,
    pub oldest_received_at_ms: Option<u64>,
    pub claimed_by: Option<String>,
    /// Received times (ms) of its messages, for the age histogram.
    pub received_at_ms: Vec<u64>,
}

pub async fn destinations<C: GenericClient>(
    client: &C,
) -> Result<Vec<DestinationTotals>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT d.destination, count(*), coalesce(sum(m.size), 0)::bigint,
                    array_agg((extract(epoch FROM m.received_at) * 1000)::bigint),
                    (SELECT l.node FROM leases l WHERE l.destination = d.destination AND l.shard = 0
                        AND l.expires_at >= now())
             FROM (SELECT DISTINCT message_id, destination FROM recipients WHERE status = 0) d
             JOIN messages m ON m.id = d.message_id
             GROUP BY d.destination ORDER BY d.destination",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let received: Vec<i64> = r.get(3);
            let received: Vec<u64> = received.into_iter().map(|v| v as u64).collect();
            DestinationTotals {
                destination: r.get(0),
                messages: r.get::<_, i64>(1) as u64,
                bytes: r.get::<_, i64>(2) as u64,
                oldest_received_at_ms: received.iter().min().copied(),
                claimed_by: r.get(4),
                received_at_ms: received,
            }
        })
        .collect())
}

/// Queued messages and bytes in the whole cluster.
pub async fn totals<C: GenericClient>(client: &C) -> Result<(u64, u64), tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT count(*), coalesce(sum(size), 0)::bigint FROM messages",
            &[],
        )
        .await?;
    Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
}

/// Holds or releases a message; false when it is not (or no longer) queued.
pub async fn set_held<C: GenericClient>(
    client: &C,
    id: u64,
    held: bool,
) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .execute(
            "UPDATE messages SET held = $2 WHERE id = $1",
            &[&(id as i64), &held],
        )
        .await?
        == 1)
}

/// Deletes a message and its body (one statement, so atomic); false when it is not queued.
pub async fn delete<C: GenericClient>(client: &C, id: u64) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(
            "WITH gone AS (DELETE FROM messages WHERE id = $1 RETURNING id),
                  chunks AS (DELETE FROM body_chunks WHERE message_id IN (SELECT id FROM gone))
             SELECT count(*) FROM gone",
            &[&(id as i64)],
        )
        .await?;
    Ok(row.get::<_, i64>(0) == 1)
}
