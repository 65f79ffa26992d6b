//! Pure MTA-STS (RFC 8461): the `_mta-sts` TXT record, the policy file, and whether an MX host name
//! matches a policy's `mx:` patterns.

use std::time::Duration;

/// The longest `max_age` a policy may state (RFC 8461 §3.2: one year).
pub const MAX_AGE_LIMIT: Duration = Duration::from_secs(31_557_600);

/// A policy's `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Senders must not deliver to an MX host that is not listed or has no valid certificate.
    Enforce,
    /// Senders deliver anyway and only report failures.
    Testing,
    /// The domain withdrew its policy.
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A parsed policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// The `mx:` patterns, lower-case, without a trailing dot (`*.example.net` allowed).
    pub mx: Vec<String>,
    pub max_age: Duration,
}

/// Why a TXT record or a policy file is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy has no \"version: STSv1\" line")]
    Version,
    #[error("the policy's mode is missing or unknown ({0:?})")]
    Mode(String),
    #[error("the policy's max_age is missing or not a number of seconds ({0:?})")]
    MaxAge(String),
    #[error("the policy in mode {0} lists no mx")]
    NoMx(&'static str),
    #[error("more than one _mta-sts TXT record starts with v=STSv1")]
    SeveralRecords,
    #[error("the _mta-sts TXT record has no id (or an invalid one): {0:?}")]
    RecordId(String),
}

/// The `_mta-sts.<domain>` TXT record's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsRecord {
    /// Changes whenever the policy changes: a cached policy with another id is fetched again.
    pub id: String,
}

/// Picks the STS record among a name's TXT strings: `None` when none starts with `v=STSv1`
/// (RFC 8461 §3.1: other records are ignored; more than one is an error).
pub fn parse_record(txt: &[String]) -> Result<Option<StsRecord>, PolicyError> {
    let sts: Vec<&String> = txt
        .iter()
        .filter(|t| {
            let t = t.trim_start();
            t.starts_with("v=STSv1;") || t == "v=STSv1"
        })
        .collect();
    let record = match sts.as_slice() {
        [] => return Ok(None),
        [one] => one,
        _ => return Err(PolicyError::SeveralRecords),
    };
    let id = record
        .split(';')
        .filter_map(|field| field.trim().split_once('='))
        .find(|(key, _)| key.trim() == "id")
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default();
    let valid = !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric());
    if !valid {
        return Err(PolicyError::RecordId(record.to_string()));
    }
    Ok(Some(StsRecord { id }))
}

/// Parses a policy file (`key: value` lines, CRLF or LF); unknown keys are ignored (§3.2).
pub fn parse_policy(text: &str) -> Result<Policy, PolicyError> {
    let mut version = None;
    let mut mode = None;
    let mut max_age = None;
    let mut mx = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "version" if version.is_none() => version = Some(value.to_owned()),
            "mode" if mode.is_none() => mode = Some(value.to_owned()),
            "max_age" if max_age.is_none() => max_age = Some(value.to_owned()),
            "mx" => mx.push(value.trim_end_matches('.').to_ascii_lowercase()),
            _ => {}
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err(PolicyError::Version);
    }
    let mode_text = mode.unwrap_or_default();
    let mode = match mode_text.as_str() {
        "enforce" => Mode::Enforce,
        "testing" => Mode::Testing,
        "none" => Mode::None,
        _ => return Err(PolicyError::Mode(mode_text)),
    };
    let age_text = max_age.unwrap_or_default();
    let seconds: u64 = match age_text.parse() {
        Ok(seconds) if !age_text.is_empty() && age_text.len() <= 10 => seconds,
        _ => return Err(PolicyError::MaxAge(age_text)),
    };
    if mx.is_empty() && mode != Mode::None {
        return Err(PolicyError::NoMx(mode.as_str()));
    }
    Ok(Policy {
        mode,
        mx,
        max_age: Duration::from_secs(seconds).min(MAX_AGE_LIMIT),
    })
}

impl Policy {
    /// Whether `host` (an MX host name) is one of the policy's `mx:` patterns; a `*.` pattern
    /// matches exactly one leftmost label (§4.1).
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx
            .iter()
            .any(|pattern| pattern_matches(pattern, &host))
    }
}

fn pattern_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => pattern == host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n\
                        mx: *.backup.example.net\r\nmax_age: 86400\r\n";

    fn txt(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_complete_policy_parses() {
        let policy = parse_policy(GOOD).unwrap();
        assert_eq!(policy.mode, Mode::Enforce);
        assert_eq!(policy.mx, vec!["mail.example.com", "*.backup.example.net"]);
        assert_eq!(policy.max_age, Duration::from_secs(86400));
        let lf = parse_policy(&GOOD.replace("\r\n", "\n")).unwrap();
        assert_eq!(lf, policy);
    }

    #[test]
    fn max_age_is_capped_at_a_year_and_must_be_a_number() {
        let long = GOOD.replace("86400", "99999999");
        assert_eq!(parse_policy(&long).unwrap().max_age, MAX_AGE_LIMIT);
        for bad in ["-1", "", "1d", "99999999999"] {
            let text = GOOD.replace("86400", bad);
            assert!(
                matches!(parse_policy(&text), Err(PolicyError::MaxAge(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn version_mode_and_mx_are_required() {
        let no_version = GOOD.replace("version: STSv1", "version: STSv2");
        assert_eq!(parse_policy(&no_version), Err(PolicyError::Version));
        let bad_mode = GOOD.replace("enforce", "strict");
        assert_eq!(
            parse_policy(&bad_mode),
            Err(PolicyError::Mode("strict".into()))
        );
        let no_mx = "version: STSv1\nmode: testing\nmax_age: 10\n";
        assert_eq!(parse_policy(no_mx), Err(PolicyError::NoMx("testing")));
        let none = "version: STSv1\nmode: none\nmax_age: 10\n";
        assert_eq!(parse_policy(none).unwrap().mode, Mode::None);
    }

    #[test]
    fn mx_patterns_match_exact_names_and_one_wildcard_label() {
        let policy = parse_policy(GOOD).unwrap();
        assert!(policy.allows("mail.example.com"));
        assert!(policy.allows("MAIL.Example.com."));
        assert!(policy.allows("mx2.backup.example.net"));
        assert!(!policy.allows("backup.example.net"));
        assert!(!policy.allows("a.mx2.backup.example.net"));
        assert!(!policy.allows("mx2.example.net"));
        assert!(!policy.allows("xmail.example.com"));
    }

    #[test]
    fn the_txt_record_is_found_among_others() {
        assert_eq!(parse_record(&txt(&["v=spf1 -all"])), Ok(None));
        assert_eq!(
            parse_record(&txt(&["v=spf1 -all", "v=STSv1; id=20260101T000000;"])),
            Ok(Some(StsRecord {
                id: "20260101T000000".into()
            }))
        );
        assert_eq!(
            parse_record(&txt(&["v=STSv1; id=a", "v=STSv1; id=b"])),
            Err(PolicyError::SeveralRecords)
        );
        assert!(matches!(
            parse_record(&txt(&["v=STSv1;"])),
            Err(PolicyError::RecordId(_))
        ));
        assert!(matches!(
            parse_record(&txt(&["v=STSv1; id=no-dashes"])),
            Err(PolicyError::RecordId(_))
        ));
    }
}
