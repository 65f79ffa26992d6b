//! Durable replacement of a small state file (the recipient cache, the generated admin credentials):
//! write a temporary file beside it, fsync it, rename it over the old one, fsync the directory. A
//! crash leaves the old file or the new one, never a mix or nothing.
//!
//! Mail does not go through here: the spool's journal and data segments are appended and fsync'd
//! once per batch of many messages (group commit), and bodies are streamed; see `spool/layout.rs`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A step of [`replace`] failed; `path` is the file or directory it failed on.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// Replaces `path` with `bytes`, durably. `mode` is the new file's permission bits (before umask),
/// e.g. `0o600` for secrets.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
    let temp = temp_path(path);
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError { path, source }
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temp)
        .map_err(at(&temp))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(at(&temp))?;
    drop(file);
    std::fs::rename(&temp, path).map_err(at(path))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(at(dir))
}

/// `<name>.tmp` beside the file.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.toml");
        replace(&path, b"one\n", 0o600).unwrap();
        replace(&path, b"two\n", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        assert!(!dir.path().join("state.toml.tmp").exists());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_missing_directory_names_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("state");
        let error = replace(&path, b"x", 0o644).unwrap_err();
        assert_eq!(error.path, dir.path().join("missing").join("state.tmp"));
    }
}
