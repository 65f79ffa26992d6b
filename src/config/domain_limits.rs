//! A `[[domain]]`'s own retention and quotas (issue 16): `max_lifetime` overrides `[queue]
//! max_lifetime` for its mail; `max_messages` and `max_bytes` cap what may wait for it, so one
//! customer's flood cannot fill the spool for all (over either, new mail for that domain gets
//! 452 4.2.2; other domains are unaffected).

use std::ops::RangeInclusive;
use std::time::Duration;

use super::DomainLimits;
use super::duration::{format_duration, parse_duration};
use super::limits::MAX_LIFETIME_BOUNDS;
use super::reader::{Collector, Section, parsed, show_number, unsigned, within};

/// At least one message; at most more than any spool holds.
const MAX_MESSAGES_BOUNDS: RangeInclusive<u64> = 1..=1_000_000_000;
/// At least 1 KiB; at most 1 PiB.
const MAX_BYTES_BOUNDS: RangeInclusive<u64> = 1024..=(1 << 50);

pub(super) fn build_domain_limits(section: &Section, c: &mut Collector) -> DomainLimits {
    let lifetime = section.get(
        c,
        "max_lifetime",
        parsed(|t| within(parse_duration(t)?, &MAX_LIFETIME_BOUNDS, show_duration)),
    );
    let messages = section.get(c, "max_messages", |v| {
        within(unsigned(v)?, &MAX_MESSAGES_BOUNDS, show_number)
    });
    let bytes = section.get(c, "max_bytes", |v| {
        within(unsigned(v)?, &MAX_BYTES_BOUNDS, show_number)
    });
    DomainLimits {
        max_lifetime: lifetime.map(|f| f.value),
        max_messages: messages.map(|f| f.value),
        max_bytes: bytes.map(|f| f.value),
    }
}

fn show_duration(value: &Duration) -> String {
    format_duration(*value)
}

impl DomainLimits {
    /// True when new mail must be checked against what waits for the domain.
    pub fn has_quota(&self) -> bool {
        self.max_messages.is_some() || self.max_bytes.is_some()
    }

    /// Whether the domain is at or over a quota with `messages` and `bytes` waiting.
    pub fn is_full(&self, messages: u64, bytes: u64) -> bool {
        self.max_messages.is_some_and(|max| messages >= max)
            || self.max_bytes.is_some_and(|max| bytes >= max)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, DomainLimits};
    use std::time::Duration;

    fn domain(extra: &str) -> Result<Config, String> {
        Config::from_toml_str(
            &format!("[[domain]]\nname = \"a.test\"\n{extra}\n"),
            "t.toml",
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn limits_are_read_and_default_to_none() {
        let config =
            domain("max_lifetime = \"21d\"\nmax_messages = 500\nmax_bytes = 1048576").unwrap();
        assert_eq!(
            config.domains[0].limits,
            DomainLimits {
                max_lifetime: Some(Duration::from_secs(21 * 86_400)),
                max_messages: Some(500),
                max_bytes: Some(1_048_576),
            }
        );
        assert_eq!(
            domain("").unwrap().domains[0].limits,
            DomainLimits::default()
        );
    }

    #[test]
    fn bad_limits_name_file_line_and_key() {
        let error = domain("max_messages = 0").unwrap_err();
        assert!(
            error.starts_with("t.toml:3: domain[0].max_messages: 0 is out of range"),
            "{error}"
        );
        let error = domain("max_lifetime = \"3\"").unwrap_err();
        assert!(
            error.starts_with("t.toml:3: domain[0].max_lifetime:"),
            "{error}"
        );
        let error = domain("max_bytes = \"1G\"").unwrap_err();
        assert!(
            error.starts_with("t.toml:3: domain[0].max_bytes: expected an integer"),
            "{error}"
        );
    }

    #[test]
    fn full_at_either_quota() {
        let limits = DomainLimits {
            max_lifetime: None,
            max_messages: Some(2),
            max_bytes: Some(10_000),
        };
        assert!(!limits.is_full(1, 9_999));
        assert!(limits.is_full(2, 0));
        assert!(limits.is_full(0, 10_000));
        assert!(!DomainLimits::default().is_full(u64::MAX, u64::MAX));
        assert!(limits.has_quota() && !DomainLimits::default().has_quota());
    }
}
