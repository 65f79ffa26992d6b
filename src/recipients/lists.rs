//! Loaded list files, one per `list` domain, reloaded when the file's modification time or size
//! changes (checked at most once a second, on use). A file that cannot be read or parsed keeps the
//! last good list in force (and is logged); with no good list at all the domain accepts everything,
//! because a broken list must never refuse mail permanently.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use super::address::AddressKey;
use super::error::ListError;
use super::list::RecipientList;

/// How often the file's metadata is looked at.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

struct Loaded {
    path: PathBuf,
    /// (mtime, size) of the file the list was read from.
    stamp: Option<(SystemTime, u64)>,
    checked: Option<Instant>,
    list: Option<RecipientList>,
}

/// The list of every `list` domain.
#[derive(Default)]
pub struct Lists {
    by_domain: Mutex<HashMap<String, Loaded>>,
}

impl Lists {
    pub fn new(files: impl IntoIterator<Item = (String, PathBuf)>) -> Lists {
        let by_domain = files
            .into_iter()
            .map(|(domain, path)| {
                let loaded = Loaded {
                    path,
                    stamp: None,
                    checked: None,
                    list: None,
                };
                (domain, loaded)
            })
            .collect();
        Lists {
            by_domain: Mutex::new(by_domain),
        }
    }

    /// `Some(true/false)`: the list's answer; `None`: the domain has no usable list.
    pub fn contains(&self, domain: &str, address: &AddressKey) -> Option<bool> {
        let mut lists = self.by_domain.lock().unwrap_or_else(|e| e.into_inner());
        let loaded = lists.get_mut(domain)?;
        refresh(loaded, Instant::now());
        loaded.list.as_ref().map(|list| list.contains(address))
    }

    /// Number of entries of the domain's list, if loaded.
    pub fn len(&self, domain: &str) -> Option<usize> {
        let mut lists = self.by_domain.lock().unwrap_or_else(|e| e.into_inner());
        let loaded = lists.get_mut(domain)?;
        refresh(loaded, Instant::now());
        loaded.list.as_ref().map(RecipientList::len)
    }
}

fn refresh(loaded: &mut Loaded, now: Instant) {
    if loaded
        .checked
        .is_some_and(|at| now.duration_since(at) < CHECK_INTERVAL)
    {
        return;
    }
    loaded.checked = Some(now);
    let stamp = file_stamp(&loaded.path);
    if stamp.is_some() && stamp == loaded.stamp {
        return;
    }
    match read_list(&loaded.path) {
        Ok(list) => {
            tracing::info!(path = %loaded.path.display(), entries = list.len(), "recipient list loaded");
            loaded.list = Some(list);
            loaded.stamp = stamp;
        }
        Err(error) => {
            tracing::warn!(%error, "recipient list not reloaded; the previous one stays in force");
            loaded.stamp = stamp;
        }
    }
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn read_list(path: &Path) -> Result<RecipientList, ListError> {
    let text = std::fs::read_to_string(path).map_err(|source| ListError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    RecipientList::parse(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(a: &str) -> AddressKey {
        AddressKey::parse(a).unwrap()
    }

    #[test]
    fn reloads_on_change_and_keeps_the_last_good_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "a@x.test\n").unwrap();
        let lists = Lists::new([("x.test".to_string(), path.clone())]);
        assert_eq!(lists.contains("x.test", &key("a@x.test")), Some(true));
        assert_eq!(lists.contains("x.test", &key("b@x.test")), Some(false));
        assert_eq!(lists.contains("y.test", &key("b@y.test")), None);

        std::fs::write(&path, "a@x.test\nb@x.test\n").unwrap();
        force_check(&lists);
        assert_eq!(lists.contains("x.test", &key("b@x.test")), Some(true));

        std::fs::write(&path, "broken line here\n").unwrap();
        force_check(&lists);
        assert_eq!(lists.contains("x.test", &key("b@x.test")), Some(true));
        assert_eq!(lists.len("x.test"), Some(2));
    }

    #[test]
    fn no_readable_list_means_no_answer() {
        let lists = Lists::new([("x.test".to_string(), PathBuf::from("/nonexistent/list"))]);
        assert_eq!(lists.contains("x.test", &key("a@x.test")), None);
    }

    /// Makes the next use look at the file again (instead of waiting a second).
    fn force_check(lists: &Lists) {
        for loaded in lists.by_domain.lock().unwrap().values_mut() {
            loaded.checked = None;
        }
    }
}
