//! The `[[domain]]` list: the domains this server backs up, normalised, validated, without duplicates.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use super::reader::{Collector, Section, boolean, parsed};
use super::syntax::{normalise_domain, parse_primary};
use super::{DomainConfig, DomainRecipients};

const DOMAIN_KEYS: &[&str] = &[
    "name",
    "subdomains",
    "primary",
    // outbound TLS policy (outbound_tls.rs)
    "tls",
    "tls_name",
    // recipient validation (recipients.rs)
    "recipients",
    "recipient_list",
    "unknown_when_down",
    "accept_only_when_primary_down",
    // sender checks (checks.rs)
    "sender_checks",
    // retention and quotas (domain_limits.rs)
    "max_lifetime",
    "max_messages",
    "max_bytes",
];

/// Builds every `[[domain]]`; `default_port` is used for a primary written without a port.
pub(super) fn build_domains(
    root: &Section,
    c: &mut Collector,
    default_port: u16,
    recipients: &mut BTreeMap<String, DomainRecipients>,
    sender_checks: &mut BTreeMap<String, super::SenderChecks>,
) -> Vec<DomainConfig> {
    let Some(sections) = root.tables(c, "domain") else {
        let message = "at least one [[domain]] is required (the domains this server backs up)";
        c.error(&(0..0), "domain", message);
        return Vec::new();
    };
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    let mut domains = Vec::new();
    for section in &sections {
        let Some((domain, name_span)) = build_domain(section, c, default_port) else {
            continue;
        };
        if let Some(line) = first_seen.get(&domain.name) {
            let message = format!("duplicate domain {:?} (first on line {line})", domain.name);
            c.error(&name_span, &section.key_path("name"), message);
            continue;
        }
        first_seen.insert(domain.name.clone(), c.line_of(&name_span));
        if let Some(policy) = super::recipients::domain_recipients(section, c) {
            recipients.insert(domain.name.clone(), policy);
        }
        if let Some(mode) = super::checks::domain_sender_checks(section, c) {
            sender_checks.insert(domain.name.clone(), mode);
        }
        domains.push(domain);
    }
    domains
}

fn build_domain(
    section: &Section,
    c: &mut Collector,
    default_port: u16,
) -> Option<(DomainConfig, Range<usize>)> {
    section.check_keys(c, DOMAIN_KEYS);
    let name = section.get(c, "name", parsed(normalise_domain));
    let subdomains = section
        .get(c, "subdomains", boolean)
        .is_some_and(|f| f.value);
    let primary = section.get(c, "primary", parsed(|t| parse_primary(t, default_port)));
    let has_primary = primary.is_some() || section.has("primary");
    let tls = super::outbound_tls::build_domain_tls(section, c, has_primary);
    let limits = super::domain_limits::build_domain_limits(section, c);
    let Some(name) = name else {
        if !section.has("name") {
            c.error(
                &section.span,
                &section.key_path("name"),
                "missing: every [[domain]] needs a name",
            );
        }
        return None;
    };
    Some((
        DomainConfig {
            name: name.value,
            subdomains,
            primary: primary.map(|f| f.value),
            tls,
            limits,
        },
        name.span,
    ))
}
