//! End-to-end, crashes and restarts: mail accepted before a SIGKILL or a SIGTERM is delivered after
//! the restart exactly once and in arrival order per mailbox; a clean shutdown exits 0 promptly.

use crate::support;

use std::time::Duration;

use support::SmtpSink;
use support::config::Settings;
use support::e2e::client::send_numbered;
use support::e2e::mail::assert_once_in_order;
use support::server::Server;

const WAIT: Duration = Duration::from_secs(20);
const MAILBOXES: [&str; 3] = ["a@example.test", "b@example.test", "c@example.test"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_with_mail_queued_then_restart_delivers_all_once_in_order() {
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let mut server = Server::start(Settings::new(Some(sink.addr()))).await;

    let expected = send_numbered(server.smtp_addr(), "k9", 30, &MAILBOXES).await;
    server.kill9();
    server.restart().await;
    sink.restart().await;

    let got = sink.wait_for(30, WAIT).await;
    // Anything delivered twice would show up shortly after.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_after = sink.messages();
    assert_eq!(got_after.len(), 30, "{} delivered", got_after.len());
    assert_once_in_order(&got, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_promptly_and_queued_mail_survives() {
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let mut server = Server::start(Settings::new(Some(sink.addr()))).await;

    let expected = send_numbered(server.smtp_addr(), "term", 5, &MAILBOXES).await;
    let started = std::time::Instant::now();
    let status = server.terminate(Duration::from_secs(5)).await;
    println!("SIGTERM to exit: {:?}", started.elapsed());
    assert!(status.success(), "exit status {status}:\n{}", server.log());
    assert!(
        server.log().contains("backupmx stopped"),
        "{}",
        server.log()
    );

    server.restart().await;
    sink.restart().await;
    let got = sink.wait_for(5, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sink.messages().len(), 5);
    assert_once_in_order(&got, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_queue_then_restart_delivers_nothing_twice() {
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let mut server = Server::start(Settings::new(Some(sink.addr()))).await;
    let expected = send_numbered(server.smtp_addr(), "mid", 150, &MAILBOXES).await;

    // Let the queue start draining, then stop the server while deliveries are in flight.
    sink.restart().await;
    sink.wait_for(5, WAIT).await;
    let status = server.terminate(Duration::from_secs(10)).await;
    assert!(status.success(), "exit status {status}");
    let before_restart = sink.messages().len();
    println!("delivered before the restart: {before_restart} of 150");

    server.restart().await;
    let got = sink.wait_for(150, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.messages().len(), 150, "{}", server.log());
    assert_once_in_order(&got, &expected);
}

/// Mail that was deferred before a restart drains as soon as the primary answers after the restart,
/// not at its next retry time (here an hour away): the recovered destination is probed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_mail_drains_promptly_when_the_primary_returns_after_a_restart() {
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let mut settings = Settings::new(Some(sink.addr()));
    settings.retry = vec!["1h".into()];
    let mut server = Server::start(settings).await;

    let expected = send_numbered(server.smtp_addr(), "rs", 6, &MAILBOXES).await;
    // Let the first attempts fail (connection refused), so every message waits for its 1h retry.
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.terminate(Duration::from_secs(10)).await;
    server.restart().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    sink.restart().await;

    let got = sink.wait_for(6, Duration::from_secs(10)).await;
    println!(
        "drained {} messages {:?} after the primary came back",
        got.len(),
        started.elapsed()
    );
    assert_once_in_order(&got, &expected);
}
