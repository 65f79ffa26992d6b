//! Open data segments for reading, kept between reads: a delivery reads a small body with one `pread`
//! instead of an open, a read and a close, and without a hop to a blocking thread.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use super::layout::Layout;

#[derive(Debug, Default, Clone)]
pub struct SegmentReaders {
    open: Arc<Mutex<HashMap<u64, Arc<File>>>>,
}

impl SegmentReaders {
    /// Reads `len` bytes at `offset` of segment `seq`. Bodies in segments are at most
    /// [`super::INLINE_LIMIT`] bytes and normally in the page cache, so the read is done in place.
    pub fn read(&self, layout: &Layout, seq: u64, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let file = self.file(layout, seq)?;
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    fn file(&self, layout: &Layout, seq: u64) -> io::Result<Arc<File>> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = open.get(&seq) {
            return Ok(file.clone());
        }
        let file = Arc::new(File::open(layout.data(seq))?);
        open.insert(seq, file.clone());
        Ok(file)
    }

    /// Deletes a segment file and forgets its reader, under the lock that `read` opens files under:
    /// a reader either got the file before (and keeps reading its open handle) or finds it gone, and
    /// no handle to a deleted segment stays cached (which would hold its disk space).
    pub fn delete(&self, layout: &Layout, seq: u64) -> io::Result<()> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.remove(&seq);
        std::fs::remove_file(layout.data(seq))
    }
}
