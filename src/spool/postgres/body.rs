//! Bodies in the shared queue: a body that spilled to a temporary file on its way in is stored chunk
//! by chunk before the commit (never whole in memory); reading streams chunks through a small channel
//! fed by a task, so a 50 MB message costs two chunks of memory on the way out too.

use std::path::Path;

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::PgSpool;
use crate::cluster::bodies::{CHUNK, ChunkWriter};
use crate::envelope::QueueId;
use crate::spool::SpoolError;
use crate::spool::body::BodyReader;

fn unavailable(e: tokio_postgres::Error) -> SpoolError {
    SpoolError::Unavailable(e.to_string())
}

impl PgSpool {
    /// Streams a spilled body into `body_chunks` (not live until the commit names its message).
    pub(super) async fn store_spilled(&self, id: QueueId, tmp: &Path) -> Result<(), SpoolError> {
        let client = self.client().await?;
        let mut file = tokio::fs::File::open(tmp).await?;
        let mut writer = ChunkWriter::new(id.0);
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            writer
                .write(&**client, &buf[..n])
                .await
                .map_err(unavailable)?;
        }
        writer.finish(&**client).await.map_err(unavailable)?;
        Ok(())
    }
}

/// The body of `id`: one round trip (a cached prepared statement) for a body of one chunk, which
/// most are; longer ones stream the rest chunk by chunk.
pub(super) async fn open(spool: &PgSpool, id: QueueId) -> Result<BodyReader, SpoolError> {
    let client = spool.client().await?;
    let chunk_of = client
        .prepare_cached("SELECT data FROM body_chunks WHERE message_id = $1 AND seq = $2")
        .await
        .map_err(unavailable)?;
    let first: Option<Vec<u8>> = client
        .query_opt(&chunk_of, &[&(id.0 as i64), &0i32])
        .await
        .map_err(unavailable)?
        .map(|r| r.get(0));
    let first = match first {
        Some(chunk) => chunk,
        None => {
            let exists = client
                .query_opt("SELECT 1 FROM messages WHERE id = $1", &[&(id.0 as i64)])
                .await
                .map_err(unavailable)?;
            return match exists {
                Some(_) => Ok(BodyReader::memory(Vec::new())),
                None => Err(SpoolError::UnknownId(id)),
            };
        }
    };
    if first.len() < CHUNK {
        return Ok(BodyReader::memory(first));
    }
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        if tx.send(Ok(first)).await.is_err() {
            return;
        }
        let mut seq = 1i32;
        loop {
            let next = client.query_opt(&chunk_of, &[&(id.0 as i64), &seq]).await;
            match next {
                Ok(Some(row)) => {
                    if tx.send(Ok(row.get(0))).await.is_err() {
                        return;
                    }
                    seq += 1;
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    return;
                }
            }
        }
    });
    Ok(BodyReader::stream(rx))
}
