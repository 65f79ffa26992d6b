//! Message bodies on their way in ([`BodyWriter`]: memory first, a private temporary file past a
//! threshold) and on their way out ([`BodyReader`]).

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use super::writer::PendingBody;
use super::{Shared, SpoolError};
use crate::envelope::QueueId;

/// Bodies up to this size stay in memory and go into a shared data segment (group-committed);
/// larger ones are streamed to their own file.
pub const INLINE_LIMIT: usize = 256 * 1024;
/// Spilled bodies are written to their file in pieces of about this size.
const SPILL_CHUNK: usize = 256 * 1024;

/// Receives one message body while DATA/BDAT runs. Dropping it discards the body.
pub struct BodyWriter {
    pub(super) id: QueueId,
    pub(super) shared: Arc<Shared>,
    buf: Vec<u8>,
    spill: Option<Spill>,
    len: u64,
}

struct Spill {
    path: PathBuf,
    file: tokio::fs::File,
}

impl BodyWriter {
    pub(super) fn new(id: QueueId, shared: Arc<Shared>) -> BodyWriter {
        BodyWriter {
            id,
            shared,
            buf: Vec::new(),
            spill: None,
            len: 0,
        }
    }

    pub fn id(&self) -> QueueId {
        self.id
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub async fn write(&mut self, data: &[u8]) -> Result<(), SpoolError> {
        self.len += data.len() as u64;
        self.buf.extend_from_slice(data);
        if self.spill.is_none() && self.buf.len() > INLINE_LIMIT {
            let path = self.shared.layout.tmp_body(self.id);
            let file = tokio::fs::File::create(&path).await?;
            self.spill = Some(Spill { path, file });
        }
        if self.buf.len() >= SPILL_CHUNK
            && let Some(spill) = self.spill.as_mut()
        {
            spill.file.write_all(&self.buf).await?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Hands the body over for commit: a spilled body is written out and fsync'd first.
    pub(super) async fn finish(mut self) -> Result<PendingBody, SpoolError> {
        let buf = std::mem::take(&mut self.buf);
        match self.spill.take() {
            None => Ok(PendingBody::Memory(buf)),
            Some(mut spill) => {
                let result = async {
                    spill.file.write_all(&buf).await?;
                    spill.file.sync_all().await?;
                    Ok::<_, io::Error>(())
                }
                .await;
                if let Err(e) = result {
                    let _ = tokio::fs::remove_file(&spill.path).await;
                    return Err(e.into());
                }
                Ok(PendingBody::File {
                    tmp: spill.path.clone(),
                    len: self.len,
                })
            }
        }
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        if let Some(spill) = self.spill.take() {
            // An abandoned body (client gone mid-DATA, refused message) leaves nothing behind.
            let _ = std::fs::remove_file(&spill.path);
        }
    }
}

/// Reads a stored body: the exact bytes the session wrote, Received header included.
pub struct BodyReader {
    inner: ReaderInner,
}

enum ReaderInner {
    Memory(io::Cursor<Vec<u8>>),
    File(tokio::fs::File),
}

impl BodyReader {
    pub(super) fn memory(bytes: Vec<u8>) -> BodyReader {
        BodyReader {
            inner: ReaderInner::Memory(io::Cursor::new(bytes)),
        }
    }
    pub(super) fn file(file: tokio::fs::File) -> BodyReader {
        BodyReader {
            inner: ReaderInner::File(file),
        }
    }
}

impl AsyncRead for BodyReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            ReaderInner::Memory(cursor) => Pin::new(cursor).poll_read(cx, buf),
            ReaderInner::File(file) => Pin::new(file).poll_read(cx, buf),
        }
    }
}
