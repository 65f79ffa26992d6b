//! Bodies in the shared queue: a body that spilled to a temporary file on its way in is stored chunk
//! by chunk before the commit (never whole in memory); reading streams chunks through a small channel
//! fed by a task, so a 50 MB message costs two chunks of memory on the way out too.

use std::path::Path;

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::PgSpool;
use crate::cluster::bodies::{CHUNK, ChunkReader, ChunkWriter};
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

pub(super) async fn open(spool: &PgSpool, id: QueueId) -> Result<BodyReader, SpoolError> {
    let client = spool.client().await?;
    let exists = client
        .query_opt("SELECT 1 FROM messages WHERE id = $1", &[&(id.0 as i64)])
        .await
        .map_err(unavailable)?;
    if exists.is_none() {
        return Err(SpoolError::UnknownId(id));
    }
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        let mut reader = ChunkReader::new(id.0);
        loop {
            match reader.next_chunk(&**client).await {
                Ok(Some(chunk)) => {
                    if tx.send(Ok(chunk)).await.is_err() {
                        return;
                    }
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
