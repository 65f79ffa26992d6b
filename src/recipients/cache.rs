//! The verify cache, pure: known-good and known-bad addresses with expiry (times are passed in, in
//! Unix milliseconds, from the injected clock), a size bound (expired entries go first, then those
//! that expire soonest), and the text format it is persisted in (see [`super::store`]).
//!
//! Format: a header line `backupmx-recipients-cache 1`, then one entry a line:
//! `good|bad EXPIRES_MS LEARNED_MS ADDRESS-KEY`.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use super::address::AddressKey;
use super::error::CacheError;
use super::verdict::CacheState;

const HEADER: &str = "backupmx-recipients-cache 1";
/// Default bound on the number of entries (about 100 bytes each in memory).
pub const DEFAULT_MAX_ENTRIES: usize = 200_000;

/// What the primary said about an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    Good,
    Bad,
}

impl Known {
    pub fn label(self) -> &'static str {
        match self {
            Known::Good => "good",
            Known::Bad => "bad",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub known: Known,
    pub expires_ms: u64,
    pub learned_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Cache {
    entries: HashMap<AddressKey, Entry>,
    /// (expiry, key): eviction order.
    by_expiry: BTreeSet<(u64, AddressKey)>,
    max_entries: usize,
}

impl Cache {
    pub fn new(max_entries: usize) -> Cache {
        Cache {
            entries: HashMap::new(),
            by_expiry: BTreeSet::new(),
            max_entries: max_entries.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The live entry for exactly this key.
    pub fn get(&self, key: &AddressKey, now_ms: u64) -> Option<&Entry> {
        self.entries.get(key).filter(|e| e.expires_ms > now_ms)
    }

    /// What the cache says about an address: itself first, then its base mailbox without `+tag`.
    pub fn state(&self, address: &AddressKey, now_ms: u64) -> CacheState {
        for key in address.lookup_order() {
            match self.get(&key, now_ms).map(|e| e.known) {
                Some(Known::Good) => return CacheState::Good,
                Some(Known::Bad) => return CacheState::Bad,
                None => {}
            }
        }
        CacheState::Unknown
    }

    /// Records an answer for `ttl`, replacing what was known; evicts to stay within the bound.
    /// Returns the entry as stored.
    pub fn insert(&mut self, key: AddressKey, known: Known, now_ms: u64, ttl: Duration) -> Entry {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let entry = Entry {
            known,
            expires_ms: now_ms.saturating_add(ttl_ms),
            learned_ms: now_ms,
        };
        self.put(key, entry.clone());
        if self.entries.len() > self.max_entries {
            self.purge_expired(now_ms);
        }
        self.evict_to_bound();
        entry
    }

    /// Drops the entries that expire soonest until the bound holds.
    fn evict_to_bound(&mut self) {
        while self.entries.len() > self.max_entries {
            let Some((_, oldest)) = self.by_expiry.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    /// Puts an entry learnt elsewhere (another node, the shared table) with its own times, unless it
    /// has expired at `now_ms`; evicts to stay within the bound.
    pub fn restore(&mut self, key: AddressKey, entry: Entry, now_ms: u64) {
        if entry.expires_ms <= now_ms {
            self.remove(&key);
            return;
        }
        self.put(key, entry);
        self.evict_to_bound();
    }

    /// Drops every entry (before a full copy of the shared table replaces them).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.by_expiry.clear();
    }

    fn put(&mut self, key: AddressKey, entry: Entry) {
        if let Some(old) = self.entries.get(&key) {
            self.by_expiry.remove(&(old.expires_ms, key.clone()));
        }
        self.by_expiry.insert((entry.expires_ms, key.clone()));
        self.entries.insert(key, entry);
    }

    /// Forgets one address; true if it was there.
    pub fn remove(&mut self, key: &AddressKey) -> bool {
        match self.entries.remove(key) {
            Some(old) => {
                self.by_expiry.remove(&(old.expires_ms, key.clone()));
                true
            }
            None => false,
        }
    }

    /// Drops every entry expired at `now_ms`.
    pub fn purge_expired(&mut self, now_ms: u64) {
        while let Some((expires, _)) = self.by_expiry.first() {
            if *expires > now_ms {
                break;
            }
            if let Some((_, key)) = self.by_expiry.pop_first() {
                self.entries.remove(&key);
            }
        }
    }

    /// Live (good, bad) counts for one domain.
    pub fn counts(&self, domain: &str, now_ms: u64) -> (usize, usize) {
        let mut counts = (0, 0);
        for (key, entry) in &self.entries {
            if key.domain != domain || entry.expires_ms <= now_ms {
                continue;
            }
            match entry.known {
                Known::Good => counts.0 += 1,
                Known::Bad => counts.1 += 1,
            }
        }
        counts
    }

    /// The persisted form of every live entry, sorted (stable files, easy diffs).
    pub fn to_text(&self, now_ms: u64) -> String {
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.expires_ms > now_ms)
            .map(|(k, e)| entry_line(k, e))
            .collect();
        lines.sort();
        let mut text = format!("{HEADER}\n");
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
        text
    }

    /// Reads the persisted form; expired entries are skipped, the bound applies.
    pub fn from_text(text: &str, now_ms: u64, max_entries: usize) -> Result<Cache, CacheError> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, HEADER)) => {}
            _ => {
                return Err(CacheError::Format {
                    line: 1,
                    message: format!("expected {HEADER:?}"),
                });
            }
        }
        let mut cache = Cache::new(max_entries);
        for (index, line) in lines {
            let (key, entry) = parse_line(line).ok_or_else(|| CacheError::Format {
                line: index + 1,
                message: format!("bad entry {line:?}"),
            })?;
            if entry.expires_ms > now_ms {
                cache.put(key, entry);
            }
        }
        cache.evict_to_bound();
        Ok(cache)
    }
}

/// One entry in the persisted form: `good|bad EXPIRES_MS LEARNED_MS ADDRESS-KEY`.
pub fn entry_line(key: &AddressKey, entry: &Entry) -> String {
    format!(
        "{} {} {} {key}",
        entry.known.label(),
        entry.expires_ms,
        entry.learned_ms
    )
}

/// Reads one line written by [`entry_line`].
pub fn parse_line(line: &str) -> Option<(AddressKey, Entry)> {
    let mut parts = line.splitn(4, ' ');
    let known = match parts.next()? {
        "good" => Known::Good,
        "bad" => Known::Bad,
        _ => return None,
    };
    let expires_ms = parts.next()?.parse().ok()?;
    let learned_ms = parts.next()?.parse().ok()?;
    let key = AddressKey::parse(parts.next()?)?;
    Some((
        key,
        Entry {
            known,
            expires_ms,
            learned_ms,
        },
    ))
}

#[cfg(test)]
mod tests;
