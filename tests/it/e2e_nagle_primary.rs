//! End-to-end, a drain into a primary in the simplest style many servers have: `SmtpSink` writes
//! each reply with its own write and leaves Nagle's algorithm on, so pipelined replies reach us in
//! separate segments, the later ones held back until we acknowledge the first. The client
//! acknowledges at once (TCP_QUICKACK) and pipelines across messages; whatever the segments, every
//! message arrives exactly once, byte-identical, and in arrival order per mailbox, also when one of
//! them is deferred in the middle of the drain. Behaviour only: the speed is measured in bench/.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::SmtpSink;
use support::config::Settings;
use support::e2e::client::send_numbered;
use support::e2e::mail::{assert_once_in_order, message, message_id, strip_first_received};
use support::server::Server;

const WAIT: Duration = Duration::from_secs(60);

fn mailboxes(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("box{i}@example.test")).collect()
}

/// Queues `count` numbered messages round robin over `boxes` with the primary down, brings it up,
/// and checks the drain: exactly once each, byte-identical, in order per mailbox.
async fn drain(boxes: usize, count: usize, max_parallel: usize, defer: Option<&str>) {
    let mut sink = SmtpSink::start().await;
    if let Some(marker) = defer {
        sink.refuse_data_once(marker, "451 4.3.0 not now");
    }
    sink.stop().await;
    let mut settings = Settings::new(Some(sink.addr()));
    settings.queue_extra = vec![format!("max_parallel = {max_parallel}")];
    let server = Server::start(settings).await;
    let names = mailboxes(boxes);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let expected: BTreeMap<String, Vec<String>> =
        send_numbered(server.smtp_addr(), "nagle", count, &refs).await;
    server.wait_log("cannot reach any host", WAIT).await;
    sink.restart().await;
    sink.wait_for(count, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = sink.messages();
    assert_eq!(got.len(), count, "delivered more than once");
    assert_once_in_order(&got, &expected);
    for m in &got {
        let id = message_id(&m.data);
        let to = m.recipients.first().cloned().unwrap_or_default();
        assert_eq!(
            strip_first_received(&m.data),
            &message(&id, &to)[..],
            "byte-identical"
        );
    }
    if defer.is_some() {
        assert!(
            server.log().contains("451 4.3.0 not now"),
            "{}",
            server.log()
        );
    }
    assert!(
        sink.pipelined_after_data() >= 1,
        "no MAIL was pipelined behind an end of data"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seven_mailboxes_drain_in_order_through_a_nagle_primary() {
    drain(7, 70, 7, Some("<nagle-030@")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mailbox_drains_in_order_through_a_nagle_primary() {
    drain(1, 40, 4, Some("<nagle-017@")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_mailboxes_than_connections_drain_in_order() {
    drain(12, 48, 3, None).await;
}
