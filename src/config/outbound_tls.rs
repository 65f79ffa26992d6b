//! Outbound TLS settings: the `[[domain]]` keys `tls` and `tls_name` (how mail to the domain's
//! primary uses STARTTLS and which name its certificate is checked against) and
//! `[delivery] tls_ca_file` (extra trust roots for `tls = "require"`, MTA-STS and the readiness
//! check) and `[delivery] mta_sts_port` (where MTA-STS policies are fetched: 443, other in tests).

use std::path::{Path, PathBuf};

use super::reader::{Collector, Section, parsed, string};
use super::syntax::normalise_domain;

/// How deliveries to one domain use STARTTLS (`[[domain]] tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// `"none"`: never STARTTLS, even when offered.
    None,
    /// `"auto"` (default): the primary's published policy decides. DANE (RFC 7672) when its MX
    /// host's TLSA records are DNSSEC-validated, else MTA-STS (RFC 8461) when the domain has a
    /// policy in `enforce` mode, else opportunistic. A static primary is opportunistic.
    #[default]
    Auto,
    /// `"opportunistic"`: STARTTLS when offered, certificate unchecked (RFC 7435); a failed
    /// handshake is retried at once in clear text.
    Opportunistic,
    /// `"require"`: no delivery without TLS, and the certificate must be valid for the MX name.
    Require,
}

impl TlsMode {
    fn parse(text: &str) -> Result<TlsMode, String> {
        match text {
            "auto" => Ok(TlsMode::Auto),
            "none" => Ok(TlsMode::None),
            "opportunistic" => Ok(TlsMode::Opportunistic),
            "require" => Ok(TlsMode::Require),
            other => Err(format!(
                "{other:?}: expected \"auto\", \"opportunistic\", \"require\" or \"none\""
            )),
        }
    }
}

/// A domain's outbound TLS policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DomainTls {
    pub mode: TlsMode,
    /// With a static `primary` and `tls = "require"`: the name its certificate must be valid for,
    /// instead of the primary's host part (which may be an IP address).
    pub name: Option<String>,
}

/// Reads `tls` and `tls_name` of one `[[domain]]`; `has_primary`: a static primary is configured.
pub(super) fn build_domain_tls(
    section: &Section,
    c: &mut Collector,
    has_primary: bool,
) -> DomainTls {
    let mode = section.get(c, "tls", |v| TlsMode::parse(&string(v)?));
    let name = section.get(c, "tls_name", parsed(normalise_domain));
    let mode_value = mode.as_ref().map_or(TlsMode::default(), |f| f.value);
    if let Some(field) = &name {
        let problem = if !has_primary {
            Some("only with a static primary (an MX host is checked against its MX name)")
        } else if mode_value != TlsMode::Require {
            Some("only with tls = \"require\" (no certificate is checked otherwise)")
        } else {
            None
        };
        if let Some(message) = problem {
            c.error(&field.span, &field.key, message);
        }
    }
    DomainTls {
        mode: mode_value,
        name: name.map(|f| f.value),
    }
}

/// Where MTA-STS policies are fetched unless `[delivery] mta_sts_port` says otherwise.
pub const DEFAULT_MTA_STS_PORT: u16 = 443;

/// `[delivery] mta_sts_port`: the HTTPS port of `mta-sts.<domain>` (443; tests use another).
pub(super) fn build_mta_sts_port(section: &Section, c: &mut Collector) -> u16 {
    let port = section.get(c, "mta_sts_port", |v| {
        super::reader::within(
            super::reader::unsigned(v)?,
            &(1..=u64::from(u16::MAX)),
            super::reader::show_number,
        )
    });
    port.and_then(|f| u16::try_from(f.value).ok())
        .unwrap_or(DEFAULT_MTA_STS_PORT)
}

/// `[delivery] tls_ca_file`: an existing PEM file of CA certificates.
pub(super) fn build_ca_file(section: &Section, c: &mut Collector) -> Option<PathBuf> {
    let field = section.get(c, "tls_ca_file", parsed(super::build::path))?;
    if !Path::new(&field.value).is_file() {
        let message = format!("file not found: {}", field.value.display());
        c.error(&field.span, &field.key, message);
    }
    Some(field.value)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{MINIMAL, errors};
    use super::super::{Config, ConfigError};
    use super::*;

    fn load(text: &str) -> Config {
        Config::from_toml_str(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    fn domain(extra: &str) -> String {
        format!("[[domain]]\nname = \"example.test\"\n{extra}")
    }

    fn line_and_key(errors: &[ConfigError]) -> Vec<(usize, String)> {
        errors
            .iter()
            .map(|e| (e.line.unwrap_or(0), e.key.clone()))
            .collect()
    }

    #[test]
    fn default_is_auto_without_a_name_or_ca() {
        let config = load(MINIMAL);
        assert_eq!(config.domains[0].tls, DomainTls::default());
        assert_eq!(config.domains[0].tls.mode, TlsMode::Auto);
        assert_eq!(config.delivery.tls_ca_file, None);
        assert_eq!(config.delivery.mta_sts_port, 443);
    }

    #[test]
    fn each_mode_parses() {
        for (text, mode) in [
            ("auto", TlsMode::Auto),
            ("none", TlsMode::None),
            ("opportunistic", TlsMode::Opportunistic),
            ("require", TlsMode::Require),
        ] {
            let config = load(&domain(&format!("tls = {text:?}\n")));
            assert_eq!(config.domains[0].tls.mode, mode, "{text}");
        }
    }

    #[test]
    fn tls_name_with_a_static_primary_and_require() {
        let text = domain(
            "primary = \"192.0.2.1:25\"\ntls = \"require\"\ntls_name = \"MX.Example.test.\"\n",
        );
        let config = load(&text);
        assert_eq!(
            config.domains[0].tls.name.as_deref(),
            Some("mx.example.test")
        );
    }

    #[test]
    fn bad_values_are_reported_with_line_and_key() {
        let text = domain("tls = \"always\"\n");
        assert_eq!(
            line_and_key(&errors(&text)),
            vec![(3, "domain[0].tls".to_owned())]
        );
        let text = domain("tls = true\n");
        assert_eq!(
            line_and_key(&errors(&text)),
            vec![(3, "domain[0].tls".to_owned())]
        );
    }

    #[test]
    fn tls_name_needs_a_primary_and_require() {
        let without_primary = domain("tls = \"require\"\ntls_name = \"mx.example.test\"\n");
        let found = errors(&without_primary);
        assert_eq!(
            line_and_key(&found),
            vec![(4, "domain[0].tls_name".to_owned())]
        );
        assert!(found[0].message.contains("static primary"), "{found:?}");

        let not_required = domain("primary = \"192.0.2.1\"\ntls_name = \"mx.example.test\"\n");
        let found = errors(&not_required);
        assert_eq!(
            line_and_key(&found),
            vec![(4, "domain[0].tls_name".to_owned())]
        );
        assert!(found[0].message.contains("require"), "{found:?}");
    }

    #[test]
    fn the_example_file_shows_every_outbound_tls_key() {
        let text = include_str!("../../examples/backupmx.toml");
        for key in ["tls", "tls_name", "tls_ca_file"] {
            assert!(text.contains(&format!("{key} = ")), "example lacks {key}");
        }
        let config = load(text);
        assert!(
            config
                .domains
                .iter()
                .any(|d| d.tls.mode == TlsMode::Require)
        );
    }

    #[test]
    fn ca_file_must_exist() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let path = file.path().display().to_string();
        let config = load(&format!("[delivery]\ntls_ca_file = {path:?}\n{MINIMAL}"));
        assert_eq!(config.delivery.tls_ca_file.as_deref(), Some(file.path()));

        let text = format!("[delivery]\ntls_ca_file = \"/nonexistent/ca.pem\"\n{MINIMAL}");
        assert_eq!(
            line_and_key(&errors(&text)),
            vec![(2, "delivery.tls_ca_file".to_owned())]
        );
    }
}
