//! The callout client against a scripted loopback server: each answer class, connection reuse, a
//! replaced broken connection, and the timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;

/// A server answering RCPT with `rcpt_reply`; it closes each connection after `questions` RCPTs,
/// and stays silent after the greeting when `silent`. Returns its address and connection count.
async fn server(
    rcpt_reply: &'static str,
    questions: usize,
    silent: bool,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                if silent {
                    let _ = lines.next_line().await;
                    return;
                }
                write.write_all(b"220 test\r\n").await.unwrap();
                let mut asked = 0;
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply = match verb.as_str() {
                        "EHLO" => "250-test\r\n250 PIPELINING\r\n".to_string(),
                        "RCPT" => {
                            asked += 1;
                            format!("{rcpt_reply}\r\n")
                        }
                        _ => "250 2.0.0 ok\r\n".to_string(),
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                    if verb == "RSET" && asked >= questions {
                        return;
                    }
                }
            });
        }
    });
    (addr, connections)
}

async fn ask(pool: &CalloutPool, addr: SocketAddr) -> CalloutAnswer {
    pool.ask(
        "example.test",
        &[addr],
        "mx2.test",
        "a@example.test",
        Duration::from_secs(5),
    )
    .await
}

#[tokio::test]
async fn answers_are_classified_and_the_connection_is_reused() {
    let (addr, connections) = server("250 2.1.5 ok", usize::MAX, false).await;
    let pool = CalloutPool::default();
    assert_eq!(ask(&pool, addr).await, CalloutAnswer::Accepted);
    assert_eq!(ask(&pool, addr).await, CalloutAnswer::Accepted);
    assert_eq!(connections.load(Ordering::SeqCst), 1);

    let (addr, _) = server("550 5.1.1 no such user", usize::MAX, false).await;
    assert!(
        matches!(ask(&CalloutPool::default(), addr).await, CalloutAnswer::Refused(r) if r.contains("5.1.1"))
    );
    let (addr, _) = server("450 4.2.0 busy", usize::MAX, false).await;
    assert!(matches!(
        ask(&CalloutPool::default(), addr).await,
        CalloutAnswer::Deferred(_)
    ));
}

#[tokio::test]
async fn a_closed_connection_is_replaced_once() {
    let (addr, connections) = server("250 ok", 1, false).await;
    let pool = CalloutPool::default();
    assert_eq!(ask(&pool, addr).await, CalloutAnswer::Accepted);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(ask(&pool, addr).await, CalloutAnswer::Accepted);
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn nobody_answering_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let pool = CalloutPool::default();
    assert!(matches!(
        ask(&pool, closed).await,
        CalloutAnswer::Unreachable(_)
    ));
    let none = pool
        .ask(
            "example.test",
            &[],
            "mx2.test",
            "a@example.test",
            Duration::from_secs(1),
        )
        .await;
    assert!(matches!(none, CalloutAnswer::Unreachable(_)));
}

#[tokio::test]
async fn a_silent_primary_times_out() {
    let (addr, _) = server("250 ok", 1, true).await;
    let pool = CalloutPool::default();
    let answer = pool
        .ask(
            "example.test",
            &[addr],
            "mx2.test",
            "a@example.test",
            Duration::from_millis(200),
        )
        .await;
    assert!(matches!(answer, CalloutAnswer::Unreachable(e) if e.contains("no answer")));
}
