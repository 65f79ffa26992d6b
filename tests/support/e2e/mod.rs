//! What the end-to-end tests speak and check: an SMTP client ([`client`]), test messages and
//! delivery checks ([`mail`]), parsed DSNs ([`dsn`]), example.test routed by MX for the delivery
//! policy tests ([`by_mx`]), and the settings for a sender's MX that receives the DSNs.

pub mod by_mx;
pub mod client;
pub mod dsn;
pub mod mail;

use std::net::SocketAddr;

use crate::support::config::Settings;

/// DNS records routing `sender.test` (the senders' domain, where DSNs go) to 127.0.0.1.
pub fn sender_domain_records() -> Vec<crate::support::dns::TestRecord> {
    vec![
        crate::support::mx("sender.test", 10, "mx.sender.test"),
        crate::support::addr("mx.sender.test", "127.0.0.1"),
    ]
}

/// Settings for `example.test` statically routed to `primary`, with DSNs to `sender.test` going
/// through `dns` to the delivery port `sender_sink`.
pub fn settings_with_sender_sink(
    primary: SocketAddr,
    dns: SocketAddr,
    sender_sink: SocketAddr,
) -> Settings {
    let mut settings = Settings::new(Some(primary));
    settings.nameservers = vec![dns];
    settings.delivery_port = sender_sink.port();
    settings
}
