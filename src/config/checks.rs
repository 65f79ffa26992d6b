//! The sender checks' settings (issue 15): `[[dnsbl]]` lists, `[checks]` (threshold, allow list, the
//! size up to which DKIM/DMARC verify a message), `[arc]` (the sealing key), and the per-domain
//! `sender_checks = "tag" | "enforce" | "off"` collected by `domains.rs`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use super::build::{count, path};
use super::limits::*;
use super::reader::{Collector, Section, parsed, string};
use super::syntax::{normalise_domain, parse_cidr};

const CHECKS_KEYS: &[&str] = &["dnsbl_threshold", "allow", "max_verify_size"];
const DNSBL_KEYS: &[&str] = &["zone", "weight", "codes"];
const ARC_KEYS: &[&str] = &["domain", "selector", "key_file"];

/// What a domain does with the SPF, DKIM and DMARC results of mail for it. Ordered from the most
/// lenient to the strictest: a message for several domains follows the greatest among the domains of
/// the recipients it was accepted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum SenderChecks {
    /// Nothing is checked or added.
    Off,
    /// Checked, recorded and added to the message (Authentication-Results); nothing refused.
    #[default]
    Tag,
    /// As `tag`, and SPF fail / DMARC reject failures / temporary errors refuse the message.
    Enforce,
}

impl SenderChecks {
    pub fn name(self) -> &'static str {
        match self {
            SenderChecks::Off => "off",
            SenderChecks::Tag => "tag",
            SenderChecks::Enforce => "enforce",
        }
    }
}

/// One `[[dnsbl]]`: a DNS block list (positive weight) or allow list (negative weight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsblList {
    /// Lower-case, no trailing dot.
    pub zone: String,
    pub weight: i64,
    /// Only these answers count; empty: any answer counts.
    pub codes: Vec<Ipv4Addr>,
}

/// `[arc]`: the key our ARC sets are sealed with (RSA or Ed25519, PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArcConfig {
    pub domain: String,
    pub selector: String,
    pub key_file: PathBuf,
}

/// Everything the sender checks read from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ChecksConfig {
    pub dnsbl: Vec<DnsblList>,
    /// Sum of the weights of the lists naming a client at which it is refused.
    pub dnsbl_threshold: i64,
    /// Clients never DNSBL-checked and never refused by the sender checks (results are still tagged).
    pub allow: Vec<IpNet>,
    /// Messages up to this size are kept in memory for DKIM/DMARC and ARC; bigger ones get
    /// `dkim=neutral` ("too large to verify") and no ARC set.
    pub max_verify_size: u64,
    /// Per configured domain; a domain absent here uses [`SenderChecks::Tag`].
    pub sender_checks: BTreeMap<String, SenderChecks>,
    pub arc: Option<ArcConfig>,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        ChecksConfig {
            dnsbl: Vec::new(),
            dnsbl_threshold: DEFAULT_DNSBL_THRESHOLD,
            allow: Vec::new(),
            max_verify_size: DEFAULT_MAX_VERIFY_SIZE,
            sender_checks: BTreeMap::new(),
            arc: None,
        }
    }
}

impl ChecksConfig {
    /// The setting of a configured domain (normalised name).
    pub fn sender_checks_for(&self, domain: &str) -> SenderChecks {
        self.sender_checks.get(domain).copied().unwrap_or_default()
    }
}

/// Builds `[checks]`, `[[dnsbl]]` and `[arc]`; `sender_checks` comes from the `[[domain]]` sections.
pub(super) fn build_checks(
    root: &Section,
    c: &mut Collector,
    sender_checks: BTreeMap<String, SenderChecks>,
) -> ChecksConfig {
    let section = root.table(c, "checks");
    section.check_keys(c, CHECKS_KEYS);
    let threshold = section.get(c, "dnsbl_threshold", |v| {
        signed(v).and_then(|n| {
            if (1..=DNSBL_WEIGHT_LIMIT).contains(&n) {
                Ok(n)
            } else {
                Err(format!("{n} is out of range (1 to {DNSBL_WEIGHT_LIMIT})"))
            }
        })
    });
    ChecksConfig {
        dnsbl: build_dnsbl(root, c),
        dnsbl_threshold: threshold.map_or(DEFAULT_DNSBL_THRESHOLD, |f| f.value),
        allow: section
            .list(c, "allow", parsed(parse_cidr))
            .map_or_else(Vec::new, |f| f.value),
        max_verify_size: count(
            &section,
            c,
            "max_verify_size",
            DEFAULT_MAX_VERIFY_SIZE,
            MAX_VERIFY_SIZE_BOUNDS,
        ),
        sender_checks,
        arc: build_arc(&root.table(c, "arc"), c),
    }
}

/// The per-domain key, read by `domains.rs` for each `[[domain]]`.
pub(super) fn domain_sender_checks(section: &Section, c: &mut Collector) -> Option<SenderChecks> {
    section
        .get(c, "sender_checks", parsed(parse_sender_checks))
        .map(|f| f.value)
}

fn parse_sender_checks(text: &str) -> Result<SenderChecks, String> {
    match text {
        "off" => Ok(SenderChecks::Off),
        "tag" => Ok(SenderChecks::Tag),
        "enforce" => Ok(SenderChecks::Enforce),
        other => Err(format!(
            "{other:?} is not a sender check mode (expected \"tag\", \"enforce\" or \"off\")"
        )),
    }
}

fn build_dnsbl(root: &Section, c: &mut Collector) -> Vec<DnsblList> {
    let Some(sections) = root.tables(c, "dnsbl") else {
        return Vec::new();
    };
    let mut lists: Vec<DnsblList> = Vec::new();
    for section in &sections {
        section.check_keys(c, DNSBL_KEYS);
        let zone = section.get(c, "zone", parsed(normalise_domain));
        let weight = section.get(c, "weight", |v| {
            signed(v).and_then(|n| {
                if n != 0 && n.abs() <= DNSBL_WEIGHT_LIMIT {
                    Ok(n)
                } else {
                    Err(format!(
                        "{n}: a weight is non-zero, from -{DNSBL_WEIGHT_LIMIT} to {DNSBL_WEIGHT_LIMIT}"
                    ))
                }
            })
        });
        let codes = section.list(c, "codes", parsed(parse_code));
        let Some(zone) = zone else {
            if !section.has("zone") {
                c.error(
                    &section.span,
                    &section.key_path("zone"),
                    "missing: every [[dnsbl]] needs a zone",
                );
            }
            continue;
        };
        if lists.iter().any(|l| l.zone == zone.value) {
            let message = format!("duplicate zone {:?}", zone.value);
            c.error(&zone.span, &zone.key, message);
            continue;
        }
        lists.push(DnsblList {
            zone: zone.value,
            weight: weight.map_or(1, |f| f.value),
            codes: codes.map_or_else(Vec::new, |f| f.value),
        });
    }
    lists
}

/// A DNSBL answer code: an IPv4 address in 127.0.0.0/8 (RFC 5782 §2.1).
fn parse_code(text: &str) -> Result<Ipv4Addr, String> {
    match text.parse::<Ipv4Addr>() {
        Ok(ip) if ip.octets()[0] == 127 => Ok(ip),
        _ => Err(format!(
            "{text:?} is not a DNSBL answer (an address in 127.0.0.0/8, e.g. \"127.0.0.2\")"
        )),
    }
}

fn build_arc(section: &Section, c: &mut Collector) -> Option<ArcConfig> {
    if !section.has("domain") && !section.has("selector") && !section.has("key_file") {
        section.check_keys(c, ARC_KEYS);
        return None;
    }
    section.check_keys(c, ARC_KEYS);
    let domain = section.get(c, "domain", parsed(normalise_domain));
    let selector = section.get(c, "selector", |v| {
        string(v).and_then(|s| {
            let valid = !s.is_empty()
                && s.split('.').all(|label| {
                    !label.is_empty()
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
            if valid {
                Ok(s)
            } else {
                Err(format!(
                    "{s:?} is not a DKIM selector (letters, digits, '-', '_', dots)"
                ))
            }
        })
    });
    let key_file = section.get(c, "key_file", parsed(path));
    for key in ["domain", "selector", "key_file"] {
        if !section.has(key) {
            let message = "missing: [arc] needs domain, selector and key_file";
            c.error(&section.span, &section.key_path(key), message);
        }
    }
    if let Some(field) = &key_file
        && let Err(message) = check_signing_key(&field.value)
    {
        c.error(&field.span, &field.key, message);
    }
    Some(ArcConfig {
        domain: domain?.value,
        selector: selector?.value,
        key_file: key_file?.value,
    })
}

/// The key file must hold a private key mail-auth can sign with: RSA (PKCS#1 or PKCS#8) or Ed25519
/// (PKCS#8), PEM.
fn check_signing_key(path: &Path) -> Result<(), String> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    signing_key_kind(&pem)
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The kind of private key in `pem`, or why it cannot sign ARC sets. Shared with the sealer, which
/// loads the key the same way at start.
pub fn signing_key_kind(pem: &str) -> Result<&'static str, String> {
    use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("no PEM private key: {e}"))?;
    match &key {
        PrivateKeyDer::Pkcs1(_) => RsaKey::<Sha256>::from_key_der(key.clone_key())
            .map(|_| "rsa")
            .map_err(|e| format!("not a usable RSA key: {e}")),
        PrivateKeyDer::Pkcs8(der) => {
            if RsaKey::<Sha256>::from_key_der(key.clone_key()).is_ok() {
                return Ok("rsa");
            }
            Ed25519Key::from_pkcs8_maybe_unchecked_der(der.secret_pkcs8_der())
                .map(|_| "ed25519")
                .map_err(|e| format!("neither an RSA nor an Ed25519 key: {e}"))
        }
        _ => Err("an EC key: ARC signs with RSA-SHA256 or Ed25519-SHA256 only".into()),
    }
}

/// An integer that may be negative.
fn signed(value: &toml::de::DeValue) -> Result<i64, String> {
    let toml::de::DeValue::Integer(integer) = value else {
        return Err(format!("expected an integer, found {}", value.type_str()));
    };
    i64::from_str_radix(integer.as_str(), integer.radix())
        .map_err(|_| format!("{integer} is not an integer that fits in 64 bits"))
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    const DOMAIN: &str = "[[domain]]\nname = \"example.test\"\n";

    fn load(text: &str) -> Result<Config, Vec<(usize, String, String)>> {
        Config::from_toml_str(text, "test.toml").map_err(|errors| {
            errors
                .errors
                .into_iter()
                .map(|e| (e.line.unwrap_or(0), e.key, e.message))
                .collect()
        })
    }

    #[test]
    fn defaults_check_nothing_at_connect_and_tag_every_domain() {
        let config = load(DOMAIN).unwrap();
        assert_eq!(config.checks, ChecksConfig::default());
        assert_eq!(
            config.checks.sender_checks_for("example.test"),
            SenderChecks::Tag
        );
    }

    #[test]
    fn lists_threshold_allow_and_modes_are_read() {
        let text = format!(
            "{DOMAIN}sender_checks = \"enforce\"\n\
             [[domain]]\nname = \"b.test\"\nsender_checks = \"off\"\n\
             [[dnsbl]]\nzone = \"ZEN.example.\"\nweight = 2\ncodes = [\"127.0.0.2\"]\n\
             [[dnsbl]]\nzone = \"wl.example\"\nweight = -3\n\
             [checks]\ndnsbl_threshold = 2\nallow = [\"192.0.2.0/24\"]\n"
        );
        let config = load(&text).unwrap();
        let checks = &config.checks;
        assert_eq!(checks.dnsbl.len(), 2);
        assert_eq!(checks.dnsbl[0].zone, "zen.example");
        assert_eq!(checks.dnsbl[0].codes, vec![Ipv4Addr::new(127, 0, 0, 2)]);
        assert_eq!(checks.dnsbl[1].weight, -3);
        assert_eq!(checks.dnsbl_threshold, 2);
        assert_eq!(checks.allow, vec!["192.0.2.0/24".parse().unwrap()]);
        assert_eq!(
            checks.sender_checks_for("example.test"),
            SenderChecks::Enforce
        );
        assert_eq!(checks.sender_checks_for("b.test"), SenderChecks::Off);
    }

    #[test]
    fn bad_values_name_line_and_key() {
        let text = format!(
            "{DOMAIN}sender_checks = \"strict\"\n\
             [[dnsbl]]\nweight = 0\ncodes = [\"10.0.0.1\"]\n\
             [checks]\ndnsbl_threshold = 0\n\
             [arc]\ndomain = \"example.test\"\n"
        );
        let errors = load(&text).unwrap_err();
        let places: Vec<(usize, &str)> = errors.iter().map(|(l, k, _)| (*l, k.as_str())).collect();
        assert!(
            places.contains(&(3, "domain[0].sender_checks")),
            "{errors:?}"
        );
        assert!(places.contains(&(5, "dnsbl[0].weight")), "{errors:?}");
        assert!(places.contains(&(6, "dnsbl[0].codes[0]")), "{errors:?}");
        assert!(
            places.iter().any(|(_, k)| *k == "dnsbl[0].zone"),
            "{errors:?}"
        );
        assert!(
            places.contains(&(8, "checks.dnsbl_threshold")),
            "{errors:?}"
        );
        assert!(
            places.iter().any(|(_, k)| *k == "arc.selector"),
            "{errors:?}"
        );
        assert!(
            places.iter().any(|(_, k)| *k == "arc.key_file"),
            "{errors:?}"
        );
    }

    #[test]
    fn strictest_mode_is_the_greatest() {
        assert!(SenderChecks::Enforce > SenderChecks::Tag);
        assert!(SenderChecks::Tag > SenderChecks::Off);
    }
}
