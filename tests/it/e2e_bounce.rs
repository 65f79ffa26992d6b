//! End-to-end, bounces: a 5xx from the primary, expiry and a mail loop (too many Received headers)
//! each produce an RFC 3464 DSN at the sender's MX; mail from `<>` is never bounced.

use crate::support;

use std::time::Duration;

use support::config::Settings;
use support::e2e::client::send_one;
use support::e2e::dsn::Dsn;
use support::e2e::mail::message;
use support::e2e::{sender_domain_records, settings_with_sender_sink};
use support::server::Server;
use support::{SmtpSink, TestDns};

const WAIT: Duration = Duration::from_secs(20);

/// A primary, the senders' MX (reached through DNS) and the server routing to both.
struct Setup {
    primary: SmtpSink,
    senders: SmtpSink,
    _dns: TestDns,
    server: Server,
}

async fn setup(adjust: impl FnOnce(&mut Settings)) -> Setup {
    let primary = SmtpSink::start().await;
    let senders = SmtpSink::start().await;
    let dns = TestDns::start(&sender_domain_records()).await;
    let mut settings = settings_with_sender_sink(primary.addr(), dns.addr(), senders.addr());
    adjust(&mut settings);
    let server = Server::start(settings).await;
    Setup {
        primary,
        senders,
        _dns: dns,
        server,
    }
}

async fn send(server: &Server, from: &str, to: &str, body: &[u8]) {
    let sent = send_one(server.smtp_addr(), from, &[to], body).await;
    assert_eq!(sent.data.map(|d| d.code), Some(250), "not accepted");
}

/// Waits for exactly one DSN to `sender@sender.test` and parses it.
async fn the_dsn(senders: &SmtpSink) -> Dsn {
    let got = senders.wait_for(1, WAIT).await;
    assert_eq!(got[0].sender, "", "a DSN comes from <>");
    assert_eq!(got[0].recipients, vec!["sender@sender.test".to_owned()]);
    Dsn::parse(&got[0].data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_recipient_gets_an_rfc3464_dsn() {
    let s = setup(|_| {}).await;
    s.primary.reject(
        "gone@example.test",
        "550 5.1.1 <gone@example.test> no such user",
    );
    let body = message("rejected", "gone@example.test");
    send(&s.server, "sender@sender.test", "gone@example.test", &body).await;

    let dsn = the_dsn(&s.senders).await;
    assert_eq!(dsn.part_types.len(), 3, "{dsn:?}");
    assert_eq!(dsn.part_types[0], "text/plain");
    assert_eq!(dsn.part_types[1], "message/delivery-status");
    assert!(
        ["message/rfc822", "text/rfc822-headers"].contains(&dsn.part_types[2].as_str()),
        "{dsn:?}"
    );
    assert_eq!(dsn.fields("Reporting-MTA"), vec!["dns; mx2.example.test"]);
    assert_eq!(
        dsn.fields("Final-Recipient"),
        vec!["rfc822; gone@example.test"]
    );
    assert_eq!(dsn.fields("Action"), vec!["failed"]);
    assert_eq!(dsn.fields("Status"), vec!["5.1.1"]);
    let diagnostic = dsn.fields("Diagnostic-Code").join(" ");
    assert!(diagnostic.starts_with("smtp; 550"), "{dsn:?}");
    assert!(s.primary.messages().is_empty());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.senders.messages().len(), 1, "one DSN only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_message_bounces_with_action_failed() {
    let mut s = setup(|settings| settings.max_lifetime = "4s".into()).await;
    s.primary.stop().await;
    send(
        &s.server,
        "sender@sender.test",
        "x@example.test",
        &message("old", "x@example.test"),
    )
    .await;

    let dsn = the_dsn(&s.senders).await;
    println!("expiry DSN status: {:?}", dsn.fields("Status"));
    assert_eq!(
        dsn.fields("Final-Recipient"),
        vec!["rfc822; x@example.test"]
    );
    assert_eq!(dsn.fields("Action"), vec!["failed"]);
    s.primary.restart().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(s.primary.messages().is_empty(), "expired mail delivered");
    assert_eq!(s.senders.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_sender_is_never_bounced() {
    let s = setup(|_| {}).await;
    s.primary
        .reject("gone@example.test", "550 5.1.1 no such user");
    send(
        &s.server,
        "",
        "gone@example.test",
        &message("null", "gone@example.test"),
    )
    .await;
    // A later message to the same mailbox is attempted only after the first one (arrival order
    // per mailbox), so its DSN shows the first one was refused too.
    send(
        &s.server,
        "sender@sender.test",
        "gone@example.test",
        &message("n2", "gone@example.test"),
    )
    .await;

    let dsn = the_dsn(&s.senders).await;
    assert_eq!(
        dsn.fields("Final-Recipient"),
        vec!["rfc822; gone@example.test"]
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.senders.messages().len(), 1, "{:?}", s.senders.messages());
    assert!(s.primary.messages().is_empty());
    // The undeliverable bounce is not lost: it waits in the postmaster mailbox.
    let kept: Vec<_> = std::fs::read_dir(s.server.spool_dir().join("postmaster"))
        .expect("postmaster mailbox")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .collect();
    assert_eq!(
        kept.len(),
        1,
        "the double bounce is kept for the postmaster"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_with_51_received_headers_bounces_as_a_loop() {
    let s = setup(|_| {}).await;
    let mut body = Vec::new();
    for hop in 0..51 {
        body.extend_from_slice(
            format!(
                "Received: from hop{hop}.test by hop{}.test; Thu, 1 Jan 2026 00:00:00 +0000\r\n",
                hop + 1
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(&message("loop", "l@example.test"));
    send(&s.server, "sender@sender.test", "l@example.test", &body).await;

    let dsn = the_dsn(&s.senders).await;
    assert_eq!(
        dsn.fields("Final-Recipient"),
        vec!["rfc822; l@example.test"]
    );
    assert_eq!(dsn.fields("Action"), vec!["failed"]);
    assert_eq!(dsn.fields("Status"), vec!["5.4.6"]);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(s.primary.messages().is_empty(), "looping mail delivered");
}
