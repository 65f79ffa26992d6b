//! The spool directory's layout: which file lives where, and the durable-file helpers (fsync of files
//! and of the directories that name them).

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::envelope::QueueId;

/// Magic + format version at the start of every journal file.
pub const JOURNAL_MAGIC: &[u8; 8] = b"BMXJ0001";
/// Magic + format version at the start of every data segment.
pub const DATA_MAGIC: &[u8; 8] = b"BMXD0001";

#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
        }
    }
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("LOCK")
    }
    pub fn journal_dir(&self) -> PathBuf {
        self.root.join("journal")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }
    pub fn body_dir(&self) -> PathBuf {
        self.root.join("body")
    }
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn postmaster_dir(&self) -> PathBuf {
        self.root.join("postmaster")
    }
    pub fn quarantine_dir(&self) -> PathBuf {
        self.root.join("quarantine")
    }
    pub fn journal(&self, seq: u64) -> PathBuf {
        self.journal_dir().join(format!("{seq:016X}.log"))
    }
    pub fn data(&self, seq: u64) -> PathBuf {
        self.data_dir().join(format!("{seq:016X}.dat"))
    }
    pub fn body(&self, id: QueueId) -> PathBuf {
        self.body_dir().join(format!("{id}.eml"))
    }
    pub fn tmp_body(&self, id: QueueId) -> PathBuf {
        self.tmp_dir().join(format!("{id}.tmp"))
    }

    /// Creates every directory (and makes their entries durable).
    pub fn create_all(&self) -> io::Result<()> {
        for dir in [
            self.journal_dir(),
            self.data_dir(),
            self.body_dir(),
            self.tmp_dir(),
            self.postmaster_dir(),
            self.quarantine_dir(),
        ] {
            if !dir.is_dir() {
                fs::create_dir_all(&dir)?;
                sync_dir(&self.root)?;
            }
        }
        Ok(())
    }
}

/// fsync of a directory: makes the creation, rename or removal of its entries durable.
///
/// The spool keeps its own durability code instead of `crate::durable::replace` (which rewrites a
/// small file whole): the journal and data segments are appended and fsync'd once per batch of many
/// messages (group commit), bodies and postmaster copies are streamed to disk, and each directory is
/// fsync'd once per batch, not once per file.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The sequence numbers of files named `<16 hex digits>.<ext>` in `dir`, sorted.
pub fn list_seq(dir: &Path, ext: &str) -> io::Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(ext).and_then(|s| s.strip_suffix('.'))
            && let Ok(seq) = u64::from_str_radix(stem, 16)
        {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// Queue ids of files named `<id>.eml` in `dir`.
pub fn list_ids(dir: &Path) -> io::Result<Vec<QueueId>> {
    Ok(list_seq(dir, "eml")?.into_iter().map(QueueId).collect())
}
