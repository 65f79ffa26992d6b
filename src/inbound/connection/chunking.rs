//! BDAT on the wire: reads exactly the announced number of octets (first from what the line framer
//! already holds, then from the socket, never more), stores or discards them, and answers after each
//! chunk; the LAST chunk commits like the final dot of DATA.

use tokio::time::Instant;

use super::{Connection, READ_CHUNK, Stop};
use crate::checks::Capture;
use crate::inbound::chunk::ChunkChecker;
use crate::inbound::replies;
use crate::spool::{BodyWriter, SpoolError};
use backupmx_smtp::Reply;

/// A message body arriving in chunks.
pub(super) struct ChunkBody {
    writer: BodyWriter,
    checker: ChunkChecker,
    /// The first spool write error; the message will be refused with it at LAST.
    write_error: Option<SpoolError>,
    /// Our forged Authentication-Results removed, a bounded copy for the sender checks.
    capture: Capture,
    filtered: Vec<u8>,
}

impl ChunkBody {
    async fn write(&mut self, data: &[u8]) {
        self.checker.feed(data);
        self.filtered.clear();
        self.capture.feed(data, &mut self.filtered);
        self.store_filtered().await;
    }

    async fn store_filtered(&mut self) {
        if self.write_error.is_none() && !self.filtered.is_empty() {
            self.write_error = self.writer.write(&self.filtered).await.err();
        }
    }
}

impl Connection {
    /// Receives one accepted chunk; `reply` is the session's answer for a non-LAST chunk.
    pub(super) async fn receive_chunk(
        &mut self,
        size: u64,
        last: bool,
        reply: Reply,
    ) -> Result<(), Stop> {
        let mut body = match self.chunk_body.take() {
            Some(body) => body,
            None => self.start_chunk_body().await,
        };
        let mut remaining = size;
        let mut piece = Vec::new();
        while remaining > 0 {
            self.next_piece(remaining, &mut piece).await?;
            body.write(&piece).await;
            remaining -= piece.len() as u64;
        }
        if !last {
            self.chunk_body = Some(body);
            reply.write_to(&mut self.out);
            return Ok(());
        }
        let reply = self.finish_chunks(body).await;
        reply.write_to(&mut self.out);
        Ok(())
    }

    /// Reads and drops the chunk of a refused BDAT, so its bytes are never taken for commands.
    pub(super) async fn discard_chunk(&mut self, size: u64) -> Result<(), Stop> {
        let mut remaining = size;
        let mut piece = Vec::new();
        while remaining > 0 {
            self.next_piece(remaining, &mut piece).await?;
            remaining -= piece.len() as u64;
        }
        Ok(())
    }

    async fn start_chunk_body(&mut self) -> ChunkBody {
        let mut writer = self.ctx.spool.body_writer();
        let header = self
            .session
            .received_header(writer.id(), self.abuse.clock().now());
        let mut capture = self.new_capture();
        let mut filtered = Vec::new();
        capture.feed(header.as_bytes(), &mut filtered);
        let write_error = writer.write(&filtered).await.err();
        ChunkBody {
            writer,
            checker: ChunkChecker::new(),
            write_error,
            capture,
            filtered,
        }
    }

    async fn finish_chunks(&mut self, mut body: ChunkBody) -> Reply {
        if body.checker.needs_final_crlf() {
            // The content must end a line before it is relayed with DATA; add the missing CRLF.
            body.filtered.clear();
            body.capture.feed(b"\r\n", &mut body.filtered);
            body.store_filtered().await;
        }
        body.filtered.clear();
        body.capture.finish(&mut body.filtered);
        body.store_filtered().await;
        match self
            .session
            .end_data(body.checker.finish(), self.abuse.clock().now())
        {
            Err(refusal) => refusal,
            Ok(envelope) => match body.write_error {
                Some(error) => {
                    tracing::warn!(peer = %self.peer, %error, "spool write failed during BDAT");
                    replies::spool_failure(&error)
                }
                None => {
                    self.check_and_commit(envelope, body.writer, &body.capture)
                        .await
                }
            },
        }
    }

    /// The next at most `remaining` chunk octets: bytes the framer already buffered first, then one read.
    async fn next_piece(&mut self, remaining: u64, piece: &mut Vec<u8>) -> Result<(), Stop> {
        let limit = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(READ_CHUNK);
        if self.framer.has_buffered() {
            let mut buffered = self.framer.take_rest();
            let take = limit.min(buffered.len());
            self.framer.push(&buffered[take..]);
            buffered.truncate(take);
            *piece = buffered;
            return Ok(());
        }
        piece.resize(limit, 0);
        let deadline = Instant::now() + self.timing.data_timeout;
        let n = self.read_into(piece, deadline).await?;
        piece.truncate(n);
        Ok(())
    }
}
