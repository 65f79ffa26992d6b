//! End-to-end, the drain of a queue over one connection with PIPELINING: each message's
//! MAIL/RCPT/DATA travel behind the previous message's end of data, yet a message the primary
//! defers is never overtaken by the one pipelined behind it (that one's DATA is abandoned by
//! dropping the connection, and the primary discards it). Against a primary without PIPELINING
//! nothing is pipelined at all.

use crate::support;

use std::time::Duration;

use support::config::Settings;
use support::e2e::client::send_numbered;
use support::e2e::mail::{assert_once_in_order, strip_first_received};
use support::server::Server;
use support::{SinkOptions, SmtpSink};

const WAIT: Duration = Duration::from_secs(30);
const MAILBOX: &str = "user@example.test";

/// Queues `n` numbered messages to one mailbox while the primary is down, then brings it up.
async fn queue_then_recover(sink: &mut SmtpSink, prefix: &str, n: usize) -> (Server, Vec<String>) {
    sink.stop().await;
    let server = Server::start(Settings::new(Some(sink.addr()))).await;
    let expected = send_numbered(server.smtp_addr(), prefix, n, &[MAILBOX]).await;
    server.wait_log("cannot reach any host", WAIT).await;
    sink.restart().await;
    (server, expected[MAILBOX].clone())
}

/// Waits for `n` deliveries, lets the queue run on a little, and checks no more arrive.
async fn exactly(sink: &SmtpSink, n: usize) -> Vec<support::ReceivedMessage> {
    sink.wait_for(n, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = sink.messages();
    assert_eq!(got.len(), n, "delivered more than once");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_message_is_not_overtaken_by_the_one_pipelined_behind_it() {
    let mut sink = SmtpSink::start().await;
    // The third message is deferred at its end of data once; the fourth is already on its way.
    sink.refuse_data_once("<drain-002@", "451 4.3.0 not now");
    let (server, ids) = queue_then_recover(&mut sink, "drain", 8).await;
    let got = exactly(&sink, 8).await;
    let expected = [(MAILBOX.to_owned(), ids)].into_iter().collect();
    assert_once_in_order(&got, &expected);
    assert!(
        server.log().contains("451 4.3.0 not now"),
        "{}",
        server.log()
    );
    for (m, id) in got.iter().zip(0..) {
        let body = support::e2e::mail::message(&format!("drain-{id:03}"), MAILBOX);
        assert_eq!(strip_first_received(&m.data), &body[..], "byte-identical");
    }
    assert!(
        sink.pipelined_after_data() >= 1,
        "no MAIL was pipelined behind an end of data"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_pipelined_to_a_primary_without_pipelining() {
    let mut sink = SmtpSink::start_with(SinkOptions {
        pipelining: false,
        ..SinkOptions::default()
    })
    .await;
    let (_server, ids) = queue_then_recover(&mut sink, "lockstep", 5).await;
    let got = exactly(&sink, 5).await;
    let expected = [(MAILBOX.to_owned(), ids)].into_iter().collect();
    assert_once_in_order(&got, &expected);
    assert_eq!(sink.pipelining_violations(), 0);
    assert_eq!(sink.pipelined_after_data(), 0);
}
