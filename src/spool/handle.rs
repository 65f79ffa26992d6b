//! The local backend's handle ([`LocalSpool`]): opening (lock + recovery), queue-id allocation, and the async entry points that
//! hand work to the group committer and read bodies back.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::body::{BodyReader, BodyWriter};
use super::layout::{DATA_MAGIC, JOURNAL_MAGIC, Layout, sync_dir};
use super::live::Live;
use super::record::BodyLocation;
use super::recover::{recover, sweep};
use super::segments::SegmentReaders;
use super::writer::{Request, Writer, create_with_header};
use super::{SpoolError, SpoolStats, StoredMessage, Update};
use crate::clock::{Clock, SystemClock, to_unix_ms};
use crate::envelope::{Envelope, QueueId};

/// Requests wait here while the committer is busy; a full channel makes senders wait (backpressure).
const CHANNEL_DEPTH: usize = 65_536;

pub(crate) struct Shared {
    pub layout: Layout,
    live: Arc<Mutex<Live>>,
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    last_id: AtomicU64,
    pub stats: Arc<SpoolStats>,
    segments: SegmentReaders,
    quarantined: Vec<String>,
    /// Holds the exclusive lock on `LOCK` for as long as the spool is open.
    _lock: File,
}

/// The local backend: the journal and data segments in one directory. Cheap to clone.
#[derive(Clone)]
pub(crate) struct LocalSpool {
    shared: Arc<Shared>,
}

impl LocalSpool {
    /// Opens (creating if needed) the spool at `dir`, locks it against a second process, recovers every
    /// live message and cleans up leftovers of a crash.
    pub fn open(dir: &Path) -> Result<(LocalSpool, Vec<StoredMessage>), SpoolError> {
        let layout = Layout::new(dir);
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(layout.lock_file())?;
        if lock.try_lock().is_err() {
            return Err(SpoolError::Locked(dir.to_path_buf()));
        }
        layout.create_all()?;
        let recovered = recover(&layout)?;
        let live = recovered.live;

        let (journal, journal_seq, journal_len, compacted) =
            start_journal(&layout, &live, &recovered.journals, recovered.last_journal)?;
        let (data, data_seq, data_len) = start_segment(&layout, &recovered.segments)?;
        sweep(&layout, &live, compacted.then_some(journal_seq), data_seq)?;
        sync_dir(&layout.journal_dir())?;
        sync_dir(&layout.data_dir())?;

        let mut messages: Vec<StoredMessage> = live
            .messages
            .values()
            .map(|e| e.message.to_message())
            .collect();
        messages.sort_unstable_by_key(|m| m.id);
        let max_id = messages.last().map_or(0, |m| m.id.0);
        info!(dir = %dir.display(), messages = messages.len(), "spool opened");

        let live = Arc::new(Mutex::new(live));
        let stats = Arc::new(SpoolStats::default());
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let readers = SegmentReaders::default();
        let writer = Writer {
            layout: layout.clone(),
            live: live.clone(),
            stats: stats.clone(),
            journal,
            journal_seq,
            journal_len,
            data,
            data_seq,
            data_len,
            readers: readers.clone(),
            reserve: super::reserve::Reserve::open(&layout),
            maintenance_retry_at: None,
        };
        std::thread::Builder::new()
            .name("spool-commit".into())
            .spawn(move || writer.run(rx))?;
        let shared = Arc::new(Shared {
            layout,
            live,
            tx: Mutex::new(Some(tx)),
            last_id: AtomicU64::new(max_id),
            stats,
            segments: readers,
            quarantined: recovered.quarantined,
            _lock: lock,
        });
        Ok((LocalSpool { shared }, messages))
    }

    /// Starts a new body; its queue id is allocated now (the Received header names it).
    pub fn body_writer(&self) -> BodyWriter {
        BodyWriter::new(self.next_id(), self.shared.layout.clone())
    }

    /// Queue ids increase with arrival: milliseconds since the epoch in the high bits, a counter below,
    /// and never below an id already used (so a clock stepping back cannot reorder the queue).
    fn next_id(&self) -> QueueId {
        let floor = to_unix_ms(SystemClock.now()) << 16;
        let mut last = self.shared.last_id.load(Ordering::Relaxed);
        loop {
            let next = floor.max(last + 1);
            match self.shared.last_id.compare_exchange_weak(
                last,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return QueueId(next),
                Err(actual) => last = actual,
            }
        }
    }

    /// Makes the message durable: returns only after body, envelope and directory entries are fsync'd.
    pub async fn commit(
        &self,
        envelope: Envelope,
        body: BodyWriter,
    ) -> Result<StoredMessage, SpoolError> {
        let id = body.id;
        let size = body.len();
        let pending = body.finish().await?;
        let message = StoredMessage {
            id,
            envelope,
            attempts: Vec::new(),
            held: false,
            size,
        };
        let (reply, rx) = oneshot::channel();
        self.send(Request::Commit {
            message,
            body: pending,
            reply,
        })
        .await?;
        rx.await.map_err(|_| SpoolError::Closed)?
    }

    /// Applies state changes durably (returns after fsync).
    pub async fn update(&self, updates: Vec<Update>) -> Result<(), SpoolError> {
        if updates.is_empty() {
            return Ok(());
        }
        let (reply, rx) = oneshot::channel();
        self.send(Request::Update { updates, reply }).await?;
        rx.await.map_err(|_| SpoolError::Closed)?
    }

    async fn send(&self, request: Request) -> Result<(), SpoolError> {
        // A full channel makes the caller wait: backpressure on sessions when the disk is slow.
        let tx = self
            .shared
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let tx = tx.ok_or(SpoolError::Closed)?;
        tx.send(request).await.map_err(|_| SpoolError::Closed)
    }

    /// Opens a stored body for reading.
    pub async fn open_body(&self, id: QueueId) -> Result<BodyReader, SpoolError> {
        let location = {
            let live = self.shared.live.lock().unwrap_or_else(|e| e.into_inner());
            live.messages
                .get(&id)
                .map(|e| e.body)
                .ok_or(SpoolError::UnknownId(id))?
        };
        match location {
            BodyLocation::Segment {
                segment,
                offset,
                len,
            } => {
                let bytes = self
                    .shared
                    .segments
                    .read(&self.shared.layout, segment, offset, len)?;
                Ok(BodyReader::memory(bytes))
            }
            BodyLocation::File { .. } => {
                let file = tokio::fs::File::open(self.shared.layout.body(id)).await?;
                Ok(BodyReader::file(file))
            }
        }
    }

    /// Copies a message into the local postmaster mailbox (`postmaster/<id>.eml`, fsync'd).
    pub async fn deliver_to_postmaster(&self, id: QueueId) -> Result<(), SpoolError> {
        let mut reader = self.open_body(id).await?;
        let dir = self.shared.layout.postmaster_dir();
        let tmp = dir.join(format!(".{id}.tmp"));
        let dest = dir.join(format!("{id}.eml"));
        let mut file = tokio::fs::File::create(&tmp).await?;
        tokio::io::copy(&mut reader, &mut file).await?;
        file.sync_all().await?;
        drop(file);
        tokio::fs::rename(&tmp, &dest).await?;
        tokio::task::spawn_blocking(move || sync_dir(&dir))
            .await
            .map_err(|e| SpoolError::Io(std::io::Error::other(e)))??;
        Ok(())
    }

    /// The postmaster mailbox: (id, size in bytes) of each message, oldest first.
    pub fn postmaster_list(&self) -> Result<Vec<(QueueId, u64)>, SpoolError> {
        let dir = self.shared.layout.postmaster_dir();
        let mut out = Vec::new();
        for id in super::layout::list_ids(&dir)? {
            let size = fs::metadata(dir.join(format!("{id}.eml")))?.len();
            out.push((id, size));
        }
        Ok(out)
    }

    /// One message of the postmaster mailbox.
    pub async fn postmaster_read(&self, id: QueueId) -> Result<Vec<u8>, SpoolError> {
        let path = self
            .shared
            .layout
            .postmaster_dir()
            .join(format!("{id}.eml"));
        match tokio::fs::read(path).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SpoolError::UnknownId(id)),
            other => Ok(other?),
        }
    }

    /// Counters: commits, group commits, fsyncs.
    pub fn stats(&self) -> &SpoolStats {
        &self.shared.stats
    }

    /// What recovery set aside at start (one line each), for the console.
    pub fn quarantined(&self) -> &[String] {
        &self.shared.quarantined
    }

    pub fn dir(&self) -> &Path {
        &self.shared.layout.root
    }

    /// Stops the committer once the requests already sent are written. Later calls fail with Closed.
    pub fn close(&self) {
        self.shared
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// Every start writes the live state into a fresh journal, so replay stays short; a crash during this
/// step only leaves a duplicate of the same state (replaying a message record twice is harmless). When
/// the disk is too full for that, the spool goes on appending to the newest old journal (cut back to
/// its intact records) rather than refusing to start. Returns the file, its sequence number, its
/// length, and whether it is a fresh compacted journal.
fn start_journal(
    layout: &Layout,
    live: &Live,
    journals: &[u64],
    last: Option<(u64, u64)>,
) -> Result<(File, u64, u64, bool), SpoolError> {
    let seq = journals.last().map_or(1, |s| s.saturating_add(1));
    let path = layout.journal(seq);
    let mut snapshot = Vec::new();
    for rec in live.snapshot() {
        super::codec::frame(&super::record::encode(&rec), &mut snapshot);
    }
    let fresh = create_with_header(&path, JOURNAL_MAGIC).and_then(|mut file| {
        file.write_all(&snapshot)?;
        file.sync_data()?;
        sync_dir(&layout.journal_dir())?;
        Ok(file)
    });
    match (fresh, last) {
        (Ok(file), _) => Ok((
            file,
            seq,
            (JOURNAL_MAGIC.len() + snapshot.len()) as u64,
            true,
        )),
        (Err(e), Some((old, len))) => {
            warn!(error = %e, "cannot write a fresh journal; appending to the old one");
            let _ = fs::remove_file(&path);
            let file = OpenOptions::new().append(true).open(layout.journal(old))?;
            file.set_len(len)?;
            file.sync_all()?;
            Ok((file, old, len, false))
        }
        (Err(e), None) => Err(e.into()),
    }
}

/// A fresh data segment, or (disk full) the newest old one, appended to.
fn start_segment(layout: &Layout, segments: &[u64]) -> Result<(File, u64, u64), SpoolError> {
    let seq = segments.last().map_or(1, |s| s.saturating_add(1));
    match (
        create_with_header(&layout.data(seq), DATA_MAGIC),
        segments.last(),
    ) {
        (Ok(file), _) => Ok((file, seq, DATA_MAGIC.len() as u64)),
        (Err(e), Some(&old)) => {
            warn!(error = %e, "cannot start a fresh data segment; appending to the old one");
            let _ = fs::remove_file(layout.data(seq));
            let file = OpenOptions::new().append(true).open(layout.data(old))?;
            let len = file.metadata()?.len();
            Ok((file, old, len))
        }
        (Err(e), None) => Err(e.into()),
    }
}
