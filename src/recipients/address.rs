//! Recipient-address normalisation for look-ups (cache, list files, learning): one key per mailbox.
//!
//! Rules (also in docs/recipients.md): the domain is lower-cased and a trailing dot dropped; the local
//! part keeps its spelling on the wire but is compared case-insensitively (the key lower-cases it);
//! `user+tag@d` is looked up as itself first, then as `user@d` (subaddress fallback). Quoted local
//! parts are compared as written (lower-cased) and never split at `+`.

use crate::envelope::normalise_domain;

/// The normalised form of an address: `local@domain`, both lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressKey {
    pub local: String,
    pub domain: String,
}

impl AddressKey {
    /// Splits at the last `@`; `None` when either side is empty.
    pub fn parse(address: &str) -> Option<AddressKey> {
        let address = address.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, domain) = address.rsplit_once('@')?;
        let domain = normalise_domain(domain);
        if local.is_empty() || domain.is_empty() {
            return None;
        }
        Some(AddressKey {
            local: local.to_lowercase(),
            domain,
        })
    }

    /// The same mailbox without its `+tag`: `user+tag@d` → `user@d`; `None` when there is no tag
    /// (or the local part is quoted, or nothing is left before the `+`).
    pub fn without_subaddress(&self) -> Option<AddressKey> {
        if self.local.starts_with('"') {
            return None;
        }
        let (base, _tag) = self.local.split_once('+')?;
        (!base.is_empty()).then(|| AddressKey {
            local: base.to_string(),
            domain: self.domain.clone(),
        })
    }

    /// The keys to try, most specific first: the address itself, then without its subaddress.
    pub fn lookup_order(&self) -> Vec<AddressKey> {
        let mut keys = vec![self.clone()];
        keys.extend(self.without_subaddress());
        keys
    }
}

impl std::fmt::Display for AddressKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(a: &str) -> String {
        AddressKey::parse(a).map_or_else(|| "-".into(), |k| k.to_string())
    }

    #[test]
    fn domain_and_local_part_are_lower_cased_and_trailing_dot_dropped() {
        assert_eq!(key("User@Example.TEST."), "user@example.test");
        assert_eq!(key("<a@b.test>"), "a@b.test");
        assert_eq!(key("\"John Doe\"@x.test"), "\"john doe\"@x.test");
    }

    #[test]
    fn the_last_at_sign_separates_the_domain() {
        assert_eq!(key("\"a@b\"@x.test"), "\"a@b\"@x.test");
    }

    #[test]
    fn malformed_addresses_have_no_key() {
        for a in ["", "user", "@x.test", "user@", "user@.", "postmaster"] {
            assert_eq!(key(a), "-", "{a:?}");
        }
    }

    #[test]
    fn subaddress_falls_back_to_the_base_mailbox() {
        let k = AddressKey::parse("User+Tag+more@x.test").unwrap();
        let order: Vec<String> = k.lookup_order().iter().map(|k| k.to_string()).collect();
        assert_eq!(order, ["user+tag+more@x.test", "user@x.test"]);
    }

    #[test]
    fn no_fallback_without_a_usable_tag() {
        for a in ["user@x.test", "+tag@x.test", "\"a+b\"@x.test"] {
            let k = AddressKey::parse(a).unwrap();
            assert_eq!(k.lookup_order().len(), 1, "{a:?}");
        }
    }
}
