//! The `[acme]` section: certificates for the inbound listeners obtained and renewed by backupmx
//! itself (RFC 8555, HTTP-01): the CA's `directory` URL, the account's `contact` addresses, the
//! `names` the certificate covers (default: `hostname`), where the HTTP-01 challenge is answered
//! (`http_listen`, default `0.0.0.0:80`) and, for test CAs only, `ca_file` (the PEM root the
//! directory's HTTPS certificate is checked against instead of the built-in roots).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::build::path;
use super::reader::{Collector, Section, parsed, string};
use super::syntax::{normalise_domain, parse_socket_addr};

const ACME_KEYS: &[&str] = &["directory", "contact", "names", "http_listen", "ca_file"];

/// Where the HTTP-01 challenge is answered unless `[acme] http_listen` says otherwise.
pub const DEFAULT_ACME_HTTP_LISTEN: &str = "0.0.0.0:80";

/// `[acme]`, present only when the section is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeConfig {
    /// The ACME directory URL (e.g. Let's Encrypt's `https://acme-v02.api.letsencrypt.org/directory`).
    pub directory: String,
    /// Account contacts as `mailto:` URLs.
    pub contact: Vec<String>,
    /// The names the certificate covers; the first is its subject.
    pub names: Vec<String>,
    pub http_listen: SocketAddr,
    /// A PEM root for the directory's own HTTPS certificate (test CAs such as pebble).
    pub ca_file: Option<PathBuf>,
}

/// Reads `[acme]`; `None` when the section is absent. `hostname` is the default name;
/// `smtp_has_cert`: `[smtp] tls_cert` is set, which `[acme]` replaces.
pub(super) fn build_acme(
    root: &Section,
    c: &mut Collector,
    hostname: &str,
    smtp_has_cert: bool,
) -> Option<AcmeConfig> {
    if !root.has("acme") {
        return None;
    }
    let section = root.table(c, "acme");
    section.check_keys(c, ACME_KEYS);
    let directory = section.get(c, "directory", |v| {
        let url = string(v)?;
        if url.starts_with("https://") {
            Ok(url)
        } else {
            Err(format!("{url:?}: expected an https:// URL"))
        }
    });
    if directory.is_none() && !section.has("directory") {
        c.error(
            &(0..0),
            &section.key_path("directory"),
            "required in [acme]",
        );
    }
    let contact = section.list(c, "contact", |v| {
        let text = string(v)?;
        let address = text.strip_prefix("mailto:").unwrap_or(&text);
        if address.contains('@') && !address.contains(char::is_whitespace) {
            Ok(format!("mailto:{address}"))
        } else {
            Err(format!("{text:?}: expected an e-mail address"))
        }
    });
    let names = section.list(c, "names", parsed(normalise_domain));
    let http_listen = section.get(c, "http_listen", parsed(parse_socket_addr));
    let ca_file = section.get(c, "ca_file", parsed(path));
    if let Some(field) = &ca_file
        && !field.value.is_file()
    {
        let message = format!("file not found: {}", field.value.display());
        c.error(&field.span, &field.key, message);
    }
    if smtp_has_cert && let Some(field) = &directory {
        c.error(
            &field.span,
            &field.key,
            "[acme] manages the inbound certificate: remove [smtp] tls_cert and tls_key",
        );
    }
    let names = names
        .map(|f| f.value)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| vec![hostname.to_owned()]);
    Some(AcmeConfig {
        directory: directory.map(|f| f.value).unwrap_or_default(),
        contact: contact.map(|f| f.value).unwrap_or_default(),
        names,
        http_listen: http_listen.map_or_else(
            || {
                DEFAULT_ACME_HTTP_LISTEN
                    .parse()
                    .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 80)))
            },
            |f| f.value,
        ),
        ca_file: ca_file.map(|f| f.value),
    })
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::super::tests::{MINIMAL, errors};

    fn load(text: &str) -> Config {
        Config::from_toml_str(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn absent_means_no_acme_and_defaults_fill_in() {
        assert_eq!(load(MINIMAL).acme, None);
        let config = load(&format!(
            "hostname = \"mx2.example.net\"\n[acme]\ndirectory = \"https://acme.test/dir\"\n\
             contact = [\"postmaster@example.net\"]\n{MINIMAL}"
        ));
        let acme = config.acme.unwrap();
        assert_eq!(acme.names, vec!["mx2.example.net"]);
        assert_eq!(acme.contact, vec!["mailto:postmaster@example.net"]);
        assert_eq!(acme.http_listen.to_string(), "0.0.0.0:80");
        assert_eq!(acme.ca_file, None);
    }

    #[test]
    fn bad_values_are_reported_with_their_key() {
        let found = errors(&format!(
            "[acme]\ndirectory = \"http://acme.test/dir\"\ncontact = [\"nobody\"]\n\
             http_listen = \"nowhere\"\n{MINIMAL}"
        ));
        let keys: Vec<&str> = found.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["acme.directory", "acme.contact[0]", "acme.http_listen"],
            "{found:?}"
        );
        let missing = errors(&format!("[acme]\nnames = [\"mx.example.net\"]\n{MINIMAL}"));
        assert_eq!(missing[0].key, "acme.directory", "{missing:?}");
    }
}
