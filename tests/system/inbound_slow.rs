//! Slow and hostile clients against the real server on loopback: early talkers before a delayed
//! greeting (554 5.5.0), the DATA read timeout and the session time cap (421 4.4.2), and 1,000 idle
//! connections that must not stop a normal client from being served.

use crate::support;

use std::time::{Duration, Instant};

use support::inbound::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Idle connections held open while a normal client sends a message.
const IDLE_CONNECTIONS: usize = 1000;

#[tokio::test]
async fn an_early_talker_is_refused() {
    let _machine = support::exclusive::shared().await;
    let mut server = start(|c| c.smtp.greeting_delay = Duration::from_millis(500)).await;
    let mut c = server.connect().await;
    c.send(b"EHLO hasty.example\r\nMAIL FROM:<s@sender.test>\r\n")
        .await;
    let reply = c.reply().await.unwrap();
    assert_eq!(reply.head(), "554 5.5.0");
    assert!(c.closed().await);
    assert!(server.queued().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_patient_client_gets_the_delayed_greeting() {
    let _machine = support::exclusive::shared().await;
    let mut server = start(|c| c.smtp.greeting_delay = Duration::from_millis(300)).await;
    let started = Instant::now();
    let mut c = server.connect().await;
    let ehlo = c.greeting_and_ehlo().await;
    assert_eq!(ehlo.code, 250);
    assert!(started.elapsed() >= Duration::from_millis(250));
    let reply = c
        .send_message("a@example.test", b"Subject: patient\r\n\r\nx\r\n.\r\n")
        .await;
    assert_eq!(reply.head(), "250 2.0.0");
    assert_eq!(server.queued().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_data_phase_times_out() {
    let _machine = support::exclusive::shared().await;
    let mut server = start(|c| c.smtp.data_timeout = Duration::from_millis(300)).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    assert_eq!(c.cmd("MAIL FROM:<s@sender.test>").await, "250 2.1.0");
    assert_eq!(c.cmd("RCPT TO:<a@example.test>").await, "250 2.1.5");
    // Commands still have the long command timeout; message content has the short one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.cmd("DATA").await, "354");
    c.send(b"Subject: stalled\r\n\r\nhalf a mess").await;
    assert_eq!(c.reply().await.unwrap().head(), "421 4.4.2");
    assert!(c.closed().await);
    assert!(server.queued().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn the_session_time_is_capped_even_for_a_busy_client() {
    let _machine = support::exclusive::shared().await;
    let server = start(|c| c.smtp.session_timeout = Duration::from_millis(600)).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    let mut last = None;
    for _ in 0..100 {
        let head = c.cmd("NOOP").await;
        if head != "250 2.0.0" {
            last = Some(head);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last.as_deref(), Some("421 4.4.2"));
    assert!(c.closed().await);
    server.stop().await;
}

/// Soft limit on open files from /proc (None where it cannot be read).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Holds [`IDLE_CONNECTIONS`] idle connections, then a normal client sends a message; every idle
/// connection must still get its greeting.
async fn served_amid_idle_connections(greeting_delay: Duration) {
    // Each idle connection costs two descriptors here (client and server side share this process), and
    // the two tests using this may run at once.
    let needed = (IDLE_CONNECTIONS as u64) * 4 + 400;
    // As the server does at start: the soft limit up to the hard one, as far as needed.
    let _ = rlimit::increase_nofile_limit(needed);
    if let Some(limit) = open_files_limit() {
        assert!(
            limit >= needed,
            "this test needs {needed} open files; raise `ulimit -n` (now {limit})"
        );
    }
    let mut server = start(|c| {
        c.smtp.max_connections = IDLE_CONNECTIONS + 10;
        c.smtp.greeting_delay = greeting_delay;
        c.limits.max_connections_per_ip = 0;
        c.limits.connections_per_minute = 0;
    })
    .await;
    let mut idle = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(server.addr))
            .await
            .expect("connect in time")
            .expect("connect");
        idle.push(stream);
    }

    let started = Instant::now();
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    let reply = c
        .send_message("a@example.test", b"Subject: amid idlers\r\n\r\nx\r\n.\r\n")
        .await;
    assert_eq!(reply.head(), "250 2.0.0");
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(server.queued().len(), 1);

    // Every idle connection is still held: it got its greeting and was not closed.
    let mut held = 0;
    for stream in &mut idle {
        let mut greeting = [0u8; 3];
        tokio::time::timeout(WAIT, stream.read_exact(&mut greeting))
            .await
            .expect("greeting in time")
            .expect("greeting");
        assert_eq!(&greeting, b"220");
        held += 1;
    }
    assert_eq!(held, IDLE_CONNECTIONS);
    eprintln!(
        "{held} idle connections held (greeting delay {greeting_delay:?}); a normal transaction took {took:?}"
    );
    drop(idle);
    server.stop().await;
}

#[tokio::test]
async fn a_thousand_idle_connections_do_not_stop_a_normal_client() {
    let _machine = support::exclusive::shared().await;
    served_amid_idle_connections(Duration::ZERO).await;
}

#[tokio::test]
async fn a_thousand_idle_connections_in_their_greeting_delay_do_not_stop_a_normal_client() {
    let _machine = support::exclusive::shared().await;
    served_amid_idle_connections(Duration::from_millis(500)).await;
}
