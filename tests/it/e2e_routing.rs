//! End-to-end, MX routing through an in-process DNS server: mail goes to the more-preferred MX; when
//! we are the best MX (or tied with a peer) nothing is sent anywhere, the mail stays queued and the
//! log says the domain is misconfigured.

use crate::support;

use std::time::Duration;

use support::config::Settings;
use support::dns::TestRecord;
use support::e2e::client::send_one;
use support::e2e::mail::{message, strip_first_received};
use support::server::Server;
use support::{SmtpSink, TestDns, addr, mx};

const WAIT: Duration = Duration::from_secs(20);

/// Settings routing `example.test` by MX through `dns`, MX hosts on port `mx_port`.
fn mx_settings(dns: &TestDns, mx_port: u16) -> Settings {
    let mut settings = Settings::new(None);
    settings.nameservers = vec![dns.addr()];
    settings.delivery_port = mx_port;
    settings
}

fn records(mx_list: &[(u16, &str)]) -> Vec<TestRecord> {
    let mut records: Vec<TestRecord> = mx_list
        .iter()
        .map(|(preference, host)| mx("example.test", *preference, host))
        .collect();
    for (_, host) in mx_list {
        records.push(addr(host, "127.0.0.1"));
    }
    records
}

async fn send(server: &Server, id: &str) -> Vec<u8> {
    let body = message(id, "user@example.test");
    let sent = send_one(
        server.smtp_addr(),
        "sender@sender.test",
        &["user@example.test"],
        &body,
    )
    .await;
    assert_eq!(sent.data.map(|d| d.code), Some(250), "not accepted");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_goes_to_the_more_preferred_mx() {
    let sink = SmtpSink::start().await;
    let dns = TestDns::start(&records(&[
        (10, "primary.example.test"),
        (20, "mx2.example.test"),
    ]))
    .await;
    let server = Server::start(mx_settings(&dns, sink.addr().port())).await;
    let body = send(&server, "mx-primary").await;
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got[0].recipients, vec!["user@example.test".to_owned()]);
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
}

/// Sends one message while the MX list makes us (one of) the best; checks that `other` is never
/// contacted and the log says misconfigured; then gives the domain a static primary and checks
/// the message was kept.
async fn stays_queued_and_misconfigured(mx_list: &[(u16, &str)]) {
    let other = SmtpSink::start().await;
    let dns = TestDns::start(&records(mx_list)).await;
    let mut server = Server::start(mx_settings(&dns, other.addr().port())).await;
    let body = send(&server, "queued").await;
    server.wait_log("misconfigured", WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(other.messages().is_empty(), "{:?}", other.messages());
    assert_eq!(other.connections(), 0, "the other MX was contacted");
    assert!(!server.log().contains("DSN queued"), "{}", server.log());

    let status = server.terminate(Duration::from_secs(10)).await;
    assert!(status.success());
    let primary = SmtpSink::start().await;
    server.settings.domains[0].primary = Some(primary.addr().to_string());
    server.restart().await;
    let got = primary.wait_for(1, WAIT).await;
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
    assert_eq!(other.connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_are_the_best_mx_so_mail_stays_queued() {
    stays_queued_and_misconfigured(&[(10, "mx2.example.test"), (20, "other.example.test")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_preference_peer_is_never_used() {
    stays_queued_and_misconfigured(&[(10, "mx2.example.test"), (10, "peer.example.test")]).await;
}
