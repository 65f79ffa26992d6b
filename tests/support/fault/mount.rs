//! A size-limited tmpfs mounted for one test and unmounted when the guard drops (also when the test
//! panics). Mounting needs root; the fault tests run as root here and in CI, so a failed mount is a
//! test failure with the reason, never a skip.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TmpfsMount {
    path: PathBuf,
}

impl TmpfsMount {
    /// Mounts a tmpfs of `size` (e.g. `"4m"`) on the existing directory `path`; panics with the
    /// reason when that fails.
    pub fn mount(path: &Path, size: &str) -> TmpfsMount {
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(
            output.status.success(),
            "mounting a {size} tmpfs on {} failed ({}): {} (this test needs root: it does not skip)",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        TmpfsMount {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        // Lazy: the server under test may still hold files open when a failing test unwinds.
        let status = Command::new("umount").arg("-l").arg(&self.path).status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("could not unmount {}: {status:?}", self.path.display());
        }
    }
}
