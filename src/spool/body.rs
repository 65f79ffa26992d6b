//! Message bodies on their way in ([`BodyWriter`]: memory first, a private temporary file past a
//! threshold) and on their way out ([`BodyReader`]).

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc;

use super::SpoolError;
use super::layout::Layout;
use super::writer::PendingBody;
use crate::envelope::QueueId;

/// Bodies up to this size stay in memory and go into a shared data segment (group-committed);
/// larger ones are streamed to their own file.
pub const INLINE_LIMIT: usize = 256 * 1024;
/// Spilled bodies are written to their file in pieces of about this size.
const SPILL_CHUNK: usize = 256 * 1024;

/// Receives one message body while DATA/BDAT runs. Dropping it discards the body.
pub struct BodyWriter {
    pub(super) id: QueueId,
    /// Where a body too large for memory spills to (the spool directory's `tmp/`, either backend).
    layout: Layout,
    buf: Vec<u8>,
    spill: Option<Spill>,
    len: u64,
}

struct Spill {
    path: PathBuf,
    file: tokio::fs::File,
}

impl BodyWriter {
    pub(super) fn new(id: QueueId, layout: Layout) -> BodyWriter {
        BodyWriter {
            id,
            layout,
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
            let path = self.layout.tmp_body(self.id);
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
    /// Chunks of the shared queue, fed by a task (see `postgres/body.rs`).
    Chunks {
        current: io::Cursor<Vec<u8>>,
        rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    },
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
    pub(super) fn stream(rx: mpsc::Receiver<io::Result<Vec<u8>>>) -> BodyReader {
        BodyReader {
            inner: ReaderInner::Chunks {
                current: io::Cursor::new(Vec::new()),
                rx,
            },
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
            ReaderInner::Chunks { current, rx } => loop {
                if (current.position() as usize) < current.get_ref().len() {
                    return Pin::new(current).poll_read(cx, buf);
                }
                match rx.poll_recv(cx) {
                    Poll::Ready(Some(Ok(chunk))) => *current = io::Cursor::new(chunk),
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                    // The end of the body.
                    Poll::Ready(None) => return Poll::Ready(Ok(())),
                    Poll::Pending => return Poll::Pending,
                }
            },
        }
    }
}
