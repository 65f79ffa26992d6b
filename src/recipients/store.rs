//! The cache on disk: `<spool>/recipients-cache`, replaced atomically through `crate::durable` (write
//! a temporary file, fsync it, rename it over the old one, fsync the directory) so a crash leaves the
//! old or the new file.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::error::CacheError;

/// The cache file's name in the spool directory.
pub const CACHE_FILE: &str = "recipients-cache";

pub fn cache_path(spool_dir: &Path) -> PathBuf {
    spool_dir.join(CACHE_FILE)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `text` to `path` atomically and durably.
pub fn save_atomic(path: &Path, text: &str) -> Result<(), CacheError> {
    // 0o666 before umask, as `File::create` would: the cache holds no secret.
    crate::durable::replace(path, text.as_bytes(), 0o666).map_err(|e| CacheError::Io {
        path: e.path,
        source: e.source,
    })
}

/// The file's text; `None` when it does not exist yet.
pub fn load(path: &Path) -> Result<Option<String>, CacheError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_replaces_and_load_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = cache_path(dir.path());
        assert!(load(&path).unwrap().is_none());
        save_atomic(&path, "one\n").unwrap();
        save_atomic(&path, "two\n").unwrap();
        assert_eq!(load(&path).unwrap().as_deref(), Some("two\n"));
        assert!(!path.with_extension("tmp").exists());
    }

    #[test]
    fn an_unwritable_place_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join(CACHE_FILE);
        assert!(matches!(
            save_atomic(&path, "x"),
            Err(CacheError::Io { .. })
        ));
    }
}
