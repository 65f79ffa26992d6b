//! End-to-end, delivery to the primary (issue 3): the queue drains within moments of the primary
//! coming back, in arrival order; per-recipient results (accepted, deferred, rejected); ETRN.

use crate::support;

use std::time::{Duration, Instant};

use support::config::Settings;
use support::e2e::client::{Client, send_numbered, send_one};
use support::e2e::dsn::Dsn;
use support::e2e::mail::{assert_once_in_order, message, strip_first_received};
use support::e2e::{sender_domain_records, settings_with_sender_sink};
use support::server::Server;
use support::{SinkOptions, SmtpSink, TestDns};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_down_then_up_drains_quickly_in_arrival_order() {
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let server = Server::start(Settings::new(Some(sink.addr()))).await;
    let mailboxes = ["a@example.test", "b@example.test", "c@example.test"];
    let expected = send_numbered(server.smtp_addr(), "lag", 20, &mailboxes).await;
    // Long enough for attempts to fail and the primary to be marked down.
    server
        .wait_log("cannot reach any host", Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;

    sink.restart().await;
    let back = Instant::now();
    sink.wait_for(1, WAIT).await;
    let first = back.elapsed();
    let got = sink.wait_for(20, WAIT).await;
    let last = back.elapsed();
    println!("LAG primary back -> first delivery {first:?}, last (20th) delivery {last:?}");
    assert!(first < Duration::from_secs(2), "first after {first:?}");
    assert!(last < Duration::from_secs(4), "last after {last:?}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sink.messages().len(), 20);
    assert_once_in_order(&got, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_recipient_results_deliver_once_retry_and_bounce() {
    let primary = SmtpSink::start().await;
    primary.reject("bad@example.test", "550 5.1.1 no such user");
    primary.defer("later@example.test", "451 4.2.0 mailbox busy");
    let senders = SmtpSink::start().await;
    let dns = TestDns::start(&sender_domain_records()).await;
    let settings = settings_with_sender_sink(primary.addr(), dns.addr(), senders.addr());
    let mut server = Server::start(settings).await;

    let rcpts = ["ok@example.test", "bad@example.test", "later@example.test"];
    let body = message("mixed", "ok@example.test");
    let sent = send_one(server.smtp_addr(), "sender@sender.test", &rcpts, &body).await;
    assert_eq!(sent.data.map(|d| d.code), Some(250));

    let got = primary.wait_for(1, WAIT).await;
    assert_eq!(got[0].recipients, vec!["ok@example.test".to_owned()]);
    assert_eq!(strip_first_received(&got[0].data), &body[..]);

    let bounce = senders.wait_for(1, WAIT).await;
    assert_eq!(bounce[0].sender, "", "DSNs come from <>");
    assert_eq!(bounce[0].recipients, vec!["sender@sender.test".to_owned()]);
    let dsn = Dsn::parse(&bounce[0].data);
    assert_eq!(dsn.part_types[1], "message/delivery-status", "{dsn:?}");
    assert_eq!(
        dsn.fields("Final-Recipient"),
        vec!["rfc822; bad@example.test"]
    );
    assert_eq!(dsn.fields("Action"), vec!["failed"]);
    assert_eq!(dsn.fields("Status"), vec!["5.1.1"]);

    // The deferred recipient is retried (every second) but still refused: nothing new arrives.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(primary.messages().len(), 1, "{:?}", primary.messages());
    assert!(primary.connections() >= 2, "later@ was not retried");
    assert_eq!(senders.messages().len(), 1);

    // The sink cannot forget its script, so the primary "stops deferring" by being replaced: same
    // spool, new route (a change needs a restart).
    let status = server.terminate(Duration::from_secs(10)).await;
    assert!(status.success());
    let fixed = SmtpSink::start().await;
    server.settings.domains[0].primary = Some(fixed.addr().to_string());
    server.restart().await;
    let later = fixed.wait_for(1, WAIT).await;
    assert_eq!(later[0].recipients, vec!["later@example.test".to_owned()]);
    assert_eq!(strip_first_received(&later[0].data), &body[..]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fixed.messages().len(), 1);
    assert_eq!(primary.messages().len(), 1);
    assert_eq!(senders.messages().len(), 1, "no DSN for delivered mail");
}

/// Settings where nothing is retried for an hour unless ETRN asks, ETRN allowed from loopback.
fn etrn_settings(primary: &SmtpSink) -> Settings {
    let mut settings = Settings::new(Some(primary.addr()));
    settings.etrn_allow = vec!["127.0.0.1/32".into()];
    settings.retry = vec!["1h".into()];
    settings.probe_interval = "1h".into();
    settings
}

async fn etrn(server: &Server) {
    let mut client = Client::connect(server.smtp_addr()).await;
    let reply = client.cmd("ETRN example.test").await;
    assert_eq!(reply.code, 250, "{reply:?}");
    client.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etrn_from_an_allowed_client_flushes_the_domain() {
    // The primary answers but defers every message (451 after the data), so it stays "up".
    let sink = SmtpSink::start_with(SinkOptions {
        data_reply: Some("451 4.3.0 try again later".into()),
        ..SinkOptions::default()
    })
    .await;
    let server = Server::start(etrn_settings(&sink)).await;
    let body = message("etrn", "e@example.test");
    let sent = send_one(
        server.smtp_addr(),
        "s@sender.test",
        &["e@example.test"],
        &body,
    )
    .await;
    assert_eq!(sent.data.map(|d| d.code), Some(250));
    // Wait for the deferral itself (not just a connection): the sink must have answered 451 before
    // it is told to accept.
    let deadline = Instant::now() + WAIT;
    while !server.log().contains("deferred") {
        assert!(Instant::now() < deadline, "no deferred delivery attempt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    sink.set_options(SinkOptions::default());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(sink.messages().is_empty(), "delivered without ETRN");
    etrn(&server).await;
    let got = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
}

// Regression: a deferral in flight when the recovery probe marked the primary up used to be recorded
// after the flush, leaving a mailbox stuck for a full retry interval (fixed on main in the queue).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etrn_while_the_primary_was_down_delivers_everything() {
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let server = Server::start(etrn_settings(&sink)).await;
    let mailboxes = ["a@example.test", "b@example.test", "c@example.test"];
    let expected = send_numbered(server.smtp_addr(), "etrn", 30, &mailboxes).await;
    server
        .wait_log("cannot reach any host", Duration::from_secs(10))
        .await;
    sink.restart().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sink.messages().is_empty(), "delivered without ETRN");

    etrn(&server).await;
    let got = sink.wait_for(30, Duration::from_secs(10)).await;
    assert_once_in_order(&got, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etrn_is_refused_without_etrn_allow() {
    let sink = SmtpSink::start().await;
    let server = Server::start(Settings::new(Some(sink.addr()))).await;
    let mut client = Client::connect(server.smtp_addr()).await;
    let reply = client.cmd("ETRN example.test").await;
    assert!(
        (400..600).contains(&reply.code),
        "ETRN not refused: {reply:?}"
    );
    client.quit().await;
}
