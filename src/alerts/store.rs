//! The alerts' durable state: `<state_dir>/alerts.json`, the monitor's memory and the outbox, replaced
//! whole through `durable::replace` after every change (a crash leaves the old file or the new one).
//! The only writer of that file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::monitor::Monitor;
use super::outbox::Outbox;

pub const FILE_NAME: &str = "alerts.json";

/// What is saved.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Saved {
    #[serde(default)]
    pub monitor: Monitor,
    #[serde(default)]
    pub outbox: Outbox,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a valid alerts file ({source}); it was kept as {}", path.display(), kept.display())]
    Damaged {
        path: PathBuf,
        kept: PathBuf,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Write(#[from] crate::durable::WriteError),
    #[error("encoding the alerts file: {0}")]
    Encode(#[from] serde_json::Error),
}

#[derive(Clone)]
pub struct AlertStore {
    path: PathBuf,
}

impl AlertStore {
    pub fn new(state_dir: &Path) -> AlertStore {
        AlertStore {
            path: state_dir.join(FILE_NAME),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state; none yet: empty. A damaged file is copied aside (`alerts.json.damaged`) and
    /// reported, and the alerts start empty rather than keep the server from starting.
    pub fn load(&self) -> Result<Saved, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Saved::default()),
            Err(source) => {
                return Err(StoreError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes).map_err(|source| {
            let kept = self.path.with_extension("json.damaged");
            // Best effort: the error below names the file either way.
            let _ = std::fs::copy(&self.path, &kept);
            StoreError::Damaged {
                path: self.path.clone(),
                kept,
                source,
            }
        })
    }

    pub fn save(&self, saved: &Saved) -> Result<(), StoreError> {
        self.write(&encode(saved)?)
    }

    /// Replaces the file with `bytes` (from [`encode`]); blocking (fsync).
    pub fn write(&self, bytes: &[u8]) -> Result<(), StoreError> {
        crate::durable::replace(&self.path, bytes, 0o600)?;
        Ok(())
    }
}

/// The file's bytes for `saved`.
pub fn encode(saved: &Saved) -> Result<Vec<u8>, StoreError> {
    Ok(serde_json::to_vec(saved)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::event::Raised;

    #[test]
    fn saves_and_loads_and_keeps_a_damaged_file_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = AlertStore::new(dir.path());
        assert_eq!(store.load().unwrap(), Saved::default());
        let mut saved = Saved::default();
        saved
            .outbox
            .add(Raised::new("test", None, "hello".into()), 5, &[]);
        store.save(&saved).unwrap();
        assert_eq!(store.load().unwrap(), saved);
        std::fs::write(store.path(), b"{not json").unwrap();
        let error = store.load().unwrap_err().to_string();
        assert!(error.contains("alerts.json.damaged"), "{error}");
        assert!(dir.path().join("alerts.json.damaged").exists());
    }
}
