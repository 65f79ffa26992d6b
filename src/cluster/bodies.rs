//! Message bodies in the shared queue, in chunks of [`CHUNK`] bytes: written while the session
//! receives them (so a 50 MB message is never whole in memory) and read back one chunk per round trip.
//! Chunks without a `messages` row (a session that died before its commit) are orphans, swept later.

use tokio_postgres::GenericClient;

/// The chunk size: large enough that a round trip per chunk is cheap, small enough to bound memory.
pub const CHUNK: usize = 256 * 1024;

/// Streams one body into `body_chunks`, a chunk at a time. Each chunk is its own autocommit insert:
/// none of them is live until the commit transaction inserts the message row.
pub struct ChunkWriter {
    id: i64,
    next_seq: i32,
    buffer: Vec<u8>,
    written: u64,
}

impl ChunkWriter {
    pub fn new(id: u64) -> ChunkWriter {
        ChunkWriter {
            id: id as i64,
            next_seq: 0,
            buffer: Vec::new(),
            written: 0,
        }
    }

    /// Buffers `bytes`, inserting each full chunk.
    pub async fn write<C: GenericClient>(
        &mut self,
        client: &C,
        mut bytes: &[u8],
    ) -> Result<(), tokio_postgres::Error> {
        while !bytes.is_empty() {
            let room = CHUNK - self.buffer.len();
            let take = room.min(bytes.len());
            self.buffer.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buffer.len() == CHUNK {
                self.flush(client).await?;
            }
        }
        Ok(())
    }

    async fn flush<C: GenericClient>(&mut self, client: &C) -> Result<(), tokio_postgres::Error> {
        client
            .execute(
                "INSERT INTO body_chunks (message_id, seq, data) VALUES ($1, $2, $3)",
                &[&self.id, &self.next_seq, &self.buffer],
            )
            .await?;
        self.next_seq += 1;
        self.written += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    /// Writes the last partial chunk; returns the body's length.
    pub async fn finish<C: GenericClient>(
        mut self,
        client: &C,
    ) -> Result<u64, tokio_postgres::Error> {
        if !self.buffer.is_empty() {
            self.flush(client).await?;
        }
        Ok(self.written)
    }
}

/// Reads a stored body chunk by chunk, in order.
pub struct ChunkReader {
    id: i64,
    next_seq: i32,
}

impl ChunkReader {
    pub fn new(id: u64) -> ChunkReader {
        ChunkReader {
            id: id as i64,
            next_seq: 0,
        }
    }

    /// The next chunk, or None at the end of the body.
    pub async fn next_chunk<C: GenericClient>(
        &mut self,
        client: &C,
    ) -> Result<Option<Vec<u8>>, tokio_postgres::Error> {
        let row = client
            .query_opt(
                "SELECT data FROM body_chunks WHERE message_id = $1 AND seq = $2",
                &[&self.id, &self.next_seq],
            )
            .await?;
        self.next_seq += 1;
        Ok(row.map(|r| r.get(0)))
    }
}

/// Deletes chunks that no message names and that are older than `older_than_s` seconds.
pub async fn sweep_orphans<C: GenericClient>(
    client: &C,
    older_than_s: f64,
) -> Result<u64, tokio_postgres::Error> {
    client
        .execute(
            "DELETE FROM body_chunks c
             WHERE c.written_at < now() - $1 * interval '1 second'
               AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = c.message_id)",
            &[&older_than_s],
        )
        .await
}
