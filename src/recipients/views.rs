//! What the admin layer reads and does through the recipient service: per-domain figures, looking up
//! one address, purging an entry, importing known-good/known-bad addresses. Plain data, serialisable
//! for the JSON API; the console renders the same structures.

use serde::Serialize;

use super::address::AddressKey;
use super::cache::Known;
use super::error::ListError;
use super::service::{LearningEvent, RecipientService};
use super::verdict::{DomainPolicy, Mode, UnknownWhenDown};

/// One backed-up domain's recipient policy and cache figures.
#[derive(Debug, Clone, Serialize)]
pub struct DomainView {
    pub domain: String,
    /// `accept_all`, `list` or `verify`.
    pub policy: &'static str,
    pub unknown_when_down: &'static str,
    pub monitoring: bool,
    /// Entries of the list file (list mode, once loaded).
    pub list_entries: Option<usize>,
    pub cache_good: usize,
    pub cache_bad: usize,
    pub last_learning: Option<LearningEvent>,
}

/// What is known about one address.
#[derive(Debug, Clone, Serialize)]
pub struct LookupView {
    /// The normalised key the cache uses.
    pub key: String,
    pub domain: String,
    pub policy: &'static str,
    /// `good`, `bad` or `unknown` (cache); for list domains also `listed` / `not_listed`.
    pub state: &'static str,
    /// The cache entry that decides (the address itself or its base mailbox).
    pub entry: Option<String>,
    pub expires_ms: Option<u64>,
    pub learned_ms: Option<u64>,
}

pub fn mode_label(mode: Mode) -> &'static str {
    match mode {
        Mode::AcceptAll => "accept_all",
        Mode::List => "list",
        Mode::Verify => "verify",
    }
}

fn unknown_label(policy: &DomainPolicy) -> &'static str {
    match policy.unknown_when_down {
        UnknownWhenDown::Accept => "accept",
        UnknownWhenDown::Tempfail => "tempfail",
    }
}

impl RecipientService {
    /// Every configured domain, in configuration order.
    pub fn domain_views(&self) -> Vec<DomainView> {
        let now_ms = self.now_ms();
        let learned = self
            .learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let cache = self.cache();
        let (settings, lists) = (self.settings.get(), self.lists.get());
        self.domains
            .get()
            .iter()
            .map(|d| {
                let policy = settings.policy(&d.name);
                let (cache_good, cache_bad) = cache.counts(&d.name, now_ms);
                DomainView {
                    domain: d.name.clone(),
                    policy: mode_label(policy.mode),
                    unknown_when_down: unknown_label(&policy),
                    monitoring: policy.accept_only_when_primary_down,
                    list_entries: lists.len(&d.name),
                    cache_good,
                    cache_bad,
                    last_learning: learned.get(&d.name).cloned(),
                }
            })
            .collect()
    }

    /// What the cache (or list) says about `address`; `None` when it is not an address.
    pub fn lookup(&self, address: &str) -> Option<LookupView> {
        let key = AddressKey::parse(address)?;
        let policy = self.settings.get().policy(&key.domain);
        let now_ms = self.now_ms();
        let cache = self.cache();
        let hit = key
            .lookup_order()
            .into_iter()
            .find_map(|k| cache.get(&k, now_ms).cloned().map(|e| (k, e)));
        let mut state = match &hit {
            Some((_, e)) => e.known.label(),
            None => "unknown",
        };
        if policy.mode == Mode::List {
            state = match self.lists.get().contains(&key.domain, &key) {
                Some(true) => "listed",
                Some(false) => "not_listed",
                None => "unknown",
            };
        }
        Some(LookupView {
            key: key.to_string(),
            domain: key.domain.clone(),
            policy: mode_label(policy.mode),
            state,
            entry: hit.as_ref().map(|(k, _)| k.to_string()),
            expires_ms: hit.as_ref().map(|(_, e)| e.expires_ms),
            learned_ms: hit.as_ref().map(|(_, e)| e.learned_ms),
        })
    }

    /// Forgets the cache entry of exactly this address; `None` when it is not an address.
    pub fn purge(&self, address: &str) -> Option<bool> {
        let key = AddressKey::parse(address)?;
        let removed = self.cache().remove(&key);
        if removed {
            self.mark_dirty();
        }
        // Another node's copy may hold it even when this one's does not.
        self.publish_forgotten(&key);
        Some(removed)
    }

    /// Imports lines `ADDRESS` or `good ADDRESS` (known-good) and `bad ADDRESS` (known-bad); `#`
    /// comments and blank lines are skipped. All or nothing: the first bad line is reported.
    pub fn import(&self, text: &str, origin: &str) -> Result<usize, ListError> {
        let mut entries = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.split(" #").next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (known, address) = match line.split_once(char::is_whitespace) {
                Some(("good", rest)) => (Known::Good, rest.trim()),
                Some(("bad", rest)) => (Known::Bad, rest.trim()),
                _ => (Known::Good, line),
            };
            let key = AddressKey::parse(address).ok_or_else(|| ListError::Syntax {
                file: origin.to_string(),
                line: index + 1,
                message: format!("{address:?} is not an address"),
            })?;
            entries.push((key, known));
        }
        for (key, known) in &entries {
            self.learn(key, *known, "import");
        }
        Ok(entries.len())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::SystemClock;
    use crate::config::Config;

    fn service() -> RecipientService {
        let toml = "[[domain]]\nname = \"example.test\"\nrecipients = \"verify\"\n\
                    [[domain]]\nname = \"plain.test\"\n";
        let config = Config::from_toml_str(toml, "t.toml").unwrap();
        RecipientService::in_memory(&config, Arc::new(SystemClock), None)
    }

    #[test]
    fn import_lookup_purge_and_figures() {
        let s = service();
        let n = s
            .import(
                "# known\na@example.test\ngood b@example.test\nbad c@example.test\n\n",
                "f",
            )
            .unwrap();
        assert_eq!(n, 3);
        let views = s.domain_views();
        assert_eq!(views[0].policy, "verify");
        assert_eq!((views[0].cache_good, views[0].cache_bad), (2, 1));
        assert_eq!(views[1].policy, "accept_all");
        assert_eq!(views[0].last_learning.as_ref().unwrap().source, "import");

        let hit = s.lookup("A+tag@Example.test").unwrap();
        assert_eq!(
            (hit.state, hit.entry.as_deref()),
            ("good", Some("a@example.test"))
        );
        assert_eq!(s.lookup("c@example.test").unwrap().state, "bad");
        assert_eq!(s.lookup("z@example.test").unwrap().state, "unknown");
        assert!(s.lookup("nonsense").is_none());

        assert_eq!(s.purge("C@example.test"), Some(true));
        assert_eq!(s.purge("c@example.test"), Some(false));
        assert_eq!(s.lookup("c@example.test").unwrap().state, "unknown");
    }

    #[test]
    fn import_is_all_or_nothing() {
        let s = service();
        let error = s.import("a@example.test\nbad\n", "up.txt").unwrap_err();
        assert!(error.to_string().starts_with("up.txt:2:"), "{error}");
        assert_eq!(s.lookup("a@example.test").unwrap().state, "unknown");
    }
}
