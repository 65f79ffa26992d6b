//! Turns the walked TOML tree into a validated [`Config`]: defaults, bounds and cross-key checks.
//! Every problem is recorded in the collector; the caller returns them all together.

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::duration::{format_duration, parse_duration};
use super::limits::*;
use super::reader::{Collector, Field, Section, parsed, show_number, unsigned, within};
use super::syntax::{
    normalise_domain, parse_addr_with_default_port, parse_cidr, parse_socket_addr,
};
use super::{Config, DeliveryConfig, DnsConfig, QueueConfig, SmtpConfig, SpoolConfig};

const TOP_KEYS: &[&str] = &[
    "hostname",
    "extra_names",
    "smtp",
    "spool",
    "dns",
    "delivery",
    "queue",
    "domain",
    "admin",
    "limits",
    "recipients",
    "checks",
    "dnsbl",
    "arc",
    "acme",
    "cluster",
    "alert",
    "alerts",
];
const SMTP_KEYS: &[&str] = &[
    "listen",
    "max_message_size",
    "max_recipients",
    "max_connections",
    "tls_cert",
    "tls_key",
    "command_timeout",
    "etrn_allow",
    "greeting_delay",
    "data_timeout",
    "session_timeout",
    "tls_listen",
];
const SPOOL_KEYS: &[&str] = &[
    "dir",
    "backend",
    "postgres_url",
    "postgres_password_file",
    "postgres_pool_size",
];
const DNS_KEYS: &[&str] = &["nameservers", "dnssec", "trust_anchor"];
const DELIVERY_KEYS: &[&str] = &[
    "port",
    "connect_timeout",
    "command_timeout",
    "data_timeout",
    "tls_ca_file",
    "mta_sts_port",
];
const QUEUE_KEYS: &[&str] = &[
    "retry",
    "max_lifetime",
    "delay_warning",
    "probe_interval",
    "max_parallel",
];

/// Builds the whole config; values in error are replaced by defaults so that checking can go on.
pub(super) fn build_config(root: &Section, c: &mut Collector) -> Config {
    root.check_keys(c, TOP_KEYS);
    let hostname = root.get(c, "hostname", parsed(normalise_domain));
    let extra_names = root.list(c, "extra_names", parsed(normalise_domain));
    let smtp = build_smtp(&root.table(c, "smtp"), c, root.has("acme"));
    let spool = build_spool(&root.table(c, "spool"), c);
    let dns = build_dns(&root.table(c, "dns"), c);
    let delivery = build_delivery(&root.table(c, "delivery"), c);
    let queue = build_queue(&root.table(c, "queue"), c);
    let mut domain_recipients = std::collections::BTreeMap::new();
    let mut sender_checks = std::collections::BTreeMap::new();
    let domains = super::domains::build_domains(
        root,
        c,
        delivery.port,
        &mut domain_recipients,
        &mut sender_checks,
    );
    let checks = super::checks::build_checks(root, c, sender_checks);
    let admin = super::admin::build_admin(&root.table(c, "admin"), c);
    let limits = super::client_limits::build_limits(&root.table(c, "limits"), c);
    let recipients_section = root.table(c, "recipients");
    let recipients = super::recipients::build_recipients(&recipients_section, c, domain_recipients);
    let hostname = hostname.map_or_else(|| DEFAULT_HOSTNAME.to_string(), |f| f.value);
    let acme = super::acme::build_acme(root, c, &hostname, smtp.tls_cert.is_some());
    let cluster = super::cluster::build_cluster(&root.table(c, "cluster"), c);
    let alerts = super::alerts::build_alerts(root, c);
    Config {
        hostname,
        acme,
        extra_names: extra_names.map_or_else(Vec::new, |f| f.value),
        smtp,
        spool,
        cluster,
        dns,
        delivery,
        queue,
        domains,
        admin,
        limits,
        recipients,
        checks,
        provisioned: std::collections::BTreeSet::new(),
        alerts,
    }
}

/// `acme`: an `[acme]` section provides the certificate (so `tls_listen` needs no files).
fn build_smtp(section: &Section, c: &mut Collector, acme: bool) -> SmtpConfig {
    section.check_keys(c, SMTP_KEYS);
    let listen = section.list(c, "listen", parsed(parse_socket_addr));
    let listen = non_empty(c, listen);
    let (tls_cert, tls_key) = tls_pair(section, c);
    let tls_listen = implicit_tls_listen(
        section,
        c,
        acme || (tls_cert.is_some() && tls_key.is_some()),
    );
    SmtpConfig {
        listen: listen.unwrap_or_else(|| vec![DEFAULT_SMTP_LISTEN]),
        max_message_size: count(
            section,
            c,
            "max_message_size",
            DEFAULT_MAX_MESSAGE_SIZE,
            MAX_MESSAGE_SIZE_BOUNDS,
        ),
        max_recipients: size(
            section,
            c,
            "max_recipients",
            DEFAULT_MAX_RECIPIENTS,
            MAX_RECIPIENTS_BOUNDS,
        ),
        max_connections: size(
            section,
            c,
            "max_connections",
            DEFAULT_MAX_CONNECTIONS,
            MAX_CONNECTIONS_BOUNDS,
        ),
        tls_cert,
        tls_key,
        command_timeout: duration(
            section,
            c,
            "command_timeout",
            DEFAULT_SMTP_COMMAND_TIMEOUT,
            SMTP_COMMAND_TIMEOUT_BOUNDS,
        ),
        etrn_allow: section
            .list(c, "etrn_allow", parsed(parse_cidr))
            .map_or_else(Vec::new, |f| f.value),
        greeting_delay: duration(
            section,
            c,
            "greeting_delay",
            DEFAULT_GREETING_DELAY,
            GREETING_DELAY_BOUNDS,
        ),
        data_timeout: duration(
            section,
            c,
            "data_timeout",
            DEFAULT_DATA_TIMEOUT,
            DATA_TIMEOUT_BOUNDS,
        ),
        session_timeout: duration(
            section,
            c,
            "session_timeout",
            DEFAULT_SESSION_TIMEOUT,
            SESSION_TIMEOUT_BOUNDS,
        ),
        tls_listen,
    }
}

/// `tls_listen`: implicit-TLS listeners, which need the certificate and key.
fn implicit_tls_listen(
    section: &Section,
    c: &mut Collector,
    have_tls: bool,
) -> Vec<std::net::SocketAddr> {
    let Some(field) = section.list(c, "tls_listen", parsed(parse_socket_addr)) else {
        return Vec::new();
    };
    if !field.value.is_empty() && !have_tls {
        let message = format!(
            "needs {} and {}",
            section.key_path("tls_cert"),
            section.key_path("tls_key")
        );
        c.error(&field.span, &field.key, message);
    }
    field.value
}

/// Certificate and key: both or neither, and each must be an existing file.
fn tls_pair(section: &Section, c: &mut Collector) -> (Option<PathBuf>, Option<PathBuf>) {
    let cert = section.get(c, "tls_cert", parsed(path));
    let key = section.get(c, "tls_key", parsed(path));
    for (present, missing) in [(&cert, &key), (&key, &cert)] {
        if let (Some(field), None) = (present, missing) {
            let other = if field.key.ends_with("tls_cert") {
                "tls_key"
            } else {
                "tls_cert"
            };
            c.error(
                &field.span,
                &field.key,
                format!(
                    "set together with {}: STARTTLS needs both",
                    section.key_path(other)
                ),
            );
        }
    }
    for field in [&cert, &key].into_iter().flatten() {
        if !Path::new(&field.value).is_file() {
            c.error(
                &field.span,
                &field.key,
                format!("file not found: {}", field.value.display()),
            );
        }
    }
    (cert.map(|f| f.value), key.map(|f| f.value))
}

fn build_spool(section: &Section, c: &mut Collector) -> SpoolConfig {
    section.check_keys(c, SPOOL_KEYS);
    let dir = section.get(c, "dir", parsed(path));
    SpoolConfig {
        dir: dir.map_or_else(|| PathBuf::from(DEFAULT_SPOOL_DIR), |f| f.value),
        backend: super::cluster::build_backend(section, c),
    }
}

fn build_dns(section: &Section, c: &mut Collector) -> DnsConfig {
    section.check_keys(c, DNS_KEYS);
    let nameservers = section.list(
        c,
        "nameservers",
        parsed(|t| parse_addr_with_default_port(t, DEFAULT_DNS_PORT)),
    );
    DnsConfig {
        nameservers: nameservers.map_or_else(Vec::new, |f| f.value),
        dnssec: super::dnssec::build_dnssec(section, c),
    }
}

fn build_delivery(section: &Section, c: &mut Collector) -> DeliveryConfig {
    section.check_keys(c, DELIVERY_KEYS);
    let port = section.get(c, "port", |v| {
        within(unsigned(v)?, &(1..=u64::from(u16::MAX)), show_number)
    });
    DeliveryConfig {
        port: port
            .and_then(|f| u16::try_from(f.value).ok())
            .unwrap_or(DEFAULT_DELIVERY_PORT),
        connect_timeout: duration(
            section,
            c,
            "connect_timeout",
            DEFAULT_CONNECT_TIMEOUT,
            CONNECT_TIMEOUT_BOUNDS,
        ),
        command_timeout: duration(
            section,
            c,
            "command_timeout",
            DEFAULT_DELIVERY_COMMAND_TIMEOUT,
            DELIVERY_COMMAND_TIMEOUT_BOUNDS,
        ),
        data_timeout: duration(
            section,
            c,
            "data_timeout",
            DEFAULT_DELIVERY_DATA_TIMEOUT,
            DELIVERY_DATA_TIMEOUT_BOUNDS,
        ),
        tls_ca_file: super::outbound_tls::build_ca_file(section, c),
        mta_sts_port: super::outbound_tls::build_mta_sts_port(section, c),
    }
}

fn build_queue(section: &Section, c: &mut Collector) -> QueueConfig {
    section.check_keys(c, QUEUE_KEYS);
    let retry = section.list(
        c,
        "retry",
        parsed(|t| within(parse_duration(t)?, &RETRY_BOUNDS, show_duration)),
    );
    if let Some(field) = &retry
        && field.value.len() > MAX_RETRY_ENTRIES
    {
        c.error(
            &field.span,
            &field.key,
            format!("more than {MAX_RETRY_ENTRIES} entries"),
        );
    }
    let max_lifetime = duration(
        section,
        c,
        "max_lifetime",
        DEFAULT_MAX_LIFETIME,
        MAX_LIFETIME_BOUNDS,
    );
    QueueConfig {
        retry: non_empty(c, retry).unwrap_or_else(|| DEFAULT_RETRY.to_vec()),
        max_lifetime,
        delay_warning: delay_warning(section, c, max_lifetime),
        probe_interval: duration(
            section,
            c,
            "probe_interval",
            DEFAULT_PROBE_INTERVAL,
            PROBE_INTERVAL_BOUNDS,
        ),
        max_parallel: size(
            section,
            c,
            "max_parallel",
            DEFAULT_MAX_PARALLEL,
            MAX_PARALLEL_BOUNDS,
        ),
    }
}

/// Zero turns warnings off; otherwise it must come before the message expires, or it would never fire.
fn delay_warning(section: &Section, c: &mut Collector, max_lifetime: Duration) -> Duration {
    let field = section.get(
        c,
        "delay_warning",
        parsed(|t| {
            let warning = parse_duration(t)?;
            if warning.is_zero() {
                Ok(warning)
            } else {
                within(warning, &DELAY_WARNING_BOUNDS, show_duration)
            }
        }),
    );
    let Some(field) = field else {
        // A default that could never fire (lifetime shorter than it) means no warning.
        return if DEFAULT_DELAY_WARNING < max_lifetime {
            DEFAULT_DELAY_WARNING
        } else {
            Duration::ZERO
        };
    };
    if !field.value.is_zero() && field.value >= max_lifetime {
        let message = format!(
            "must be shorter than queue.max_lifetime ({}), or \"0s\" for no warning",
            show_duration(&max_lifetime)
        );
        c.error(&field.span, &field.key, message);
    }
    field.value
}

pub(super) fn path(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        Err("empty path".into())
    } else {
        Ok(PathBuf::from(text))
    }
}

/// An integer key with bounds, or its default.
pub(super) fn count(
    section: &Section,
    c: &mut Collector,
    key: &str,
    default: u64,
    bounds: RangeInclusive<u64>,
) -> u64 {
    section
        .get(c, key, |v| within(unsigned(v)?, &bounds, show_number))
        .map_or(default, |f| f.value)
}

/// Like [`count`] for values used as `usize` (the bounds keep them small).
pub(super) fn size(
    section: &Section,
    c: &mut Collector,
    key: &str,
    default: u64,
    bounds: RangeInclusive<u64>,
) -> usize {
    usize::try_from(count(section, c, key, default, bounds)).unwrap_or(usize::MAX)
}

/// A duration key with bounds, or its default.
pub(super) fn duration(
    section: &Section,
    c: &mut Collector,
    key: &str,
    default: Duration,
    bounds: RangeInclusive<Duration>,
) -> Duration {
    section
        .get(
            c,
            key,
            parsed(|t| within(parse_duration(t)?, &bounds, show_duration)),
        )
        .map_or(default, |f| f.value)
}

/// A list that must have at least one element (an empty one is reported, and `None` returned).
fn non_empty<T>(c: &mut Collector, field: Option<Field<Vec<T>>>) -> Option<Vec<T>> {
    let field = field?;
    if field.value.is_empty() {
        c.error(&field.span, &field.key, "must not be empty");
        return None;
    }
    Some(field.value)
}

fn show_duration(value: &Duration) -> String {
    format_duration(*value)
}
