//! Shared helpers for end-to-end tests: an in-process DNS server ([`dns::TestDns`]), an SMTP server
//! playing the primary ([`sink::SmtpSink`]), and builders for configurations and envelopes.
//! Everything binds 127.0.0.1 port 0 and stops when dropped.
//!
//! Use from a test file with `mod support;`.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod dns;
pub mod rogue;
pub mod sink;
pub mod tls_front;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use backupmx::config::{
    AdminConfig, Config, DeliveryConfig, DnsConfig, DomainConfig, LimitsConfig, QueueConfig,
    SmtpConfig, SpoolConfig,
};
use backupmx::envelope::{BodyType, Envelope, Recipient, RecipientStatus, Route};

// Re-exported for convenience; not every test binary uses each.
#[allow(unused_imports)]
pub use dns::{TestDns, addr, mx};
#[allow(unused_imports)]
pub use sink::{ReceivedMessage, SinkOptions, SmtpSink};

/// Generous bound for anything a test waits for.
pub const WAIT: Duration = Duration::from_secs(10);

/// A complete configuration for tests: `hostname`, listening on `listen`, asking `dns` (empty: the
/// system resolver), delivering to port `delivery_port`, backing up `domains`. Short timeouts.
pub fn config(
    hostname: &str,
    listen: SocketAddr,
    dns: DnsConfig,
    delivery_port: u16,
    domains: &[&str],
) -> Config {
    Config {
        hostname: hostname.to_owned(),
        extra_names: Vec::new(),
        smtp: SmtpConfig {
            listen: vec![listen],
            max_message_size: 10 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 50,
            tls_cert: None,
            tls_key: None,
            command_timeout: Duration::from_secs(5),
            etrn_allow: Vec::new(),
            greeting_delay: Duration::ZERO,
            data_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(600),
            tls_listen: vec![],
        },
        spool: SpoolConfig {
            dir: PathBuf::from("/nonexistent-spool-set-by-the-test"),
        },
        dns,
        delivery: DeliveryConfig {
            port: delivery_port,
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(5),
            data_timeout: Duration::from_secs(5),
            tls_ca_file: None,
        },
        queue: QueueConfig {
            retry: vec![Duration::from_secs(1)],
            max_lifetime: Duration::from_secs(5 * 24 * 3600),
            delay_warning: Duration::ZERO,
            probe_interval: Duration::from_millis(200),
            max_parallel: 4,
        },
        domains: domains
            .iter()
            .map(|name| DomainConfig {
                name: name.to_string(),
                subdomains: false,
                primary: None,
                tls: Default::default(),
            })
            .collect(),
        admin: AdminConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            allow: Vec::new(),
            api_token: None,
            password_hash: None,
            tls_cert: None,
            tls_key: None,
            state_dir: None,
            limits: Default::default(),
        },
        limits: LimitsConfig::default(),
        recipients: Default::default(),
    }
}

/// A pending recipient relayed to the primary of its domain.
pub fn recipient(address: &str) -> Recipient {
    let domain = address
        .rsplit('@')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    Recipient {
        address: address.to_owned(),
        route: Route::Relay { domain },
        notify: None,
        orcpt: None,
        status: RecipientStatus::Pending,
    }
}

/// A 7-bit envelope from `sender` to `recipients`.
pub fn envelope(sender: &str, recipients: &[&str]) -> Envelope {
    Envelope {
        sender: sender.to_owned(),
        recipients: recipients.iter().map(|r| recipient(r)).collect(),
        body_type: BodyType::SevenBit,
        smtputf8: false,
        ret: None,
        envid: None,
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        helo: "client.test".into(),
        received_at_ms: 0,
    }
}

/// A local address nothing listens on (bound, then closed): connecting is refused.
pub async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    addr
}
