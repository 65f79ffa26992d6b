//! The postmaster mailbox of the shared queue: one table for the whole cluster, so any node's console
//! shows what any node kept.

use super::PgSpool;
use crate::envelope::QueueId;
use crate::spool::SpoolError;

fn unavailable(e: tokio_postgres::Error) -> SpoolError {
    SpoolError::Unavailable(e.to_string())
}

impl PgSpool {
    /// Copies a queued message's body into the mailbox (idempotent: a second copy changes nothing).
    pub(in crate::spool) async fn deliver_to_postmaster(
        &self,
        id: QueueId,
    ) -> Result<(), SpoolError> {
        let client = self.client().await?;
        let copied = client
            .execute(
                "INSERT INTO postmaster (id, received_at, size, body)
                 SELECT $1, now(), coalesce(sum(length(data)), 0),
                        coalesce(string_agg(data, ''::bytea ORDER BY seq), ''::bytea)
                 FROM body_chunks WHERE message_id = $1
                 ON CONFLICT (id) DO NOTHING",
                &[&(id.0 as i64)],
            )
            .await
            .map_err(unavailable)?;
        let _ = copied;
        Ok(())
    }

    pub(in crate::spool) async fn postmaster_list(
        &self,
    ) -> Result<Vec<(QueueId, u64)>, SpoolError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT id, size FROM postmaster ORDER BY id", &[])
            .await
            .map_err(unavailable)?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    QueueId(r.get::<_, i64>(0) as u64),
                    r.get::<_, i64>(1) as u64,
                )
            })
            .collect())
    }

    pub(in crate::spool) async fn postmaster_read(
        &self,
        id: QueueId,
    ) -> Result<Vec<u8>, SpoolError> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT body FROM postmaster WHERE id = $1",
                &[&(id.0 as i64)],
            )
            .await
            .map_err(unavailable)?
            .map(|r| r.get(0))
            .ok_or(SpoolError::UnknownId(id))
    }
}
