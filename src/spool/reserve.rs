//! What the committer does about a full disk. The space reserve: a file of [`RESERVE_BYTES`] kept in the spool directory so that on a
//! full disk the state changes (delivery results, removals) can still be journalled. Without it a
//! full disk could not record a delivery, so nothing would ever be removed (no space freed) and
//! every restart would deliver the same mail again.
//!
//! The committer releases the reserve (deletes the file) when a journal write fails for lack of
//! space and retries that write once; new messages are refused (452 4.3.1) until the reserve could
//! be put back, which is tried at most once per [`RECREATE_INTERVAL`]. And the back-off of segment
//! rotation and journal compaction after a failure, so a full disk does not make them fail (and log)
//! at every batch.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::SpoolError;
use super::layout::{Layout, sync_dir};

/// About a thousand messages' delivery results and removals; once removals are durable their
/// bodies are deleted, which frees more.
pub const RESERVE_BYTES: u64 = 256 * 1024;
/// How often a missing reserve is tried again while commits are refused.
const RECREATE_INTERVAL: Duration = Duration::from_secs(1);
/// How long maintenance (rotation, compaction) waits after a failure before trying again.
pub const MAINTENANCE_BACKOFF: Duration = Duration::from_secs(30);

/// Whether maintenance may run at `now`, given when a failure said to try again.
pub fn maintenance_due(retry_at: Option<Instant>, now: Instant) -> bool {
    retry_at.is_none_or(|at| now >= at)
}

pub struct Reserve {
    path: PathBuf,
    held: bool,
    last_try: Option<Instant>,
}

impl Reserve {
    /// Takes the reserve left by an earlier run, or creates it (not fatal when the disk is full:
    /// new messages are refused until it exists).
    pub fn open(layout: &Layout) -> Reserve {
        let mut reserve = Reserve {
            path: layout.root.join("reserve"),
            held: false,
            last_try: None,
        };
        let intact = fs::metadata(&reserve.path).is_ok_and(|m| m.len() == RESERVE_BYTES);
        reserve.held = intact || reserve.create(Instant::now());
        reserve
    }

    /// Whether new messages may be committed: only while the reserve is held (put back if it is
    /// missing and the last try is old enough).
    pub fn allows_commits(&mut self) -> bool {
        let now = Instant::now();
        if !self.held && retry_due(self.last_try, now) {
            self.held = self.create(now);
            if self.held {
                info!("spool space reserve restored; accepting mail again");
            }
        }
        self.held
    }

    /// The error a commit gets while the reserve is missing (452 4.3.1 to the client).
    pub fn refusal() -> SpoolError {
        io::Error::new(io::ErrorKind::StorageFull, "spool space reserve in use").into()
    }

    /// Gives the reserve's space back to the file system; false when there was none to give.
    pub fn release(&mut self) -> bool {
        if !self.held {
            return false;
        }
        self.held = false;
        self.last_try = Some(Instant::now());
        match fs::remove_file(&self.path) {
            Ok(()) => {
                warn!(
                    bytes = RESERVE_BYTES,
                    "spool disk full: released the space reserve to record state changes; new mail is refused until it is back"
                );
                true
            }
            Err(e) => {
                warn!(error = %e, "could not release the spool space reserve");
                false
            }
        }
    }

    fn create(&mut self, now: Instant) -> bool {
        self.last_try = Some(now);
        match write_reserve(&self.path) {
            Ok(()) => true,
            Err(_) => {
                // Whatever part of it was written is space the journal needs more.
                let _ = fs::remove_file(&self.path);
                false
            }
        }
    }
}

/// Writes real blocks (not a sparse file): the space must be taken now to be given back later.
fn write_reserve(path: &PathBuf) -> io::Result<()> {
    let mut file = File::create(path)?;
    let block = vec![0u8; 64 * 1024];
    let mut left = RESERVE_BYTES;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Whether a missing reserve may be tried again at `now`.
fn retry_due(last_try: Option<Instant>, now: Instant) -> bool {
    last_try.is_none_or(|at| now.saturating_duration_since(at) >= RECREATE_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_waits_out_its_backoff_after_a_failure() {
        let now = Instant::now();
        assert!(maintenance_due(None, now));
        assert!(!maintenance_due(Some(now + MAINTENANCE_BACKOFF), now));
        assert!(maintenance_due(Some(now), now));
        assert!(maintenance_due(Some(now), now + MAINTENANCE_BACKOFF));
    }

    #[test]
    fn a_missing_reserve_is_retried_at_most_once_per_interval() {
        let now = Instant::now();
        assert!(retry_due(None, now));
        assert!(!retry_due(Some(now), now));
        assert!(retry_due(Some(now), now + RECREATE_INTERVAL));
    }

    #[test]
    fn released_then_restored() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let mut reserve = Reserve::open(&layout);
        let path = dir.path().join("reserve");
        assert_eq!(fs::metadata(&path).unwrap().len(), RESERVE_BYTES);
        assert!(reserve.allows_commits());
        assert!(reserve.release());
        assert!(!path.exists());
        assert!(!reserve.release(), "nothing left to release");
        // Just released: not tried again at once, so commits stay refused for now.
        assert!(!reserve.allows_commits());
        reserve.last_try = None;
        assert!(reserve.allows_commits());
        assert!(path.exists());
        // A later run takes the existing file over.
        assert!(Reserve::open(&layout).allows_commits());
    }
}
