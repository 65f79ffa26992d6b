//! `example.test` backed up by its MX records, for the tests of how backupmx delivers to a primary
//! under a policy (MTA-STS, DANE): the zone (primary `mail.example.test` at 10, us at 20), the
//! settings that deliver to a TLS front, a message sent to `user@example.test`, and the first
//! attempt's result read back from the admin API.

use std::time::Duration;

use crate::support::TestDns;
use crate::support::admin::api_get;
use crate::support::config::{Domain, Settings};
use crate::support::dns::{TestRecord, addr, mx};
use crate::support::e2e::client::send_one;
use crate::support::e2e::mail::message;
use crate::support::server::Server;
use crate::support::tls_front::TlsFront;

/// The primary of `example.test`.
pub const PRIMARY: &str = "mail.example.test";

/// How long the first attempt (DNS, policy look-ups, TLS) may take to show in the queue.
const FIRST_ATTEMPT: Duration = Duration::from_secs(30);

/// MX 10 the primary, MX 20 `mx2.example.test`, both at 127.0.0.1, plus `extra`.
pub fn zone(extra: &[TestRecord]) -> Vec<TestRecord> {
    let mut records = vec![
        mx("example.test", 10, PRIMARY),
        mx("example.test", 20, "mx2.example.test"),
        addr(PRIMARY, "127.0.0.1"),
        addr("mx2.example.test", "127.0.0.1"),
    ];
    records.extend_from_slice(extra);
    records
}

/// Settings backing up example.test by MX, asking `dns`, delivering to `front`'s port.
pub fn settings(dns: &TestDns, front: &TlsFront) -> Settings {
    let mut settings = Settings::new(None);
    settings.domains = vec![Domain::by_mx("example.test")];
    settings.nameservers = vec![dns.addr()];
    settings.delivery_port = front.addr().port();
    settings
}

/// Sends the message `id` to `user@example.test`, asserts it was accepted, and returns it.
pub async fn send(server: &Server, id: &str) -> Vec<u8> {
    let body = message(id, "user@example.test");
    let smtp = server.settings.smtp_addr();
    let sent = send_one(smtp, "sender@sender.test", &["user@example.test"], &body).await;
    assert_eq!(sent.data.map(|d| d.code), Some(250), "not accepted");
    body
}

/// The first attempt's result of the first queued message, once there is one (the admin API, with
/// `token`).
pub async fn first_result(server: &Server, token: &str) -> String {
    let deadline = tokio::time::Instant::now() + FIRST_ATTEMPT;
    loop {
        let queue = api_get(server.admin_addr(), token, "/api/v1/queue").await;
        if let Some(id) = queue["messages"][0]["id"].as_str() {
            let detail = api_get(server.admin_addr(), token, &format!("/api/v1/queue/{id}")).await;
            if let Some(text) = detail["history"][0]["result"].as_str() {
                return text.to_owned();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed attempt in the history\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
