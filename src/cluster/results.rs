//! Delivery results into the shared queue, fenced by the destination's lease: the transaction first
//! takes a share lock on the lease row with this node's epoch, so a take-over (which updates that row)
//! either waits for this commit or has already happened, and then nothing is written. A message whose
//! last pending recipient is settled leaves the queue, with its body, in the same transaction.

use tokio_postgres::Client;

/// A recipient's final state as stored (`recipients.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Delivered = 1,
    Failed = 2,
}

/// One change a delivery attempt makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Recipient {
        id: u64,
        index: u16,
        settled: Settled,
        reply: String,
        at_ms: u64,
    },
    Attempt {
        id: u64,
        at_ms: u64,
        host: String,
        result: String,
    },
}

/// What [`record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Written; these messages were finished and removed.
    Written { removed: Vec<u64> },
    /// The lease is no longer this node's (taken over, or expired): nothing was written.
    Fenced,
}

/// Records `changes` for `destination` under `epoch`, atomically.
pub async fn record(
    client: &mut Client,
    node: &str,
    destination: &str,
    epoch: u64,
    changes: &[Change],
) -> Result<Recorded, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let epoch = epoch as i64;
    let fence = tx
        .query_opt(
            "SELECT 1 FROM leases WHERE destination = $1 AND shard = 0 AND node = $2 AND epoch = $3
             AND expires_at >= now() FOR SHARE",
            &[&destination, &node, &epoch],
        )
        .await?;
    if fence.is_none() {
        tx.rollback().await?;
        return Ok(Recorded::Fenced);
    }
    let mut touched: Vec<i64> = Vec::new();
    for change in changes {
        match change {
            Change::Recipient {
                id,
                index,
                settled,
                reply,
                at_ms,
            } => {
                tx.execute(
                    "UPDATE recipients SET status = $3, reply = $4, at_ms = $5
                     WHERE message_id = $1 AND idx = $2 AND status = 0",
                    &[
                        &(*id as i64),
                        &(*index as i16),
                        &(*settled as i16),
                        reply,
                        &(*at_ms as i64),
                    ],
                )
                .await?;
                touched.push(*id as i64);
            }
            Change::Attempt {
                id,
                at_ms,
                host,
                result,
            } => {
                tx.execute(
                    "INSERT INTO attempts (message_id, at_ms, host, result) VALUES ($1, $2, $3, $4)",
                    &[&(*id as i64), &(*at_ms as i64), host, result],
                )
                .await?;
            }
        }
    }
    touched.sort_unstable();
    touched.dedup();
    let removed: Vec<i64> = tx
        .query(
            "DELETE FROM messages m WHERE m.id = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.status = 0)
             RETURNING m.id",
            &[&touched],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !removed.is_empty() {
        tx.execute(
            "DELETE FROM body_chunks WHERE message_id = ANY($1)",
            &[&removed],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Recorded::Written {
        removed: removed.into_iter().map(|id| id as u64).collect(),
    })
}
