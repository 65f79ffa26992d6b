//! Recipient validation settings: the per-`[[domain]]` keys (`recipients`, `recipient_list`,
//! `unknown_when_down`, `accept_only_when_primary_down`) and the `[recipients]` section (cache
//! lifetimes, callout timeout). A list file is parsed at load time, so `check-config` reports its
//! errors as `FILE:LINE`.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use super::duration::{format_duration, parse_duration};
use super::reader::{Collector, Section, boolean, parsed, within};

const SECTION_KEYS: &[&str] = &["positive_ttl", "negative_ttl", "callout_timeout"];

pub const DEFAULT_POSITIVE_TTL: Duration = Duration::from_secs(30 * 86_400);
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(3 * 3600);
pub const DEFAULT_CALLOUT_TIMEOUT: Duration = Duration::from_secs(5);
pub const TTL_BOUNDS: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(365 * 86_400);
pub const CALLOUT_TIMEOUT_BOUNDS: RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(60);

/// `recipients = ...` in a `[[domain]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Every address of the domain is accepted (the classic backup MX).
    #[default]
    AcceptAll,
    /// Only addresses matched by the list file.
    List,
    /// Ask the primary (callout) and cache its answers.
    Verify,
}

/// `unknown_when_down = ...`: what an address the cache does not know gets while the primary is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownWhenDown {
    /// The backup's duty comes first.
    #[default]
    Accept,
    /// 450 4.1.1: the sender retries later.
    Tempfail,
}

/// A domain's recipient policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DomainPolicy {
    pub mode: Mode,
    pub unknown_when_down: UnknownWhenDown,
    /// Monitoring mode: accept only while the primary is unreachable.
    pub accept_only_when_primary_down: bool,
}

impl DomainPolicy {
    /// True when RCPTs of this domain need more than the relay check.
    pub fn needs_check(&self) -> bool {
        self.mode != Mode::AcceptAll || self.accept_only_when_primary_down
    }
}

/// `[recipients]` plus every domain's recipient policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientsConfig {
    /// How long a primary's "yes" is remembered.
    pub positive_ttl: Duration,
    /// How long a primary's "no such user" is remembered.
    pub negative_ttl: Duration,
    /// Bound on one whole callout (connect, greeting, EHLO, MAIL, RCPT).
    pub callout_timeout: Duration,
    /// Domains (normalised names) whose policy is not plain `accept_all`.
    pub domains: BTreeMap<String, DomainRecipients>,
}

impl Default for RecipientsConfig {
    fn default() -> Self {
        RecipientsConfig {
            positive_ttl: DEFAULT_POSITIVE_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            callout_timeout: DEFAULT_CALLOUT_TIMEOUT,
            domains: BTreeMap::new(),
        }
    }
}

impl RecipientsConfig {
    /// The policy of a configured domain (`accept_all` when it has none).
    pub fn policy(&self, domain: &str) -> DomainPolicy {
        self.domains
            .get(domain)
            .map_or_else(DomainPolicy::default, |d| d.policy)
    }
}

/// One domain's recipient settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainRecipients {
    pub policy: DomainPolicy,
    /// The list file (`recipients = "list"`).
    pub list: Option<PathBuf>,
}

/// The recipient keys of one `[[domain]]`; `None` for a plain `accept_all` domain.
pub(super) fn domain_recipients(section: &Section, c: &mut Collector) -> Option<DomainRecipients> {
    let mode = section.get(c, "recipients", parsed(parse_mode));
    let unknown = section.get(c, "unknown_when_down", parsed(parse_unknown));
    let monitoring = section.get(c, "accept_only_when_primary_down", boolean);
    let list = section.get(c, "recipient_list", parsed(super::build::path));
    let policy = DomainPolicy {
        mode: mode.as_ref().map_or(Mode::AcceptAll, |f| f.value),
        unknown_when_down: unknown.map_or(UnknownWhenDown::Accept, |f| f.value),
        accept_only_when_primary_down: monitoring.is_some_and(|f| f.value),
    };
    match (&policy.mode, &list) {
        (Mode::List, None) => {
            let span = mode.map_or_else(|| section.span.clone(), |f| f.span);
            let message = "recipients = \"list\" needs recipient_list = \"PATH\"";
            c.error(&span, &section.key_path("recipient_list"), message);
        }
        (Mode::List, Some(field)) => {
            if let Err(message) = check_list(&field.value) {
                c.error(&field.span, &field.key, message);
            }
        }
        (_, Some(field)) => {
            let message = "only used with recipients = \"list\"";
            c.error(&field.span, &field.key, message);
        }
        (_, None) => {}
    }
    policy.needs_check().then(|| DomainRecipients {
        policy,
        list: list.map(|f| f.value),
    })
}

/// The list file must exist and parse.
fn check_list(path: &std::path::Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    super::recipient_list::parse(&text)
        .map(|_| ())
        .map_err(|e| format!("{}:{}: {}", path.display(), e.line, e.message))
}

/// The `[recipients]` section; `domains` comes from the `[[domain]]` entries.
pub(super) fn build_recipients(
    section: &Section,
    c: &mut Collector,
    domains: BTreeMap<String, DomainRecipients>,
) -> RecipientsConfig {
    section.check_keys(c, SECTION_KEYS);
    let ttl =
        |c: &mut Collector, key: &str, default: Duration, bounds: &RangeInclusive<Duration>| {
            section
                .get(
                    c,
                    key,
                    parsed(|t| within(parse_duration(t)?, bounds, |d| format_duration(*d))),
                )
                .map_or(default, |f| f.value)
        };
    RecipientsConfig {
        positive_ttl: ttl(c, "positive_ttl", DEFAULT_POSITIVE_TTL, &TTL_BOUNDS),
        negative_ttl: ttl(c, "negative_ttl", DEFAULT_NEGATIVE_TTL, &TTL_BOUNDS),
        callout_timeout: ttl(
            c,
            "callout_timeout",
            DEFAULT_CALLOUT_TIMEOUT,
            &CALLOUT_TIMEOUT_BOUNDS,
        ),
        domains,
    }
}

fn parse_mode(text: &str) -> Result<Mode, String> {
    match text {
        "accept_all" => Ok(Mode::AcceptAll),
        "list" => Ok(Mode::List),
        "verify" => Ok(Mode::Verify),
        other => Err(format!(
            "{other:?}: expected \"accept_all\", \"list\" or \"verify\""
        )),
    }
}

fn parse_unknown(text: &str) -> Result<UnknownWhenDown, String> {
    match text {
        "accept" => Ok(UnknownWhenDown::Accept),
        "tempfail" => Ok(UnknownWhenDown::Tempfail),
        other => Err(format!("{other:?}: expected \"accept\" or \"tempfail\"")),
    }
}

#[cfg(test)]
mod tests;
