//! The recipient-verification cache shared by the nodes (issue 13): the `recipient_cache` table, the
//! writer that stores each node's changes and announces them (`NOTIFY backupmx_recipients`, payload
//! `NODE CHANGE`, the change in `recipients::CacheChange`'s text form), and the full read a node makes
//! when it (re)connects. Changes are written in batches off the RCPT path: a session never waits for
//! this table.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use deadpool_postgres::Pool;
use tokio::sync::mpsc;
use tokio_postgres::GenericClient;
use tracing::warn;

use crate::clock::to_unix_ms;
use crate::recipients::{AddressKey, CacheChange, Known, SharedCache, Snapshot, cache::Entry};

pub const RECIPIENTS_CHANNEL: &str = "backupmx_recipients";

/// Changes waiting to be written; beyond this a change is dropped with a warning (each node still
/// has it, and a later callout or delivery teaches it again).
const BACKLOG: usize = 10_000;
/// Changes written in one transaction at most.
const BATCH: usize = 500;
/// How long a write may take before it counts as failed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// This node's face of the shared cache.
pub struct SharedVerdicts {
    pool: Pool,
    tx: mpsc::Sender<CacheChange>,
}

impl SharedVerdicts {
    /// Starts the writer for node `node` on `pool`.
    pub fn start(pool: Pool, node: &str) -> SharedVerdicts {
        let (tx, rx) = mpsc::channel(BACKLOG);
        tokio::spawn(write_changes(pool.clone(), node.to_string(), rx));
        SharedVerdicts { pool, tx }
    }
}

impl SharedCache for SharedVerdicts {
    fn publish(&self, change: CacheChange) {
        if self.tx.try_send(change).is_err() {
            warn!("shared recipient cache: backlog full, a change was not shared");
        }
    }

    fn snapshot(&self, now_ms: u64) -> Pin<Box<dyn Future<Output = Snapshot> + Send + '_>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(|e| e.to_string())?;
            read_live(&**client, now_ms)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// Splits a notification's payload into the node that made the change and the change.
pub fn parse_notification(payload: &str) -> Option<(&str, CacheChange)> {
    let (node, change) = payload.split_once(' ')?;
    Some((node, CacheChange::parse(change)?))
}

async fn write_changes(pool: Pool, node: String, mut rx: mpsc::Receiver<CacheChange>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let written = tokio::time::timeout(WRITE_TIMEOUT, async {
            let mut client = pool.get().await.map_err(|e| e.to_string())?;
            write(&mut client, &node, &batch)
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                warn!(%error, changes = batch.len(), "shared recipient cache: changes not written")
            }
            Err(_) => warn!(
                changes = batch.len(),
                "shared recipient cache: write timed out"
            ),
        }
        batch.clear();
    }
}

/// Stores `changes` and announces each, in one transaction (the notifications leave at COMMIT);
/// expired rows are swept on the way.
async fn write(
    client: &mut deadpool_postgres::Client,
    node: &str,
    changes: &[CacheChange],
) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let upsert = tx
        .prepare_cached(
            "INSERT INTO recipient_cache (key, verdict, source, learned_by, learned_ms, expires_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (key) DO UPDATE SET verdict = $2, source = $3, learned_by = $4,
                 learned_ms = $5, expires_ms = $6
             WHERE recipient_cache.learned_ms <= $5",
        )
        .await?;
    let forget = tx
        .prepare_cached("DELETE FROM recipient_cache WHERE key = $1")
        .await?;
    let notify = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
    for change in changes {
        match change {
            CacheChange::Learned { key, entry, source } => {
                let (learned, expires) = (entry.learned_ms as i64, entry.expires_ms as i64);
                let verdict = entry.known.label();
                tx.execute(
                    &upsert,
                    &[
                        &key.to_string(),
                        &verdict,
                        source,
                        &node,
                        &learned,
                        &expires,
                    ],
                )
                .await?;
            }
            CacheChange::Forgotten { key } => {
                tx.execute(&forget, &[&key.to_string()]).await?;
            }
        }
        let payload = format!("{node} {}", change.to_text());
        tx.execute(&notify, &[&RECIPIENTS_CHANNEL, &payload])
            .await?;
    }
    let now = to_unix_ms(SystemTime::now()) as i64;
    tx.execute(
        "DELETE FROM recipient_cache WHERE expires_ms <= $1",
        &[&now],
    )
    .await?;
    tx.commit().await
}

/// Every entry still live at `now_ms`.
async fn read_live<C: GenericClient>(
    client: &C,
    now_ms: u64,
) -> Result<Vec<CacheChange>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT key, verdict, source, learned_ms, expires_ms FROM recipient_cache
             WHERE expires_ms > $1",
            &[&(now_ms as i64)],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let key = AddressKey::parse(row.get::<_, &str>(0))?;
            let known = match row.get::<_, &str>(1) {
                "good" => Known::Good,
                "bad" => Known::Bad,
                _ => return None,
            };
            let entry = Entry {
                known,
                learned_ms: row.get::<_, i64>(3) as u64,
                expires_ms: row.get::<_, i64>(4) as u64,
            };
            let source = row.get::<_, String>(2);
            Some(CacheChange::Learned { key, entry, source })
        })
        .collect())
}
