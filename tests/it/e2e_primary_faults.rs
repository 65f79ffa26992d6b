//! End-to-end, a misbehaving primary (issue 6, Faults): it drops the connection mid-DATA, answers
//! 421 at the greeting and mid-session, stalls (client timeouts), answers garbage, and accepts some
//! recipients while refusing others. Through the real binary, each case must end with every
//! recipient in the right state (delivered once, bounced with a DSN, or still deferred), nothing
//! lost and nothing delivered twice; a message cut off mid-DATA arrives byte-identical later.
//! The primary is a [`RoguePrimary`] in front of an [`SmtpSink`] that records the deliveries.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::config::Settings;
use support::e2e::client::{send_numbered, send_one};
use support::e2e::dsn::Dsn;
use support::e2e::mail::{message, message_id, strip_first_received};
use support::e2e::{sender_domain_records, settings_with_sender_sink};
use support::rogue::{Act, Fault, RoguePrimary, Stage, fault};
use support::server::Server;
use support::{ReceivedMessage, SmtpSink, TestDns};

const WAIT: Duration = Duration::from_secs(30);

/// Sends one message to `to` and checks it got 250; returns its bytes.
async fn send(server: &Server, id: &str, to: &[&str]) -> Vec<u8> {
    let body = message(id, to[0]);
    let sent = send_one(server.smtp_addr(), "sender@sender.test", to, &body).await;
    assert_eq!(sent.data.map(|d| d.code), Some(250), "not accepted");
    body
}

/// Waits for `n` deliveries, lets the queue run on a little, and checks no more arrive.
async fn exactly(sink: &SmtpSink, n: usize) -> Vec<ReceivedMessage> {
    sink.wait_for(n, WAIT).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got = sink.messages();
    assert_eq!(got.len(), n, "delivered more than once: {got:?}");
    got
}

/// One message through a primary that plays `faults` on its first connections, then behaves:
/// delivered exactly once, byte-identical.
async fn survives(faults: &[Fault], tune: impl FnOnce(&mut Settings)) {
    let sink = SmtpSink::start().await;
    let rogue = RoguePrimary::start(sink.addr(), faults).await;
    let mut settings = Settings::new(Some(rogue.addr()));
    tune(&mut settings);
    let server = Server::start(settings).await;
    let body = send(&server, "faulty", &["user@example.test"]).await;
    let got = exactly(&sink, 1).await;
    assert_eq!(strip_first_received(&got[0].data), &body[..], "{faults:?}");
    assert_eq!(got[0].recipients, ["user@example.test"]);
    assert_eq!(rogue.faults_left(), 0, "every fault was played: {faults:?}");
    assert!(!server.log().contains("DSN queued"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_data_is_delivered_once_later_byte_identical() {
    survives(
        &[
            fault(Stage::InData, Act::Drop),
            fault(Stage::EndOfData, Act::Drop),
        ],
        |_| {},
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_421_at_the_greeting_or_mid_session_defers_and_the_mail_follows() {
    survives(
        &[
            fault(Stage::Greeting, Act::Reply421),
            fault(Stage::Mail, Act::Reply421),
            fault(Stage::Rcpt, Act::Reply421),
            fault(Stage::Data, Act::Reply421),
            fault(Stage::EndOfData, Act::Reply421),
        ],
        |_| {},
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_primary_times_out_and_is_retried() {
    survives(
        &[
            fault(Stage::Ehlo, Act::Stall),
            fault(Stage::Rcpt, Act::Stall),
            fault(Stage::EndOfData, Act::Stall),
        ],
        |s| {
            s.delivery_command_timeout = "1s".into();
            s.delivery_extra.push("data_timeout = \"1s\"".into());
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_replies_defers_and_the_mail_follows() {
    survives(
        &[
            fault(Stage::Greeting, Act::Garbage),
            fault(Stage::Ehlo, Act::Garbage),
            fault(Stage::Rcpt, Act::Garbage),
            fault(Stage::EndOfData, Act::Garbage),
        ],
        |_| {},
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_messages_through_repeated_faults_each_arrive_once() {
    let sink = SmtpSink::start().await;
    let faults = [
        fault(Stage::InData, Act::Drop),
        fault(Stage::Greeting, Act::Reply421),
        fault(Stage::EndOfData, Act::Garbage),
        fault(Stage::Mail, Act::Drop),
        fault(Stage::EndOfData, Act::Reply421),
    ];
    let rogue = RoguePrimary::start(sink.addr(), &faults).await;
    let server = Server::start(Settings::new(Some(rogue.addr()))).await;
    let mailboxes = ["a@example.test", "b@example.test"];
    let expected = send_numbered(server.smtp_addr(), "burst", 6, &mailboxes).await;
    let got = exactly(&sink, 6).await;
    let mut per_mailbox: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &got {
        per_mailbox
            .entry(m.recipients[0].clone())
            .or_default()
            .push(message_id(strip_first_received(&m.data)));
    }
    assert_eq!(per_mailbox, expected, "once each, in order per mailbox");
    assert_eq!(rogue.faults_left(), 0, "every fault was played");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_refused_and_deferred_recipients_after_a_dropped_transfer() {
    let primary = SmtpSink::start().await;
    primary.reject("bad@example.test", "550 5.1.1 no such user");
    primary.defer("later@example.test", "450 4.2.1 mailbox busy");
    let rogue = RoguePrimary::start(primary.addr(), &[fault(Stage::InData, Act::Drop)]).await;
    let senders = SmtpSink::start().await;
    let dns = TestDns::start(&sender_domain_records()).await;
    let settings = settings_with_sender_sink(rogue.addr(), dns.addr(), senders.addr());
    let server = Server::start(settings).await;

    let rcpts = ["ok@example.test", "bad@example.test", "later@example.test"];
    let body = send(&server, "mixed-faults", &rcpts).await;

    // The dropped transfer left all three pending; the retry delivers ok@, bounces bad@.
    let got = primary.wait_for(1, WAIT).await;
    assert_eq!(got[0].recipients, ["ok@example.test"]);
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
    let bounce = senders.wait_for(1, WAIT).await;
    let dsn = Dsn::parse(&bounce[0].data);
    assert_eq!(
        dsn.fields("Final-Recipient"),
        vec!["rfc822; bad@example.test"]
    );
    assert_eq!(dsn.fields("Status"), vec!["5.1.1"]);

    // later@ stays deferred (retried, still 450) until the primary takes it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(primary.messages().len(), 1);
    primary.unscript("later@example.test");
    let got = primary.wait_for(2, WAIT).await;
    assert_eq!(got[1].recipients, ["later@example.test"]);
    assert_eq!(strip_first_received(&got[1].data), &body[..]);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(primary.messages().len(), 2, "nobody got a second copy");
    assert_eq!(senders.messages().len(), 1, "one DSN, for bad@ only");
    assert!(rogue.connections() >= 3, "{}", rogue.connections());
}
