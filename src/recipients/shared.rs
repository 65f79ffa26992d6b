//! The verify cache shared by the nodes of a cluster (issue 13): the changes one node tells the
//! others (an address learnt, an entry forgotten), their text form (pure, tested here), and the
//! [`SharedCache`] trait the cluster layer implements, so that this module never depends on it.
//!
//! Each node keeps its own in-memory [`super::Cache`] for the RCPT path (no database round trip per
//! recipient); the shared table is the copy every node starts from, and the changes keep the copies
//! in step.

use std::future::Future;
use std::pin::Pin;

use super::address::AddressKey;
use super::cache::{Entry, entry_line, parse_line};

/// One change of the verify cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheChange {
    /// What the primary said about an address (or what an administrator imported).
    Learned {
        key: AddressKey,
        entry: Entry,
        /// `callout`, `delivery` or `import`.
        source: String,
    },
    /// An administrator purged the entry.
    Forgotten { key: AddressKey },
}

impl CacheChange {
    /// `learn SOURCE good|bad EXPIRES_MS LEARNED_MS KEY` or `forget KEY`.
    pub fn to_text(&self) -> String {
        match self {
            CacheChange::Learned { key, entry, source } => {
                format!("learn {source} {}", entry_line(key, entry))
            }
            CacheChange::Forgotten { key } => format!("forget {key}"),
        }
    }

    pub fn parse(text: &str) -> Option<CacheChange> {
        let (verb, rest) = text.split_once(' ')?;
        match verb {
            "learn" => {
                let (source, line) = rest.split_once(' ')?;
                let (key, entry) = parse_line(line)?;
                let source = source.to_string();
                Some(CacheChange::Learned { key, entry, source })
            }
            "forget" => AddressKey::parse(rest).map(|key| CacheChange::Forgotten { key }),
            _ => None,
        }
    }
}

/// A whole copy of the shared cache, or why it could not be read.
pub type Snapshot = Result<Vec<CacheChange>, String>;

/// Where a node's cache changes go, and where its copy comes from (the cluster's table).
pub trait SharedCache: Send + Sync {
    /// Hands a change on to the other nodes; never waits for the database (a change that cannot be
    /// written is logged: the cache is an optimisation, never a reason to refuse mail).
    fn publish(&self, change: CacheChange);

    /// Every entry of the shared table still live at `now_ms`, as `Learned` changes.
    fn snapshot(&self, now_ms: u64) -> Pin<Box<dyn Future<Output = Snapshot> + Send + '_>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipients::Known;

    fn key(address: &str) -> AddressKey {
        AddressKey::parse(address).unwrap()
    }

    #[test]
    fn changes_round_trip_through_their_text() {
        let entry = Entry {
            known: Known::Bad,
            expires_ms: 2_000,
            learned_ms: 1_000,
        };
        for change in [
            CacheChange::Learned {
                key: key("User+tag@Example.test"),
                entry: entry.clone(),
                source: "callout".into(),
            },
            CacheChange::Learned {
                key: key("\"a b\"@example.test"),
                entry,
                source: "import".into(),
            },
            CacheChange::Forgotten {
                key: key("x@example.test"),
            },
        ] {
            let text = change.to_text();
            assert_eq!(CacheChange::parse(&text), Some(change), "{text}");
        }
    }

    #[test]
    fn malformed_text_is_refused() {
        for text in [
            "",
            "learn",
            "learn callout",
            "learn callout maybe 1 2 a@b.test",
            "learn callout good x 2 a@b.test",
            "forget",
            "forget nobody",
            "remember a@b.test",
        ] {
            assert_eq!(CacheChange::parse(text), None, "{text:?}");
        }
    }
}
