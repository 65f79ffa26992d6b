//! A recipient list file (`recipients = "list"`) ready for look-ups. The file's syntax is
//! `config::recipient_list` (addresses, `@domain`, `prefix*@domain`, comments); matching follows
//! [`super::address`]: case-insensitive, with the `+tag` fallback.

use std::collections::HashSet;

use super::address::AddressKey;
use super::error::ListError;
use crate::config::recipient_list::{self, ListEntry};

/// A parsed list file, ready for look-ups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientList {
    addresses: HashSet<AddressKey>,
    domains: HashSet<String>,
    /// (lower-cased local-part prefix, domain)
    prefixes: Vec<(String, String)>,
}

impl RecipientList {
    /// Parses a whole file; the first bad line is reported as `file:line: message`.
    pub fn parse(text: &str, file: &str) -> Result<RecipientList, ListError> {
        let entries = recipient_list::parse(text).map_err(|e| ListError::Syntax {
            file: file.to_string(),
            line: e.line,
            message: e.message,
        })?;
        let mut list = RecipientList::default();
        for entry in entries {
            list.add(entry);
        }
        Ok(list)
    }

    fn add(&mut self, entry: ListEntry) {
        match entry {
            ListEntry::Address { local, domain } => {
                self.addresses.insert(AddressKey { local, domain });
            }
            ListEntry::Domain(domain) => {
                self.domains.insert(domain);
            }
            ListEntry::Prefix(prefix, domain) => self.prefixes.push((prefix, domain)),
        }
    }

    /// Number of entries (addresses, domains and patterns).
    pub fn len(&self) -> usize {
        self.addresses.len() + self.domains.len() + self.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the list accepts `address` (itself or its base mailbox without `+tag`).
    pub fn contains(&self, address: &AddressKey) -> bool {
        if self.domains.contains(&address.domain) {
            return true;
        }
        address.lookup_order().iter().any(|key| {
            self.addresses.contains(key)
                || self
                    .prefixes
                    .iter()
                    .any(|(prefix, domain)| *domain == key.domain && key.local.starts_with(prefix))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> RecipientList {
        RecipientList::parse(text, "users.txt").unwrap()
    }

    fn has(l: &RecipientList, a: &str) -> bool {
        l.contains(&AddressKey::parse(a).unwrap())
    }

    #[test]
    fn addresses_match_case_insensitively_with_subaddress_fallback() {
        let l = list("Alice@Example.test\nbob@example.test.\n");
        assert!(has(&l, "alice@example.test"));
        assert!(has(&l, "ALICE@EXAMPLE.TEST"));
        assert!(has(&l, "bob@example.test"));
        assert!(has(&l, "alice+news@example.test"));
        assert!(!has(&l, "carol@example.test"));
        assert!(!has(&l, "alice@other.test"));
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn domain_wildcard_and_prefix_patterns() {
        let l = list("@open.test\nsales+*@example.test\nteam-*@example.test\n");
        assert!(has(&l, "anyone@open.test"));
        assert!(has(&l, "sales+eu@example.test"));
        assert!(has(&l, "team-dev@example.test"));
        assert!(has(&l, "Team-@example.test"));
        assert!(!has(&l, "sales@example.test"));
        assert!(!has(&l, "team@example.test"));
        assert!(!has(&l, "x@sub.open.test"));
    }

    #[test]
    fn comments_and_blank_lines() {
        let l = list("# users\n\n  a@x.test   # the admin\nb#c@x.test\n\t\n");
        assert!(has(&l, "a@x.test"));
        assert!(has(&l, "b#c@x.test"));
        assert_eq!(l.len(), 2);
        assert!(list("").is_empty());
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            ("a@x.test\nnot-an-address\n", 2),
            ("a b@x.test\n", 1),
            ("\n\na@\n", 3),
            ("a*b@x.test\n", 1),
            ("a@*.x.test\n", 1),
            ("a@.x.test\n", 1),
        ];
        for (text, line) in cases {
            let error = RecipientList::parse(text, "users.txt").unwrap_err();
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("users.txt:{line}: ")),
                "{text:?}: {error}"
            );
        }
    }
}
