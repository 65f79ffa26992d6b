//! End-to-end, DNS failures through the real binary, seen through the admin API: SERVFAIL and a
//! nameserver that never answers defer the mail (destination "down", retried, delivered once DNS
//! answers again); NXDOMAIN and "no MX" for a backed-up domain flag it "misconfigured" in the queue
//! and the console, and the mail is kept: never bounced, never dropped, delivered once fixed.

use crate::support;

use std::net::SocketAddr;
use std::time::Duration;

use support::admin::{api_get, eventually};
use support::config::Settings;
use support::dns::TestRecord;
use support::e2e::client::send_one;
use support::e2e::mail::{message, strip_first_received};
use support::server::Server;
use support::{SmtpSink, TestDns, addr, mx};

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "dns-test-token";

/// The routing records of `example.test` (primary at 10, us at 20) and of the senders' domain.
fn records() -> Vec<TestRecord> {
    vec![
        mx("example.test", 10, "primary.example.test"),
        mx("example.test", 20, "mx2.example.test"),
        addr("primary.example.test", "127.0.0.1"),
        addr("mx2.example.test", "127.0.0.1"),
        mx("sender.test", 10, "mx.sender.test"),
        addr("mx.sender.test", "127.0.0.1"),
        addr("nomx.example.test", "127.0.0.1"),
    ]
}

/// The binary routing `domain` by MX through `nameserver`; every MX host is the sink's port, so a
/// DSN to sender.test would reach the sink too (and is checked for).
async fn start(nameserver: SocketAddr, sink: &SmtpSink, domain: &str) -> Server {
    let mut settings = Settings::new(None);
    settings.nameservers = vec![nameserver];
    settings.delivery_port = sink.addr().port();
    settings.domains[0].name = domain.into();
    Server::with_api_token(settings, TOKEN).await
}

async fn api(server: &Server, path: &str) -> serde_json::Value {
    api_get(server.admin_addr(), TOKEN, path).await
}

/// The console's state and detail for the only domain.
async fn domain_state(server: &Server) -> (String, String) {
    let domains = api(server, "/api/v1/domains").await;
    let domain = &domains["domains"][0];
    (
        domain["state"].as_str().unwrap_or("").to_owned(),
        domain["detail"].as_str().unwrap_or("").to_owned(),
    )
}

async fn message_status(server: &Server) -> String {
    let queue = api(server, "/api/v1/queue").await;
    queue["messages"][0]["status"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

async fn send(server: &Server, to: &str) -> Vec<u8> {
    let body = message("dns", to);
    let smtp = server.settings.smtp_addr();
    let sent = send_one(smtp, "sender@sender.test", &[to], &body).await;
    assert_eq!(sent.data.map(|d| d.code), Some(250), "not accepted");
    body
}

/// Waits until the console shows the domain in `state`; returns its detail.
async fn wait_state(server: &Server, state: &str) -> String {
    eventually(&format!("domain {state}"), WAIT, || async {
        domain_state(server).await.0 == state
    })
    .await;
    domain_state(server).await.1
}

/// Nothing delivered, no DSN, the message still queued.
async fn kept_without_delivery(server: &Server, sink: &SmtpSink) {
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(sink.messages().is_empty(), "{:?}", sink.messages());
    assert_eq!(api(server, "/api/v1/queue").await["total"], 1);
    assert!(!server.log().contains("DSN queued"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servfail_defers_and_the_mail_goes_out_once_dns_answers() {
    let sink = SmtpSink::start().await;
    let dns = TestDns::start(&records()).await;
    dns.servfail("example.test");
    let server = start(dns.addr(), &sink, "example.test").await;
    let body = send(&server, "user@example.test").await;

    let detail = wait_state(&server, "down").await;
    assert!(detail.contains("temporary DNS failure"), "{detail}");
    assert_ne!(message_status(&server).await, "misconfigured");
    kept_without_delivery(&server, &sink).await;

    dns.heal("example.test");
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.messages().len(), 1, "delivered once, no DSN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_nameserver_defers_until_dns_works_again() {
    let sink = SmtpSink::start().await;
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut server = start(silent.local_addr().unwrap(), &sink, "example.test").await;
    let body = send(&server, "user@example.test").await;

    let detail = wait_state(&server, "down").await;
    assert!(detail.contains("temporary DNS failure"), "{detail}");
    kept_without_delivery(&server, &sink).await;

    let dns = TestDns::start(&records()).await;
    server.settings.nameservers = vec![dns.addr()];
    server.restart().await;
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.messages().len(), 1);
}

/// `domain` does not resolve to a usable MX: flagged misconfigured, kept; a static primary fixes it.
async fn misconfigured_is_flagged_and_kept(domain: &str, reason: &str) {
    let sink = SmtpSink::start().await;
    let dns = TestDns::start(&records()).await;
    let mut server = start(dns.addr(), &sink, domain).await;
    let to = format!("user@{domain}");
    let body = send(&server, &to).await;

    let detail = wait_state(&server, "misconfigured").await;
    assert!(detail.contains(reason), "{detail}");
    eventually("message flagged", WAIT, || async {
        message_status(&server).await == "misconfigured"
    })
    .await;
    kept_without_delivery(&server, &sink).await;

    server.settings.domains[0].primary = Some(sink.addr().to_string());
    server.restart().await;
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got[0].recipients, [to]);
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nxdomain_for_a_backed_up_domain_is_flagged_and_the_mail_kept() {
    misconfigured_is_flagged_and_kept("missing.example.test", "does not exist").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_mx_for_a_backed_up_domain_is_flagged_and_the_mail_kept() {
    misconfigured_is_flagged_and_kept("nomx.example.test", "no MX").await;
}
