//! The SMTP client sends RSET between messages only when the server may still hold a transaction:
//! after a completed message (the reply to the final dot) it goes straight to the next MAIL, after a
//! transaction left open (every recipient refused) it resets first. Checked against a strict server
//! that refuses a nested MAIL, counts RSETs and handles pipelined commands.

use crate::support;
use support::client_config;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use backupmx::delivery::client::{Connection, Message, RecipientOutcome, TlsPolicy};
use support::envelope;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct Counts {
    resets: AtomicUsize,
    nested_mail: AtomicUsize,
    delivered: AtomicUsize,
}

/// A strict one-connection server: MAIL inside a transaction gets 503, `bad@...` recipients 550.
async fn strict_server(pipelining: bool) -> (SocketAddr, Arc<Counts>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(Counts::default());
    let shared = counts.clone();
    tokio::spawn(async move {
        if let Ok((stream, _)) = listener.accept().await {
            serve(stream, pipelining, &shared).await;
        }
    });
    (addr, counts)
}

async fn serve(stream: TcpStream, pipelining: bool, counts: &Counts) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let _ = say(&mut write, "220 strict.test ESMTP").await;
    let (mut in_transaction, mut recipients) = (false, 0);
    let mut line = String::new();
    loop {
        line.clear();
        if !matches!(reader.read_line(&mut line).await, Ok(n) if n > 0) {
            return;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let answer = match verb.as_str() {
            "EHLO" if pipelining => "250-strict.test\r\n250 PIPELINING",
            "EHLO" => "250 strict.test",
            "MAIL" if in_transaction => {
                counts.nested_mail.fetch_add(1, Ordering::SeqCst);
                "503 5.5.1 nested MAIL"
            }
            "MAIL" => {
                in_transaction = true;
                "250 2.1.0 ok"
            }
            "RCPT" if line.contains("<bad@") => "550 5.1.1 no such user",
            "RCPT" => {
                recipients += 1;
                "250 2.1.5 ok"
            }
            "DATA" if recipients == 0 => "554 5.5.1 no valid recipients",
            "DATA" => {
                let _ = say(&mut write, "354 go ahead").await;
                loop {
                    line.clear();
                    if !matches!(reader.read_line(&mut line).await, Ok(n) if n > 0) {
                        return;
                    }
                    if line == ".\r\n" {
                        break;
                    }
                }
                (in_transaction, recipients) = (false, 0);
                counts.delivered.fetch_add(1, Ordering::SeqCst);
                "250 2.0.0 queued"
            }
            "RSET" => {
                (in_transaction, recipients) = (false, 0);
                counts.resets.fetch_add(1, Ordering::SeqCst);
                "250 2.0.0 reset"
            }
            "QUIT" => {
                let _ = say(&mut write, "221 2.0.0 bye").await;
                return;
            }
            _ => "502 5.5.2 not implemented",
        };
        if say(&mut write, answer).await.is_err() {
            return;
        }
    }
}

async fn say(write: &mut OwnedWriteHalf, text: &str) -> std::io::Result<()> {
    write.write_all(format!("{text}\r\n").as_bytes()).await
}

async fn send(conn: &mut Connection, to: &str) -> u16 {
    let env = envelope("a@sender.test", &[to]);
    let message = Message {
        envelope: &env,
        recipients: &[0],
        size: 3,
    };
    let report = conn.send(&message, &b"x\r\n"[..]).await;
    match &report.recipients[0].1 {
        RecipientOutcome::Delivered(r)
        | RecipientOutcome::Deferred(r)
        | RecipientOutcome::Failed(r) => r.reply.code,
    }
}

/// A connection to a fresh strict server, and the server's counts.
async fn strict_connection(pipelining: bool) -> (Connection, Arc<Counts>) {
    let (addr, counts) = strict_server(pipelining).await;
    let conn = Connection::open(
        addr,
        "strict.test",
        &client_config(TlsPolicy::Opportunistic),
    )
    .await
    .unwrap();
    (conn, counts)
}

#[tokio::test]
async fn completed_messages_need_no_reset() {
    for pipelining in [true, false] {
        let (mut conn, counts) = strict_connection(pipelining).await;
        for _ in 0..3 {
            assert_eq!(send(&mut conn, "bob@example.test").await, 250);
        }
        conn.quit().await;
        assert_eq!(counts.delivered.load(Ordering::SeqCst), 3);
        assert_eq!(
            counts.resets.load(Ordering::SeqCst),
            0,
            "pipelining={pipelining}"
        );
        assert_eq!(counts.nested_mail.load(Ordering::SeqCst), 0);
    }
}

#[tokio::test]
async fn a_transaction_left_open_is_reset_before_the_next() {
    for pipelining in [true, false] {
        let (mut conn, counts) = strict_connection(pipelining).await;
        assert_eq!(send(&mut conn, "bad@example.test").await, 550);
        assert_eq!(send(&mut conn, "bob@example.test").await, 250);
        assert_eq!(send(&mut conn, "bob@example.test").await, 250);
        conn.quit().await;
        assert_eq!(counts.delivered.load(Ordering::SeqCst), 2);
        assert_eq!(
            counts.resets.load(Ordering::SeqCst),
            1,
            "pipelining={pipelining}"
        );
        assert_eq!(counts.nested_mail.load(Ordering::SeqCst), 0);
    }
}
