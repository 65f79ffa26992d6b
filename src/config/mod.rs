//! Configuration: the TOML file (or the embedded default) → a validated [`Config`] with defaults and
//! bounds. Nothing else in backupmx reads the config file or the environment.
//! Entry points: [`Config::load`], [`Config::from_toml_str`], [`Config::embedded_default`]; every problem
//! found comes back at once in [`ConfigErrors`] (file, line, key path, message). Reference: docs/config.md.
//! The lowest module of the crate besides `envelope`: it owns the settings types others use (recipient
//! policies) and the syntax of recipient list files (`recipient_list`), and imports no other module.
//! [`locate`] picks the file the admin commands read (`--config`, `BACKUPMX_CONFIG`, /etc, default).

mod acme;
mod admin;
mod alerts;
mod build;
mod checks;
mod client_limits;
mod cluster;
mod dnssec;
mod domain_limits;
mod domains;
mod duration;
mod error;
#[cfg(test)]
mod error_tests;
#[cfg(test)]
mod hardening_tests;
pub mod limits;
mod load;
pub mod locate;
mod outbound_tls;
pub mod provisioned;
mod reader;
pub mod recipient_list;
mod recipients;
pub mod reload;
mod syntax;
#[cfg(test)]
mod tests;

pub use acme::{AcmeConfig, DEFAULT_ACME_HTTP_LISTEN};
pub use alerts::{
    ALERT_EVENTS, AlertFormat, AlertsConfig, DiskThreshold, Webhook, WebhookSecret, WebhookUrl,
    parse_webhook_url,
};
pub use checks::{ArcConfig, ChecksConfig, DnsblList, SenderChecks, signing_key_kind};
pub use cluster::{ClusterConfig, PostgresConfig, Secret, SpoolBackend};
pub use dnssec::{DnssecMode, TrustAnchor, read_anchor};
pub use duration::{format_duration, parse_duration};
pub use error::{ConfigError, ConfigErrors};
pub use load::EMBEDDED_DEFAULT_TOML;
pub use outbound_tls::{DEFAULT_MTA_STS_PORT, DomainTls, TlsMode};
pub use recipients::{DomainPolicy, DomainRecipients, Mode, RecipientsConfig, UnknownWhenDown};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

/// The validated configuration every module reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Our name: greeting, EHLO, Received, and how we recognise ourselves in MX lists.
    pub hostname: String,
    /// Other names under which this host appears in MX records.
    pub extra_names: Vec<String>,
    pub smtp: SmtpConfig,
    pub spool: SpoolConfig,
    pub cluster: ClusterConfig,
    pub dns: DnsConfig,
    pub delivery: DeliveryConfig,
    pub queue: QueueConfig,
    pub domains: Vec<DomainConfig>,
    pub admin: AdminConfig,
    /// Per-client abuse limits (`[limits]`).
    pub limits: LimitsConfig,
    /// Recipient validation (issue 7): `[recipients]` and the per-domain policies.
    pub recipients: RecipientsConfig,
    /// Sender checks (issue 15): `[[dnsbl]]`, `[checks]`, `[arc]`, per-domain `sender_checks`.
    pub checks: ChecksConfig,
    /// Certificates by ACME (issue 17); `None` without an `[acme]` section.
    pub acme: Option<AcmeConfig>,
    /// The names among `domains` that were provisioned through the admin API (issue 16), not
    /// written in the config file (see [`provisioned`]).
    pub provisioned: std::collections::BTreeSet<String>,
    /// Alerts (issue 16): `[[alert]]` webhooks and the `[alerts]` thresholds.
    pub alerts: AlertsConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SmtpConfig {
    pub listen: Vec<SocketAddr>,
    pub max_message_size: u64,
    pub max_recipients: usize,
    pub max_connections: usize,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Time allowed for one command (and for each DATA read).
    pub command_timeout: Duration,
    /// Hosts allowed to use ETRN (default: none).
    pub etrn_allow: Vec<IpNet>,
    /// Wait before the greeting; a client that talks first is refused (zero: no wait, no check).
    pub greeting_delay: Duration,
    /// Time allowed for each read of message content (DATA and BDAT).
    pub data_timeout: Duration,
    /// Cap on a whole session, after which it gets 421 4.4.2.
    pub session_timeout: Duration,
    /// Implicit-TLS listeners (port-465 style): TLS from the first byte. Needs `tls_cert`/`tls_key`.
    pub tls_listen: Vec<SocketAddr>,
}

/// Per-client abuse limits; 0 turns a limit off. Counted per IPv4 address or IPv6 /64.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsConfig {
    /// Concurrent connections from one client.
    pub max_connections_per_ip: u32,
    /// New connections from one client in a sliding minute.
    pub connections_per_minute: u32,
    /// Transactions (accepted MAIL commands) in one connection.
    pub messages_per_connection: u32,
    /// RCPT commands from one client (all its connections) in a sliding minute.
    pub recipients_per_minute: u32,
    /// Error replies in one session before 421 4.7.0 (applies to exempt clients too).
    pub max_errors: u32,
    /// Unknown commands in one session before 421 4.7.0 (applies to exempt clients too).
    pub max_unknown_commands: u32,
    /// Clients never counted against the per-client limits.
    pub exempt: Vec<IpNet>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    /// The local journal in `dir`, or the shared PostgreSQL queue (issue 13).
    pub backend: SpoolBackend,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct DnsConfig {
    /// Empty: the system resolver (/etc/resolv.conf).
    pub nameservers: Vec<SocketAddr>,
    /// Who validates DNSSEC for DANE (`dnssec`, `trust_anchor`).
    pub dnssec: DnssecMode,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryConfig {
    /// TCP port used for MX hosts.
    pub port: u16,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// Time allowed for the reply to the final dot of DATA.
    pub data_timeout: Duration,
    /// Extra trust roots (PEM) for `tls = "require"`, MTA-STS policy fetches and the readiness
    /// check's certificate verification, besides the built-in ones.
    pub tls_ca_file: Option<PathBuf>,
    /// The HTTPS port MTA-STS policies are fetched from (443; another only in tests).
    pub mta_sts_port: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// Wait before the 2nd, 3rd, ... attempt; the last entry repeats.
    pub retry: Vec<Duration>,
    pub max_lifetime: Duration,
    /// Zero: no delay warnings.
    pub delay_warning: Duration,
    pub probe_interval: Duration,
    pub max_parallel: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DomainConfig {
    /// Lower-case, no trailing dot.
    pub name: String,
    /// Also accept mail for subdomains of `name`.
    pub subdomains: bool,
    /// Static route instead of an MX look-up.
    pub primary: Option<Primary>,
    /// Outbound TLS policy (`tls`, `tls_name`).
    pub tls: DomainTls,
    /// Its own retention and quotas (`max_lifetime`, `max_messages`, `max_bytes`).
    pub limits: DomainLimits,
}

/// A domain's own retention and quotas; `None`: the server-wide rule (no quota).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DomainLimits {
    /// Overrides `[queue] max_lifetime` for this domain's mail.
    pub max_lifetime: Option<Duration>,
    /// Messages waiting for the domain at most; new mail beyond gets 452 4.2.2.
    pub max_messages: Option<u64>,
    /// Bytes waiting for the domain at most; new mail beyond gets 452 4.2.2.
    pub max_bytes: Option<u64>,
}

/// `host:port` of a static primary; `host` is a name or an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Primary {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub allow: Vec<IpNet>,
    /// Bearer token for the JSON API; `None`: generated on first start (see `admin::credentials`).
    pub api_token: Option<String>,
    /// Argon2 PHC string of the console password (user `admin`); `None`: generated on first start.
    pub password_hash: Option<String>,
    /// TLS for the admin listener (both or neither).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Serve the console without TLS on a non-loopback address (a trusted network, a TLS proxy).
    pub allow_plaintext: bool,
    /// Where generated credentials are kept; `None`: the spool directory.
    pub state_dir: Option<PathBuf>,
    /// Resource bounds of the admin listener: timeouts, connection caps, login locks, audit log size.
    pub limits: AdminLimits,
}

/// The admin listener's resource bounds (issue 19); defaults in `config::limits`, documented in
/// docs/config.md.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminLimits {
    /// The whole request head must arrive within this long (of the connection opening, or of the
    /// previous response on a kept-alive connection).
    pub header_read_timeout: Duration,
    /// A request's body must arrive in full within this long of its head.
    pub body_read_timeout: Duration,
    /// A connection with no request in progress and no byte either way for this long is closed.
    pub idle_timeout: Duration,
    /// Open admin connections at most (keeps the listener from eating the process's file budget).
    pub max_connections: usize,
    /// Open admin connections per client address at most.
    pub max_connections_per_client: usize,
    /// Failed logins (per client address, and per user name) that lock further attempts.
    pub login_max_failures: u32,
    /// The first lock's length; each further lock of the same key doubles it, up to `login_lock_max`.
    pub login_lock: Duration,
    pub login_lock_max: Duration,
    /// `audit.log` is rotated when an entry would take it past this many bytes.
    pub audit_max_size: u64,
    /// Rotated audit files kept (`audit.log.1` ... `audit.log.N`).
    pub audit_keep: usize,
}
