//! Relay policy: pure decisions on which recipients we accept (configured domains only, never an open
//! relay).
//!
//! Relay tricks (`%`, `!`, source routes, quoted `@`, IP literals) never reach this module: the protocol
//! core refuses them while parsing. What is left here is a plain domain comparison, done on the
//! normalised key (lower case, no trailing dot) so `Example.TEST.` and `example.test` are one domain, and
//! on label boundaries so `evilexample.test` or `example.test.evil` never pass for `example.test`.

use backupmx_smtp::{EnhancedCode, ForwardPath, Reply};

use crate::config::DomainConfig;
use crate::envelope::Route;

/// Why a recipient is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    /// The recipient's domain is not one we back up.
    #[error("relay access denied for domain {domain}")]
    RelayDenied { domain: String },
}

impl PolicyRefusal {
    /// The SMTP reply for this refusal: 550 5.7.1, permanent.
    pub fn smtp_reply(&self) -> Reply {
        Reply::new(550, EnhancedCode(5, 7, 1), "Relay access denied")
    }

    pub fn is_temporary(&self) -> bool {
        false
    }
}

/// The set of backed-up domains and our own name, ready for look-ups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayPolicy {
    domains: Vec<PolicyDomain>,
    hostname: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PolicyDomain {
    /// Normalised configured name, as routes carry it.
    name: String,
    subdomains: bool,
}

pub use crate::envelope::normalise_domain;

impl RelayPolicy {
    pub fn new(domains: &[DomainConfig], hostname: &str) -> RelayPolicy {
        let domains = domains
            .iter()
            .map(|d| PolicyDomain {
                name: normalise_domain(&d.name),
                subdomains: d.subdomains,
            })
            .filter(|d| !d.name.is_empty())
            .collect();
        RelayPolicy {
            domains,
            hostname: normalise_domain(hostname),
        }
    }

    /// Where mail for `to` goes, or why it is refused.
    pub fn route(&self, to: &ForwardPath) -> Result<Route, PolicyRefusal> {
        let mailbox = match to {
            ForwardPath::Postmaster => return Ok(Route::Postmaster),
            ForwardPath::Mailbox(mailbox) => mailbox,
        };
        let domain = mailbox.domain_key();
        if self.is_our_postmaster(&mailbox.local_part, &domain) {
            return Ok(Route::Postmaster);
        }
        match self.backed_up_domain(&domain) {
            Some(name) => Ok(Route::Relay {
                domain: name.to_string(),
            }),
            None => Err(PolicyRefusal::RelayDenied { domain }),
        }
    }

    /// The configured domain that covers `domain` (any case, trailing dot tolerated): itself, or a
    /// parent configured with `subdomains = true`. Used for RCPT and for ETRN.
    pub fn backed_up_domain(&self, domain: &str) -> Option<&str> {
        let key = normalise_domain(domain);
        if key.is_empty() {
            return None;
        }
        self.domains
            .iter()
            .find(|d| d.name == key || (d.subdomains && is_strict_subdomain(&key, &d.name)))
            .map(|d| d.name.as_str())
    }

    /// RFC 5321 §4.5.1: `postmaster@<our name>` must be accepted; the local part is case-insensitive.
    fn is_our_postmaster(&self, local_part: &str, domain_key: &str) -> bool {
        local_part.eq_ignore_ascii_case("postmaster")
            && !self.hostname.is_empty()
            && domain_key == self.hostname
    }
}

/// True when `key` is a proper subdomain of `parent`: it ends in `.parent` with a non-empty label before.
fn is_strict_subdomain(key: &str, parent: &str) -> bool {
    key.strip_suffix(parent)
        .and_then(|head| head.strip_suffix('.'))
        .is_some_and(|labels| !labels.is_empty() && !labels.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use backupmx_smtp::Mailbox;

    use super::*;

    fn domain(name: &str, subdomains: bool) -> DomainConfig {
        DomainConfig {
            name: name.to_string(),
            subdomains,
            primary: None,
            tls: Default::default(),
            limits: Default::default(),
        }
    }

    fn policy() -> RelayPolicy {
        RelayPolicy::new(
            &[domain("example.test", false), domain("corp.test", true)],
            "mx2.example.net",
        )
    }

    fn to(local: &str, domain: &str) -> ForwardPath {
        ForwardPath::Mailbox(Mailbox {
            local_part: local.to_string(),
            domain: domain.to_string(),
        })
    }

    fn relay(domain: &str) -> Result<Route, PolicyRefusal> {
        Ok(Route::Relay {
            domain: domain.to_string(),
        })
    }

    #[test]
    fn configured_domain_is_relayed_under_its_configured_name() {
        let p = policy();
        assert_eq!(p.route(&to("user", "example.test")), relay("example.test"));
        assert_eq!(p.route(&to("user", "EXAMPLE.Test")), relay("example.test"));
        assert_eq!(p.route(&to("user", "example.test.")), relay("example.test"));
        assert_eq!(
            p.route(&to("\"john doe\"", "example.test")),
            relay("example.test")
        );
    }

    #[test]
    fn configured_names_are_normalised_too() {
        let p = RelayPolicy::new(&[domain("Example.TEST.", false)], "MX2.example.net.");
        assert_eq!(p.route(&to("a", "example.test")), relay("example.test"));
        assert_eq!(
            p.route(&to("postmaster", "mx2.example.net")),
            Ok(Route::Postmaster)
        );
    }

    #[test]
    fn subdomains_only_where_configured() {
        let p = policy();
        assert!(p.route(&to("user", "sub.example.test")).is_err());
        assert_eq!(p.route(&to("user", "sub.corp.test")), relay("corp.test"));
        assert_eq!(p.route(&to("user", "a.b.CORP.test.")), relay("corp.test"));
        assert_eq!(p.route(&to("user", "corp.test")), relay("corp.test"));
    }

    #[test]
    fn lookalike_domains_are_refused() {
        let p = policy();
        for d in [
            "example.test.evil",
            "evilexample.test",
            "example.tes",
            "xample.test",
            "example.testx",
            "evilcorp.test",
            "corp.test.evil",
            ".corp.test",
            "..corp.test",
            "a..corp.test",
            "test",
            "",
            ".",
            "elsewhere.test",
        ] {
            assert!(
                matches!(
                    p.route(&to("user", d)),
                    Err(PolicyRefusal::RelayDenied { .. })
                ),
                "{d:?} must be refused"
            );
        }
    }

    #[test]
    fn postmaster_unqualified_and_at_our_hostname() {
        let p = policy();
        assert_eq!(p.route(&ForwardPath::Postmaster), Ok(Route::Postmaster));
        assert_eq!(
            p.route(&to("postmaster", "mx2.example.net")),
            Ok(Route::Postmaster)
        );
        assert_eq!(
            p.route(&to("PostMaster", "MX2.Example.NET.")),
            Ok(Route::Postmaster)
        );
    }

    #[test]
    fn postmaster_elsewhere_is_not_ours() {
        let p = policy();
        // The primary's postmaster: relayed like any other address of the domain.
        assert_eq!(
            p.route(&to("postmaster", "example.test")),
            relay("example.test")
        );
        assert!(p.route(&to("postmaster", "elsewhere.test")).is_err());
        assert!(p.route(&to("postmaster", "evil.mx2.example.net")).is_err());
        assert!(p.route(&to("postmasterx", "mx2.example.net")).is_err());
        assert!(p.route(&to("user", "mx2.example.net")).is_err());
    }

    #[test]
    fn refusal_is_550_5_7_1() {
        let r = policy().route(&to("a", "elsewhere.test")).unwrap_err();
        let reply = r.smtp_reply();
        assert_eq!(reply.code, 550);
        assert_eq!(reply.enhanced, Some(EnhancedCode(5, 7, 1)));
        assert!(!r.is_temporary());
    }

    #[test]
    fn backed_up_domain_for_etrn() {
        let p = policy();
        assert_eq!(p.backed_up_domain("Example.test."), Some("example.test"));
        assert_eq!(p.backed_up_domain("x.corp.test"), Some("corp.test"));
        assert_eq!(p.backed_up_domain("x.example.test"), None);
        assert_eq!(p.backed_up_domain(""), None);
    }

    #[test]
    fn no_domains_means_nothing_but_postmaster() {
        let p = RelayPolicy::new(&[], "mx.test");
        assert!(p.route(&to("a", "example.test")).is_err());
        assert_eq!(p.route(&ForwardPath::Postmaster), Ok(Route::Postmaster));
    }
}
