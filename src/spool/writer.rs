//! The group committer: one thread owns the journal and the current data segment. It takes every
//! request waiting in its channel, writes them all, and makes them durable with one fsync per file per
//! batch, so concurrent sessions share fsyncs instead of queueing behind each other's.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use super::codec;
use super::layout::{DATA_MAGIC, JOURNAL_MAGIC, Layout, list_seq, sync_dir};
use super::live::{Freed, Live};
use super::record::{self, BodyLocation, Record};
use super::reserve::{MAINTENANCE_BACKOFF, Reserve, maintenance_due};
use super::segments::SegmentReaders;
use super::staged::{Staged, fail_all, refuse_commits};
use super::{SpoolError, SpoolStats, StoredMessage, Update};

/// A data segment is closed once it holds this much; a new one starts.
const SEGMENT_TARGET: u64 = 64 * 1024 * 1024;
/// The journal is rewritten as a snapshot of the live state once it is this big and mostly history.
const COMPACT_MIN: u64 = 64 * 1024 * 1024;
/// At most this many requests are written in one batch.
const MAX_BATCH: usize = 4096;
/// A batch of state changes only smaller than this waits [`UPDATE_LINGER`] for company.
const UPDATE_BATCH: usize = 64;
const UPDATE_LINGER: std::time::Duration = std::time::Duration::from_micros(500);

fn drain_into(rx: &mut mpsc::Receiver<Request>, batch: &mut Vec<Request>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(req) => batch.push(req),
            Err(_) => break,
        }
    }
}

pub enum PendingBody {
    Memory(Vec<u8>),
    /// A spilled body, already fsync'd in `tmp/`, renamed into `body/` by the committer.
    File {
        tmp: PathBuf,
        len: u64,
    },
}

pub enum Request {
    Commit {
        message: StoredMessage,
        body: PendingBody,
        reply: oneshot::Sender<Result<StoredMessage, SpoolError>>,
    },
    Update {
        updates: Vec<Update>,
        reply: oneshot::Sender<Result<(), SpoolError>>,
    },
}

pub struct Writer {
    pub layout: Layout,
    pub live: Arc<Mutex<Live>>,
    pub stats: Arc<SpoolStats>,
    pub journal: File,
    pub journal_seq: u64,
    pub journal_len: u64,
    pub data: File,
    pub data_seq: u64,
    pub data_len: u64,
    pub readers: SegmentReaders,
    /// Space kept for state changes on a full disk (see `reserve.rs`).
    pub reserve: Reserve,
    /// After a failed rotation or compaction: not before this instant again.
    pub maintenance_retry_at: Option<std::time::Instant>,
}

/// Creates a new file with `magic` as its header, durable (file and directory entry).
pub fn create_with_header(path: &PathBuf, magic: &[u8]) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(path)?;
    file.write_all(magic)?;
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(file)
}

impl Writer {
    pub fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        while let Some(first) = rx.blocking_recv() {
            let mut batch = vec![first];
            drain_into(&mut rx, &mut batch);
            // Nobody waits to say 250 for a batch of state changes only (delivery results,
            // deferrals): let more gather for a moment, so a fast primary costs one fsync per many
            // messages. A commit arriving meanwhile waits at most this long.
            if batch.len() < UPDATE_BATCH
                && batch.iter().all(|r| matches!(r, Request::Update { .. }))
            {
                std::thread::sleep(UPDATE_LINGER);
                drain_into(&mut rx, &mut batch);
            }
            self.maintain();
            self.process(batch);
        }
    }

    /// Rotates the data segment and compacts the journal when due. Failures here are logged and
    /// retried after [`MAINTENANCE_BACKOFF`] (not at every batch: on a full disk that would log
    /// and rewrite a snapshot per batch); the current files stay usable meanwhile.
    fn maintain(&mut self) {
        let now = std::time::Instant::now();
        if !maintenance_due(self.maintenance_retry_at, now) {
            return;
        }
        let mut failed = false;
        if self.data_len >= SEGMENT_TARGET
            && let Err(e) = self.rotate_segment()
        {
            error!(error = %e, retry_in = ?MAINTENANCE_BACKOFF, "could not start a new data segment");
            failed = true;
        }
        if self.journal_len >= COMPACT_MIN
            && let Err(e) = self.compact_journal()
        {
            error!(error = %e, retry_in = ?MAINTENANCE_BACKOFF, "could not compact the journal");
            failed = true;
        }
        self.maintenance_retry_at = failed.then(|| now + MAINTENANCE_BACKOFF);
    }

    fn rotate_segment(&mut self) -> io::Result<()> {
        let seq = self.data_seq + 1;
        let file = create_with_header(&self.layout.data(seq), DATA_MAGIC)?;
        let old = std::mem::replace(&mut self.data_seq, seq);
        self.data = file;
        self.data_len = DATA_MAGIC.len() as u64;
        let unused = !self.lock_live().segment_refs.contains_key(&old);
        if unused {
            self.readers.delete(&self.layout, old)?;
        }
        Ok(())
    }

    fn compact_journal(&mut self) -> io::Result<()> {
        // Decide from the message count first: the snapshot decodes every live message, which must
        // not happen on every batch once the journal is past its size threshold.
        let live_bytes: usize = self.lock_live().messages.len() * 512;
        if (self.journal_len as usize) < live_bytes.saturating_mul(2) {
            return Ok(());
        }
        let snapshot = self.lock_live().snapshot();
        let seq = self.journal_seq + 1;
        let path = self.layout.journal(seq);
        let mut file = create_with_header(&path, JOURNAL_MAGIC)?;
        let mut buf = Vec::new();
        for rec in &snapshot {
            codec::frame(&record::encode(rec), &mut buf);
        }
        if let Err(e) = file.write_all(&buf).and_then(|()| file.sync_data()) {
            // A half-written snapshot must not stay: the next try creates the same name.
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        let old = std::mem::replace(&mut self.journal_seq, seq);
        self.journal = file;
        self.journal_len = (JOURNAL_MAGIC.len() + buf.len()) as u64;
        for s in list_seq(&self.layout.journal_dir(), "log")? {
            if s <= old {
                fs::remove_file(self.layout.journal(s))?;
            }
        }
        info!(messages = snapshot.len(), "journal compacted");
        Ok(())
    }

    fn lock_live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn process(&mut self, batch: Vec<Request>) {
        let data_start = self.data_len;
        let mut staged: Vec<Staged> = Vec::with_capacity(batch.len());
        let mut wrote_data = false;
        let mut renamed = false;
        for req in batch {
            match req {
                Request::Commit {
                    message,
                    body,
                    reply,
                } => {
                    if !self.reserve.allows_commits() {
                        let _ = reply.send(Err(Reserve::refusal()));
                        continue;
                    }
                    let placed = self.place_body(&message, body);
                    match placed {
                        Ok(location) => {
                            wrote_data |= matches!(location, BodyLocation::Segment { .. });
                            renamed |= matches!(location, BodyLocation::File { .. });
                            staged.push(Staged::Commit {
                                message,
                                location,
                                reply,
                            });
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e.into()));
                        }
                    }
                }
                Request::Update { updates, reply } => {
                    staged.push(Staged::Update { updates, reply })
                }
            }
        }
        if let Err(e) = self.sync_bodies(wrote_data, renamed, data_start) {
            // The new bodies are not durable: refuse this batch's new messages. The state changes of
            // messages already on disk do not depend on them and are still recorded (dropping them
            // would mean deliveries repeated after a restart).
            staged = refuse_commits(staged, &e);
            if staged.is_empty() {
                return;
            }
        }
        let mut buf = Vec::new();
        for s in &staged {
            s.encode_into(&mut buf);
        }
        if let Err(e) = self.append_journal(&buf) {
            fail_all(staged, &e);
            return;
        }
        self.apply_and_reply(staged);
    }

    fn place_body(
        &mut self,
        message: &StoredMessage,
        body: PendingBody,
    ) -> io::Result<BodyLocation> {
        match body {
            PendingBody::Memory(bytes) => {
                let offset = self.data_len;
                if let Err(e) = self.data.write_all(&bytes) {
                    // Leave no partial body behind that the next one would be appended after.
                    let _ = self.data.set_len(offset);
                    return Err(e);
                }
                self.data_len += bytes.len() as u64;
                Ok(BodyLocation::Segment {
                    segment: self.data_seq,
                    offset,
                    len: bytes.len() as u64,
                })
            }
            PendingBody::File { tmp, len } => {
                fs::rename(&tmp, self.layout.body(message.id))?;
                Ok(BodyLocation::File { len })
            }
        }
    }

    fn sync_bodies(&mut self, wrote_data: bool, renamed: bool, data_start: u64) -> io::Result<()> {
        if wrote_data {
            if let Err(e) = self.data.sync_data() {
                let _ = self.data.set_len(data_start);
                self.data_len = data_start;
                return Err(e);
            }
            self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        if renamed {
            sync_dir(&self.layout.body_dir())?;
            self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn append_journal(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut result = self.write_journal(buf);
        // Full disk: give the reserve's space to the journal and try once more.
        if matches!(&result, Err(e) if e.kind() == io::ErrorKind::StorageFull)
            && self.reserve.release()
        {
            result = self.write_journal(buf);
        }
        result?;
        self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.journal_len += buf.len() as u64;
        Ok(())
    }

    fn write_journal(&mut self, buf: &[u8]) -> io::Result<()> {
        let result = self
            .journal
            .write_all(buf)
            .and_then(|()| self.journal.sync_data());
        if result.is_err() {
            // A partly written batch must not stay in front of the next one.
            let _ = self.journal.set_len(self.journal_len);
        }
        result
    }

    fn apply_and_reply(&mut self, staged: Vec<Staged>) {
        let mut freed: Vec<Freed> = Vec::new();
        let mut replies: Vec<Box<dyn FnOnce()>> = Vec::with_capacity(staged.len());
        {
            let mut live = self.lock_live();
            for s in staged {
                match s {
                    Staged::Commit {
                        message,
                        location,
                        reply,
                    } => {
                        live.apply(Record::Message {
                            message: message.clone(),
                            body: location,
                        });
                        self.stats.commits.fetch_add(1, Ordering::Relaxed);
                        replies.push(Box::new(move || {
                            let _ = reply.send(Ok(message));
                        }));
                    }
                    Staged::Update { updates, reply } => {
                        for u in updates {
                            freed.push(live.apply(Record::Change(u)));
                        }
                        replies.push(Box::new(move || {
                            let _ = reply.send(Ok(()));
                        }));
                    }
                }
            }
        }
        // Files go before the callers hear back, so "removed" means removed on disk too.
        for f in freed {
            self.delete_freed(f);
        }
        for reply in replies {
            reply();
        }
    }

    /// Deletes files whose last live message was removed (the removal is already durable).
    fn delete_freed(&mut self, freed: Freed) {
        if let Some(seq) = freed.segment
            && seq != self.data_seq
            && let Err(e) = self.readers.delete(&self.layout, seq)
        {
            error!(error = %e, segment = seq, "could not delete a finished data segment");
        }
        if let Some(id) = freed.body_file
            && let Err(e) = fs::remove_file(self.layout.body(id))
        {
            error!(error = %e, %id, "could not delete a finished body file");
        }
    }
}
