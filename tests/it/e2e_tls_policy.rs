//! End-to-end, the per-domain TLS policy through the real binary: under `tls = "require"` a primary
//! whose certificate is not valid for the configured name gets no mail; the message stays queued,
//! deferred, with the TLS failure as its attempt's result in the queue API. Once the primary shows
//! a valid certificate (trusted through `[delivery] tls_ca_file`) the message goes out over TLS.
//! Under the default `opportunistic` the same wrong certificate still carries the mail.

use crate::support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::SmtpSink;
use support::admin::{api_get, eventually};
use support::config::Settings;
use support::e2e::client::send_one;
use support::e2e::mail::{message, strip_first_received};
use support::server::Server;
use support::tls_front::{FrontTls, TestCa, TlsFront};
use tempfile::TempDir;

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "tls-test-token";
const NAME: &str = "primary.example.test";

/// The binary with `example.test` statically routed to `primary`, TLS lines `domain_tls`.
async fn start(primary: SocketAddr, ca_file: &Path, domain_tls: &[&str]) -> Server {
    let mut settings = Settings::new(Some(primary));
    settings.domains[0].extra = domain_tls.iter().map(|l| l.to_string()).collect();
    settings.delivery_extra = vec![format!("tls_ca_file = {:?}", ca_file.display().to_string())];
    Server::with_api_token(settings, TOKEN).await
}

async fn api(server: &Server, path: &str) -> serde_json::Value {
    api_get(server.admin_addr(), TOKEN, path).await
}

/// The queue API's details of the first queued message.
async fn detail_of_first(server: &Server) -> Option<serde_json::Value> {
    let queue = api(server, "/api/v1/queue").await;
    let id = queue["messages"][0]["id"].as_str()?.to_owned();
    Some(api(server, &format!("/api/v1/queue/{id}")).await)
}

/// A test CA, its certificate written into the returned directory (kept for the test), and the sink
/// playing the primary behind the TLS fronts.
async fn ca_and_sink() -> (TestCa, TempDir, PathBuf, SmtpSink) {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path());
    (ca, dir, ca_file, SmtpSink::start().await)
}

/// A TLS front of `sink` presenting a certificate from `ca` for `names`.
async fn front(ca: &TestCa, sink: &SmtpSink, names: &[&str]) -> TlsFront {
    TlsFront::start(sink.addr(), FrontTls::Terminate(ca.acceptor(names))).await
}

async fn send(server: &Server) -> Vec<u8> {
    let body = message("tls-policy", "user@example.test");
    let smtp = server.settings.smtp_addr();
    let sent = send_one(smtp, "sender@sender.test", &["user@example.test"], &body).await;
    assert_eq!(sent.data.map(|d| d.code), Some(250), "not accepted");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_defers_on_a_wrong_certificate_and_delivers_once_it_is_valid() {
    let (ca, _dir, ca_file, sink) = ca_and_sink().await;
    let wrong = front(&ca, &sink, &["other.example.test"]).await;
    let require = ["tls = \"require\"", "tls_name = \"primary.example.test\""];
    let mut server = start(wrong.addr(), &ca_file, &require).await;
    let body = send(&server).await;

    // Deferred, with the reason in the queue; nothing reached the sink.
    eventually("a failed TLS attempt in the history", WAIT, || async {
        detail_of_first(&server)
            .await
            .is_some_and(|d| d["history"].as_array().is_some_and(|h| !h.is_empty()))
    })
    .await;
    let detail = detail_of_first(&server).await.unwrap();
    let result = detail["history"][0]["result"].as_str().unwrap_or("");
    assert!(
        result.contains("4.7.5") && result.contains("TLS"),
        "{detail}"
    );
    assert_eq!(detail["status"], "deferred", "{detail}");
    assert!(wrong.starttls() >= 1);
    assert!(sink.messages().is_empty(), "{:?}", sink.messages());
    assert!(!server.log().contains("DSN queued"), "{}", server.log());

    // The primary gets a valid certificate (same spool, new route): delivered over TLS.
    let valid = front(&ca, &sink, &[NAME]).await;
    server.settings.domains[0].primary = Some(valid.addr().to_string());
    server.restart().await;
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
    assert!(valid.tls_sessions() >= 1, "delivered over TLS");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opportunistic_delivers_over_tls_despite_a_wrong_certificate() {
    let (ca, _dir, ca_file, sink) = ca_and_sink().await;
    let wrong = front(&ca, &sink, &["other.example.test"]).await;
    let server = start(wrong.addr(), &ca_file, &[]).await;
    let body = send(&server).await;
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
    // A recovery probe (EHLO and QUIT, no STARTTLS) may add a clear-text connection on a loaded
    // machine; what matters is that the message went over TLS and no clear-text retry was needed.
    let (tls, all) = (wrong.tls_sessions(), wrong.connections());
    assert!(tls >= 1, "{tls} TLS sessions of {all} connections");
    assert!(
        !server.log().contains("retrying without TLS"),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_never_says_starttls() {
    let (ca, _dir, ca_file, sink) = ca_and_sink().await;
    let front = front(&ca, &sink, &[NAME]).await;
    let server = start(front.addr(), &ca_file, &["tls = \"none\""]).await;
    let body = send(&server).await;
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
    assert_eq!(front.starttls(), 0);
}
