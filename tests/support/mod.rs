//! The support code of both test binaries (`tests/it`, `tests/system`): the one harness that runs the
//! real binary ([`server::Server`]), the one config builder ([`config::Settings`]), the in-process
//! inbound server ([`inbound`]), an in-process DNS server ([`dns::TestDns`]), SMTP servers playing
//! the primary ([`sink::SmtpSink`], [`rogue`], [`tls_front`]), clients ([`e2e`], [`admin`], [`ui`]),
//! fault-test helpers ([`fault`]) and envelopes. Everything binds loopback and stops when dropped.

pub mod admin;
pub mod cluster;
pub mod config;
pub mod dns;
pub mod dnssec;
pub mod e2e;
pub mod exclusive;
pub mod fault;
pub mod inbound;
pub mod mta_sts;
pub mod package;
pub mod postgres;
pub mod relisten;
pub mod rogue;
pub mod server;
pub mod sink;
pub mod tcp_proxy;
pub mod tls_front;
pub mod ui;
pub mod webhook;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use backupmx::config::{Config, DeliveryConfig, DnsConfig};
use backupmx::delivery::client::{ClientConfig, TlsPolicy};
use backupmx::envelope::{BodyType, Envelope, Recipient, RecipientStatus, Route};

// Re-exported for convenience; the `system` binary uses fewer of them.
#[allow(unused_imports)]
pub use dns::{TestDns, addr, mx};
#[allow(unused_imports)]
pub use sink::{ReceivedMessage, SinkOptions, SmtpSink};

use config::Settings;

/// Generous bound for anything a test waits for.
pub const WAIT: Duration = Duration::from_secs(10);

/// The deliverer's configuration: `hostname`, listening on `listen`, asking `dns` (empty: the
/// system resolver), delivering to port `delivery_port`, backing up `domains`. Short timeouts.
pub fn config(
    hostname: &str,
    listen: SocketAddr,
    dns: DnsConfig,
    delivery_port: u16,
    domains: &[&str],
) -> Config {
    Settings::delivery(hostname, listen, &dns.nameservers, delivery_port, domains)
        .config(Path::new("/nonexistent-spool-set-by-the-test"))
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
        auth: None,
    }
}

/// The outbound client the delivery tests drive by hand: port 25, short timeouts, the system's CAs
/// and `tls` as the policy.
pub fn client_config(tls: TlsPolicy) -> ClientConfig {
    let delivery = DeliveryConfig {
        port: 25,
        connect_timeout: Duration::from_secs(2),
        command_timeout: Duration::from_secs(5),
        data_timeout: Duration::from_secs(5),
        tls_ca_file: None,
        mta_sts_port: 443,
    };
    ClientConfig::new("backup.example.test", &delivery, tls).expect("a valid client config")
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
