//! `[[alert]]` (webhooks: `url`, `format`, `secret`, `headers`, `events`) and `[alerts]` (the
//! thresholds: `primary_down_after`, `queue_age`, `queue_size`, `disk_space`, `certificate_expiry`,
//! and how often they are checked, `check_interval`). Pure parsing: a webhook URL is split here
//! (scheme, host, port, path), and plain `http://` is accepted only for a loopback receiver.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::build::{count, duration};
use super::reader::{Collector, Section, parsed, string, unsigned};

const ALERT_KEYS: &[&str] = &["url", "format", "secret", "headers", "events"];
const ALERTS_KEYS: &[&str] = &[
    "primary_down_after",
    "queue_age",
    "queue_size",
    "disk_space",
    "certificate_expiry",
    "check_interval",
];

/// Every event an alert can carry (the `events` filter names them); docs/alerts.md describes each.
pub const ALERT_EVENTS: &[&str] = &[
    "primary_down",
    "primary_up",
    "primary_drained",
    "queue_age",
    "queue_size",
    "disk_space",
    "quarantine",
    "certificate_expiry",
    "node_lost",
    "test",
];

/// Header names a webhook's `headers` may not set: the client writes them itself.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "x-backupmx-signature",
    "x-backupmx-event",
];

const DEFAULT_PRIMARY_DOWN_AFTER: Duration = Duration::from_secs(5 * 60);
const DEFAULT_CERTIFICATE_EXPIRY: Duration = Duration::from_secs(14 * 86_400);
const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(5);
const MS: Duration = Duration::from_millis(1);
const DAY: Duration = Duration::from_secs(86_400);
const MAX_WEBHOOKS: usize = 32;
const MAX_HEADERS: usize = 32;

/// `[[alert]]` and `[alerts]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    /// Where alerts go; empty: alerts are still recorded (console, API), never sent.
    pub webhooks: Vec<Webhook>,
    /// A primary unreachable for this long raises `primary_down`.
    pub primary_down_after: Duration,
    /// The oldest queued message older than this raises `queue_age`; `None`: never.
    pub queue_age: Option<Duration>,
    /// More messages queued than this raises `queue_size`; `None`: never.
    pub queue_size: Option<u64>,
    /// Less free space than this on the spool's file system raises `disk_space`; `None`: never.
    pub disk_space: Option<DiskThreshold>,
    /// The inbound certificate expiring within this raises `certificate_expiry`.
    pub certificate_expiry: Duration,
    /// How often the conditions are sampled (and due deliveries retried).
    pub check_interval: Duration,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            webhooks: Vec::new(),
            primary_down_after: DEFAULT_PRIMARY_DOWN_AFTER,
            queue_age: None,
            queue_size: None,
            disk_space: None,
            certificate_expiry: DEFAULT_CERTIFICATE_EXPIRY,
            check_interval: DEFAULT_CHECK_INTERVAL,
        }
    }
}

/// Free space below which `disk_space` fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskThreshold {
    Bytes(u64),
    /// Percent of the file system's size (1 to 99).
    Percent(u8),
}

/// One `[[alert]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub url: WebhookUrl,
    pub format: AlertFormat,
    /// Key of the `X-Backupmx-Signature: sha256=<hex>` HMAC of the body.
    pub secret: Option<WebhookSecret>,
    /// Extra request headers (e.g. an `Authorization` the receiver wants).
    pub headers: Vec<(String, String)>,
    /// Only these events; `None`: all.
    pub events: Option<Vec<String>>,
}

impl Webhook {
    /// Does this webhook want `event`?
    pub fn wants(&self, event: &str) -> bool {
        self.events
            .as_ref()
            .is_none_or(|events| events.iter().any(|e| e == event))
    }
}

/// The body's shape: our JSON, Slack's incoming webhook (`{"text": ...}`), or ntfy (plain text with
/// `Title`, `Priority` and `Tags` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertFormat {
    Json,
    Slack,
    Ntfy,
}

/// A webhook URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    /// As written (it names the webhook in the console, the API and the log; a secret belongs in
    /// `secret` or `headers`, not in the URL).
    pub text: String,
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

/// An HMAC key: used, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

/// Reads every `[[alert]]` and `[alerts]`.
pub(super) fn build_alerts(root: &Section, c: &mut Collector) -> AlertsConfig {
    let section = root.table(c, "alerts");
    section.check_keys(c, ALERTS_KEYS);
    let webhooks = match root.tables(c, "alert") {
        None => Vec::new(),
        Some(sections) => {
            if sections.len() > MAX_WEBHOOKS {
                c.error(
                    &root.span,
                    "alert",
                    format!("more than {MAX_WEBHOOKS} [[alert]] tables"),
                );
            }
            let mut webhooks: Vec<Webhook> = Vec::new();
            for section in &sections {
                let Some(webhook) = build_webhook(section, c) else {
                    continue;
                };
                // The URL names a webhook's deliveries in the outbox, across reloads.
                if webhooks.iter().any(|w| w.url.text == webhook.url.text) {
                    c.error(
                        &section.span,
                        &section.key_path("url"),
                        format!("{:?} is already another [[alert]]'s url", webhook.url.text),
                    );
                    continue;
                }
                webhooks.push(webhook);
            }
            webhooks
        }
    };
    let defaults = AlertsConfig::default();
    AlertsConfig {
        webhooks,
        primary_down_after: duration(
            &section,
            c,
            "primary_down_after",
            defaults.primary_down_after,
            MS..=30 * DAY,
        ),
        queue_age: section
            .has("queue_age")
            .then(|| duration(&section, c, "queue_age", Duration::ZERO, MS..=365 * DAY)),
        queue_size: section
            .has("queue_size")
            .then(|| count(&section, c, "queue_size", 0, 1..=u64::MAX)),
        disk_space: section
            .get(c, "disk_space", disk_threshold)
            .map(|f| f.value),
        certificate_expiry: duration(
            &section,
            c,
            "certificate_expiry",
            defaults.certificate_expiry,
            MS..=365 * DAY,
        ),
        check_interval: duration(
            &section,
            c,
            "check_interval",
            defaults.check_interval,
            Duration::from_millis(100)..=Duration::from_secs(3600),
        ),
    }
}

fn build_webhook(section: &Section, c: &mut Collector) -> Option<Webhook> {
    section.check_keys(c, ALERT_KEYS);
    let url = section.get(c, "url", parsed(parse_webhook_url));
    if !section.has("url") {
        c.error(
            &section.span,
            &section.key_path("url"),
            "required in [[alert]]",
        );
    }
    let format = section
        .get(c, "format", parsed(parse_format))
        .map_or(AlertFormat::Json, |f| f.value);
    let secret = section
        .get(c, "secret", |v| {
            let text = string(v)?;
            if text.len() < 16 {
                return Err("too short: use at least 16 characters".into());
            }
            Ok(WebhookSecret(text))
        })
        .map(|f| f.value);
    let events = section
        .list(c, "events", parsed(parse_event))
        .map(|f| f.value);
    let headers = build_headers(section, c);
    Some(Webhook {
        url: url?.value,
        format,
        secret,
        headers,
        events,
    })
}

fn build_headers(section: &Section, c: &mut Collector) -> Vec<(String, String)> {
    if !section.has("headers") {
        return Vec::new();
    }
    let table = section.table(c, "headers");
    let names = table.keys();
    if names.len() > MAX_HEADERS {
        c.error(
            &table.span,
            &table.path,
            format!("more than {MAX_HEADERS} headers"),
        );
    }
    let mut headers = Vec::new();
    for name in names {
        let value = table.get(c, &name, |v| {
            let value = string(v)?;
            header_check(&name, &value)?;
            Ok(value)
        });
        if let Some(field) = value {
            headers.push((name, field.value));
        }
    }
    headers
}

/// A header name must be an HTTP token, not one the client writes itself; a value has no control
/// characters (no CR or LF: no header injection).
fn header_check(name: &str, value: &str) -> Result<(), String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("{name:?} is not a valid header name"));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!("{name} is set by backupmx itself"));
    }
    if value.chars().any(|ch| ch.is_control() && ch != '\t') {
        return Err("a header value may not hold control characters".into());
    }
    Ok(())
}

fn parse_format(text: &str) -> Result<AlertFormat, String> {
    match text {
        "json" => Ok(AlertFormat::Json),
        "slack" => Ok(AlertFormat::Slack),
        "ntfy" => Ok(AlertFormat::Ntfy),
        other => Err(format!(
            "{other:?}: expected \"json\", \"slack\" or \"ntfy\""
        )),
    }
}

fn parse_event(text: &str) -> Result<String, String> {
    if ALERT_EVENTS.contains(&text) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "unknown event {text:?} (expected one of: {})",
            ALERT_EVENTS.join(", ")
        ))
    }
}

/// `https://host[:port][/path]`, or `http://` for a loopback host (127.0.0.0/8, ::1, localhost).
pub fn parse_webhook_url(text: &str) -> Result<WebhookUrl, String> {
    let (tls, rest) = if let Some(rest) = text.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = text.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!("{text:?}: expected an https:// URL"));
    };
    if text.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        return Err(format!("{text:?}: a URL may not hold spaces"));
    }
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => (&rest[..at], rest[at..].to_string()),
        None => (rest, "/".to_string()),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path
    };
    if authority.contains('@') {
        return Err(format!(
            "{text:?}: no user or password in the URL; use headers or secret"
        ));
    }
    let (host, port) = split_host_port(authority, if tls { 443 } else { 80 })
        .map_err(|why| format!("{text:?}: {why}"))?;
    if !tls && !is_loopback(&host) {
        return Err(format!(
            "{text:?}: plain http:// only for a loopback receiver; use https://"
        ));
    }
    Ok(WebhookUrl {
        text: text.to_string(),
        tls,
        host,
        port,
        path,
    })
}

fn split_host_port(authority: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or("unclosed [")?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("bad port {p:?}"))?,
    };
    Ok((host.to_ascii_lowercase(), port))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An integer (bytes), `"N%"`, or a size such as `"500MB"`, `"2GiB"`.
fn disk_threshold(value: &toml::de::DeValue) -> Result<DiskThreshold, String> {
    if let Ok(bytes) = unsigned(value) {
        return Ok(DiskThreshold::Bytes(bytes));
    }
    let text = string(value).map_err(|_| {
        "expected bytes (an integer), a percentage (\"10%\") or a size (\"2GiB\")".to_string()
    })?;
    if let Some(percent) = text.strip_suffix('%') {
        return percent
            .parse::<u8>()
            .ok()
            .filter(|p| (1..=99).contains(p))
            .map(DiskThreshold::Percent)
            .ok_or_else(|| format!("{text:?}: a percentage from 1% to 99%"));
    }
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let multiplier: u64 = match unit {
        "B" | "" => 1,
        "KB" => 1000,
        "MB" => 1000_u64.pow(2),
        "GB" => 1000_u64.pow(3),
        "TB" => 1000_u64.pow(4),
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB, or %)"
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .map(DiskThreshold::Bytes)
        .ok_or_else(|| format!("{text:?}: not a size"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{MINIMAL, errors};
    use super::*;
    use crate::config::Config;

    fn load(text: &str) -> Config {
        Config::from_toml_str(&format!("{text}\n{MINIMAL}"), "t.toml")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn absent_means_no_webhooks_and_the_defaults() {
        let config = load("");
        assert_eq!(config.alerts, AlertsConfig::default());
        assert_eq!(config.alerts.primary_down_after, Duration::from_secs(300));
        assert_eq!(config.alerts.certificate_expiry, 14 * DAY);
    }

    #[test]
    fn a_full_alert_table_is_read() {
        let config = load(
            "[alerts]\nprimary_down_after = \"2m\"\nqueue_age = \"1h\"\nqueue_size = 5000\n\
             disk_space = \"10%\"\n\
             [[alert]]\nurl = \"https://hooks.example.net:8443/T0?x=1\"\nformat = \"slack\"\n\
             secret = \"0123456789abcdef\"\nevents = [\"primary_down\", \"primary_up\"]\n\
             headers = { Authorization = \"Bearer abc\" }\n\
             [[alert]]\nurl = \"http://127.0.0.1:9000\"\n",
        );
        let alerts = config.alerts;
        assert_eq!(alerts.primary_down_after, Duration::from_secs(120));
        assert_eq!(alerts.queue_age, Some(Duration::from_secs(3600)));
        assert_eq!(alerts.queue_size, Some(5000));
        assert_eq!(alerts.disk_space, Some(DiskThreshold::Percent(10)));
        let first = &alerts.webhooks[0];
        assert_eq!(first.format, AlertFormat::Slack);
        assert_eq!(
            (first.url.tls, first.url.host.as_str(), first.url.port),
            (true, "hooks.example.net", 8443)
        );
        assert_eq!(first.url.path, "/T0?x=1");
        assert_eq!(
            first.headers,
            [("Authorization".into(), "Bearer abc".into())]
        );
        assert!(first.wants("primary_up") && !first.wants("queue_size"));
        assert_eq!(format!("{:?}", first.secret), "Some(WebhookSecret(***))");
        let second = &alerts.webhooks[1];
        assert_eq!((second.url.port, second.url.path.as_str()), (9000, "/"));
        assert_eq!(second.format, AlertFormat::Json);
        assert!(second.wants("quarantine"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let found = errors(&format!(
            "[alerts]\nprimary_down_after = \"soon\"\ndisk_space = \"10 apples\"\nwhat = 1\n\
             [[alert]]\nurl = \"http://hooks.example.net/x\"\nformat = \"xml\"\nsecret = \"short\"\n\
             events = [\"primary_down\", \"everything\"]\nheaders = {{ Host = \"x\", \"Bad Name\" = \"y\", Ok = \"a\\nb\" }}\n\
             [[alert]]\nformat = \"json\"\n{MINIMAL}"
        ));
        let mut keys: Vec<&str> = found.iter().map(|e| e.key.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "alert[0].events[1]",
                "alert[0].format",
                "alert[0].headers.Bad Name",
                "alert[0].headers.Host",
                "alert[0].headers.Ok",
                "alert[0].secret",
                "alert[0].url",
                "alert[1].url",
                "alerts.disk_space",
                "alerts.primary_down_after",
                "alerts.what",
            ],
            "{found:#?}"
        );
        let url = found.iter().find(|e| e.key == "alert[0].url").unwrap();
        assert!(url.message.contains("loopback"), "{}", url.message);
        assert_eq!(url.line, Some(6));
    }

    #[test]
    fn urls_and_disk_sizes_parse() {
        let url = parse_webhook_url("http://[::1]:8080").unwrap();
        assert_eq!((url.host.as_str(), url.port, url.tls), ("::1", 8080, false));
        assert!(parse_webhook_url("http://localhost/a").is_ok());
        assert!(parse_webhook_url("ftp://x").is_err());
        assert!(parse_webhook_url("https://user:pw@x/").is_err());
        assert!(parse_webhook_url("https://x:0/").is_err());
        assert!(parse_webhook_url("https:///x").is_err());
        let twice = "[[alert]]\nurl = \"https://a.test/\"\n[[alert]]\nurl = \"https://a.test/\"\n";
        let found = errors(&format!("{twice}{MINIMAL}"));
        assert_eq!(found[0].key, "alert[1].url", "{found:?}");
        let size = |t: &str| {
            load(&format!("[alerts]\ndisk_space = {t}"))
                .alerts
                .disk_space
        };
        assert_eq!(size("1000"), Some(DiskThreshold::Bytes(1000)));
        assert_eq!(size("\"2GiB\""), Some(DiskThreshold::Bytes(2 << 30)));
        assert_eq!(size("\"500MB\""), Some(DiskThreshold::Bytes(500_000_000)));
    }
}
