//! End-to-end limits: recipients per transaction, global connection limit, command timeout, and the
//! graceful shutdown (idle sessions get 421 4.3.2, an open transaction may finish within the grace).

use crate::support;

use std::time::Duration;

use backupmx::inbound::ServeOptions;
use support::inbound::*;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn too_many_recipients_get_452() {
    let mut server = start(|c| c.smtp.max_recipients = 2).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    assert_eq!(c.cmd("MAIL FROM:<s@sender.test>").await, "250 2.1.0");
    assert_eq!(c.cmd("RCPT TO:<a@example.test>").await, "250 2.1.5");
    assert_eq!(c.cmd("RCPT TO:<b@example.test>").await, "250 2.1.5");
    assert_eq!(c.cmd("RCPT TO:<c@example.test>").await, "452 4.5.3");
    assert_eq!(c.cmd("DATA").await, "354");
    c.send(b"Subject: r\r\n\r\nx\r\n.\r\n").await;
    assert_eq!(c.reply().await.unwrap().head(), "250 2.0.0");
    assert_eq!(server.queued()[0].envelope.recipients.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_get_421() {
    let server = start(|c| c.smtp.max_connections = 2).await;
    let mut first = server.connect().await;
    let mut second = server.connect().await;
    assert_eq!(first.reply().await.unwrap().head(), "220");
    assert_eq!(second.reply().await.unwrap().head(), "220");
    let mut third = server.connect().await;
    assert_eq!(third.reply().await.unwrap().head(), "421 4.7.0");
    assert!(third.closed().await);
    // A slot frees up when a session ends.
    assert_eq!(first.cmd("QUIT").await, "221 2.0.0");
    assert!(first.closed().await);
    let mut fourth = None;
    for _ in 0..50 {
        let mut c = server.connect().await;
        if c.reply().await.unwrap().head() == "220" {
            fourth = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fourth.is_some(), "a slot was freed");
    server.stop().await;
}

#[tokio::test]
async fn idle_client_times_out_with_421() {
    let server = start(|c| c.smtp.command_timeout = Duration::from_millis(300)).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    assert_eq!(c.reply().await.unwrap().head(), "421 4.4.2");
    assert!(c.closed().await);
    // A slow drip of bytes does not extend the time for one command.
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    let mut reply = None;
    for byte in b"NOOP\r\n".iter().take(4) {
        // The server may already have closed: a failed write is part of the expected outcome.
        let _ = c.io.get_mut().write_all(&[*byte]).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(r) = c.reply().await {
        reply = Some(r.head());
    }
    assert_eq!(reply.as_deref(), Some("421 4.4.2"));
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_idle_sessions_and_lets_a_transaction_finish() {
    let mut server = start_with(
        |_| {},
        None,
        ServeOptions {
            grace: Duration::from_secs(5),
        },
    )
    .await;
    let mut idle = server.connect().await;
    idle.greeting_and_ehlo().await;
    let mut busy = server.connect().await;
    busy.greeting_and_ehlo().await;
    assert_eq!(busy.cmd("MAIL FROM:<s@sender.test>").await, "250 2.1.0");
    assert_eq!(busy.cmd("RCPT TO:<a@example.test>").await, "250 2.1.5");
    assert_eq!(busy.cmd("DATA").await, "354");
    busy.send(b"Subject: during shutdown\r\n\r\n").await;

    server.request_shutdown();
    assert_eq!(idle.reply().await.unwrap().head(), "421 4.3.2");
    assert!(idle.closed().await);
    // New connections are no longer accepted once the listener is gone (refused or closed).
    busy.send(b"finished\r\n.\r\n").await;
    assert_eq!(busy.reply().await.unwrap().head(), "250 2.0.0");
    // Back at the command prompt: the session is told to go.
    assert_eq!(busy.reply().await.unwrap().head(), "421 4.3.2");
    assert_eq!(server.queued().len(), 1);
    server.wait_stopped().await;
}

#[tokio::test]
async fn shutdown_grace_ends_a_stalled_transaction() {
    let mut server = start_with(
        |_| {},
        None,
        ServeOptions {
            grace: Duration::from_millis(300),
        },
    )
    .await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    assert_eq!(c.cmd("MAIL FROM:<s@sender.test>").await, "250 2.1.0");
    assert_eq!(c.cmd("RCPT TO:<a@example.test>").await, "250 2.1.5");
    assert_eq!(c.cmd("DATA").await, "354");
    c.send(b"Subject: stalled\r\n\r\n").await;
    server.request_shutdown();
    assert_eq!(c.reply().await.unwrap().head(), "421 4.3.2");
    assert!(server.queued().is_empty());
    server.wait_stopped().await;
}
