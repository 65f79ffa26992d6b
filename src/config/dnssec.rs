//! `[dns] dnssec` and `[dns] trust_anchor`: who decides that TLSA records (DANE) are
//! DNSSEC-validated. `"resolver"` (the default) trusts the AD bit of the configured resolver, as
//! Postfix does with a local validating resolver; `"validate"` makes backupmx validate the answers
//! itself (hickory's validator) from the IANA root anchors, or from the DNSKEY records of
//! `trust_anchor` (a private anchor, e.g. for an internal signed zone).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use hickory_proto::dnssec::TrustAnchors;

use super::reader::{Collector, Section, parsed, string};

/// How DNSSEC validation of TLSA records is obtained.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DnssecMode {
    /// `"resolver"`: the `[dns]` nameservers validate; an answer with the AD bit is validated.
    #[default]
    Resolver,
    /// `"validate"`: backupmx validates the signatures itself, from these anchors.
    Validate { trust_anchor: TrustAnchor },
}

/// Where the validation chain starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TrustAnchor {
    /// The IANA root zone's keys (KSK-2017 and KSK-2024), built into hickory.
    #[default]
    IanaRoot,
    /// The DNSKEY records of this file (zone-file syntax, one record a line, any owner name).
    File(PathBuf),
}

impl DnssecMode {
    fn parse(text: &str) -> Result<bool, String> {
        match text {
            "resolver" => Ok(false),
            "validate" => Ok(true),
            other => Err(format!("{other:?}: expected \"resolver\" or \"validate\"")),
        }
    }
}

/// Reads `dnssec` and `trust_anchor` of `[dns]`.
pub(super) fn build_dnssec(section: &Section, c: &mut Collector) -> DnssecMode {
    let validate = section.get(c, "dnssec", |v| DnssecMode::parse(&string(v)?));
    let anchor = section.get(c, "trust_anchor", parsed(super::build::path));
    let validating = validate.as_ref().is_some_and(|f| f.value);
    let Some(anchor) = anchor else {
        return if validating {
            DnssecMode::Validate {
                trust_anchor: TrustAnchor::IanaRoot,
            }
        } else {
            DnssecMode::Resolver
        };
    };
    if !validating {
        let message = format!(
            "only with {} = \"validate\" (the resolver's own anchors decide otherwise)",
            section.key_path("dnssec")
        );
        c.error(&anchor.span, &anchor.key, message);
        return DnssecMode::Resolver;
    }
    if let Err(message) = read_anchor(&anchor.value) {
        c.error(&anchor.span, &anchor.key, message);
    }
    DnssecMode::Validate {
        trust_anchor: TrustAnchor::File(anchor.value),
    }
}

/// The anchors of a trust-anchor file: DNSKEY records in zone-file syntax. At least one.
pub fn read_anchor(file: &Path) -> Result<TrustAnchors, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let anchors = TrustAnchors::from_str(&text)
        .map_err(|e| format!("{}: not a list of DNSKEY records: {e}", file.display()))?;
    let has_key = text.lines().any(|line| {
        let line = line.split(';').next().unwrap_or_default();
        line.split_whitespace()
            .any(|word| word.eq_ignore_ascii_case("DNSKEY"))
    });
    if has_key {
        Ok(anchors)
    } else {
        Err(format!("{}: no DNSKEY record", file.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::super::tests::{MINIMAL, places};
    use super::*;

    /// A real Ed25519 public key (RFC 8080 §6 example).
    const ANCHOR: &str =
        "example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n";

    fn load(text: &str) -> Config {
        Config::from_toml_str(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_default_trusts_the_resolver() {
        assert_eq!(load(MINIMAL).dns.dnssec, DnssecMode::Resolver);
        let config = load(&format!("[dns]\ndnssec = \"resolver\"\n{MINIMAL}"));
        assert_eq!(config.dns.dnssec, DnssecMode::Resolver);
    }

    #[test]
    fn validate_starts_from_the_root_or_a_file() {
        let config = load(&format!("[dns]\ndnssec = \"validate\"\n{MINIMAL}"));
        assert_eq!(
            config.dns.dnssec,
            DnssecMode::Validate {
                trust_anchor: TrustAnchor::IanaRoot
            }
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("anchor.key");
        std::fs::write(&file, ANCHOR).unwrap();
        let config = load(&format!(
            "[dns]\ndnssec = \"validate\"\ntrust_anchor = {:?}\n{MINIMAL}",
            file.display().to_string()
        ));
        assert_eq!(
            config.dns.dnssec,
            DnssecMode::Validate {
                trust_anchor: TrustAnchor::File(file)
            }
        );
    }

    #[test]
    fn bad_values_name_line_and_key() {
        let text = format!("[dns]\ndnssec = \"yes\"\n{MINIMAL}");
        assert_eq!(places(&text), [(2, "dns.dnssec".to_string())]);

        // An anchor without validation.
        let text = format!("[dns]\ntrust_anchor = \"/etc/hosts\"\n{MINIMAL}");
        assert_eq!(places(&text), [(2, "dns.trust_anchor".to_string())]);

        // A missing file, a file without a DNSKEY, a file that does not parse.
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.key");
        std::fs::write(&empty, "; nothing\n").unwrap();
        let garbage = dir.path().join("garbage.key");
        std::fs::write(&garbage, "example.com. IN DNSKEY not-a-key\n").unwrap();
        for file in [dir.path().join("missing.key"), empty, garbage] {
            let text = format!(
                "[dns]\ndnssec = \"validate\"\ntrust_anchor = {:?}\n{MINIMAL}",
                file.display().to_string()
            );
            assert_eq!(
                places(&text),
                [(3, "dns.trust_anchor".to_string())],
                "{}",
                file.display()
            );
        }
    }
}
