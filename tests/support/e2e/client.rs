//! A tiny SMTP client for end-to-end tests: sends commands and messages to the server under test
//! and returns its replies as text. Every read is bounded by a timeout.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::mail::dot_stuff;
use crate::support::server::Server;

const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// One (possibly multi-line) reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub code: u16,
    /// Every line, CRLF removed, joined with `\n`.
    pub text: String,
}

impl Reply {
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
}

/// The replies to one transaction.
#[derive(Debug)]
pub struct Sent {
    pub mail: Reply,
    pub rcpt: Vec<Reply>,
    /// After the final dot; `None` when no recipient was accepted (DATA not sent).
    pub data: Option<Reply>,
}

pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    /// Connects, reads the greeting (must be 220) and says EHLO.
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = tokio::time::timeout(READ_TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connect timeout")
            .expect("connect to backupmx");
        let (read, writer) = stream.into_split();
        let mut client = Client {
            reader: BufReader::new(read),
            writer,
        };
        let greeting = client.read_reply().await;
        assert_eq!(greeting.code, 220, "greeting {greeting:?}");
        let ehlo = client.cmd("EHLO client.test").await;
        assert_eq!(ehlo.code, 250, "EHLO {ehlo:?}");
        client
    }

    /// Connects from the loopback address `source` (127.0.0.2, 127.0.0.3 ...: all of 127/8 is
    /// local on Linux) and returns the client with the server's first reply, whatever it is.
    pub async fn open_from(addr: SocketAddr, source: std::net::IpAddr) -> (Client, Reply) {
        let socket = match source {
            std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }
        .expect("socket");
        socket
            .bind(SocketAddr::new(source, 0))
            .expect("bind the source address");
        let stream = tokio::time::timeout(READ_TIMEOUT, socket.connect(addr))
            .await
            .expect("connect timeout")
            .expect("connect to backupmx");
        let (read, writer) = stream.into_split();
        let mut client = Client {
            reader: BufReader::new(read),
            writer,
        };
        let first = client.read_reply().await;
        (client, first)
    }

    /// Like [`Client::connect`] from `source`, saying `EHLO helo`.
    pub async fn connect_from(addr: SocketAddr, source: std::net::IpAddr, helo: &str) -> Client {
        let (mut client, greeting) = Client::open_from(addr, source).await;
        assert_eq!(greeting.code, 220, "greeting {greeting:?}");
        let ehlo = client.cmd(&format!("EHLO {helo}")).await;
        assert_eq!(ehlo.code, 250, "EHLO {ehlo:?}");
        client
    }

    /// True when the server has closed the connection (reads end of stream within the timeout).
    pub async fn is_closed(&mut self) -> bool {
        let mut line = String::new();
        matches!(
            tokio::time::timeout(READ_TIMEOUT, self.reader.read_line(&mut line)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    pub async fn read_reply(&mut self) -> Reply {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(READ_TIMEOUT, self.reader.read_line(&mut line))
                .await
                .expect("reply timeout")
                .expect("read a reply");
            assert!(n > 0, "connection closed; lines so far {lines:?}");
            let line = line.trim_end().to_owned();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                break;
            }
        }
        let code = lines[0].get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        Reply {
            code,
            text: lines.join("\n"),
        }
    }

    pub async fn write_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    pub async fn cmd(&mut self, line: &str) -> Reply {
        self.write_raw(format!("{line}\r\n").as_bytes()).await;
        self.read_reply().await
    }

    /// One transaction: MAIL, each RCPT, and DATA with `message` dot-stuffed (when a RCPT succeeded).
    pub async fn send(&mut self, from: &str, to: &[&str], message: &[u8]) -> Sent {
        let mail = self.cmd(&format!("MAIL FROM:<{from}>")).await;
        let mut rcpt = Vec::new();
        for address in to {
            rcpt.push(self.cmd(&format!("RCPT TO:<{address}>")).await);
        }
        if !rcpt.iter().any(|r| r.code == 250) {
            self.cmd("RSET").await;
            return Sent {
                mail,
                rcpt,
                data: None,
            };
        }
        let go = self.cmd("DATA").await;
        assert_eq!(go.code, 354, "DATA {go:?}");
        let mut wire = dot_stuff(message);
        wire.extend_from_slice(b".\r\n");
        self.write_raw(&wire).await;
        let data = Some(self.read_reply().await);
        Sent { mail, rcpt, data }
    }

    /// Sends and asserts the message was accepted (250 after the dot).
    pub async fn send_ok(&mut self, from: &str, to: &[&str], message: &[u8]) {
        let sent = self.send(from, to, message).await;
        let data = sent.data.as_ref().map(|d| d.code);
        assert_eq!(data, Some(250), "message not accepted: {sent:?}");
    }

    pub async fn quit(mut self) {
        let _ = self.cmd("QUIT").await;
    }
}

/// Connects, sends one message, quits; returns the replies.
pub async fn send_one(addr: SocketAddr, from: &str, to: &[&str], message: &[u8]) -> Sent {
    let mut client = Client::connect(addr).await;
    let sent = client.send(from, to, message).await;
    client.quit().await;
    sent
}

/// Sends the test message `id` from `sender@sender.test` to `to` through `server`, in a session of
/// its own: the RCPT reply's code, and the final reply's when the message was sent.
pub async fn send_codes(server: &Server, id: &str, to: &str) -> (u16, Option<u16>) {
    let sent = send_one(
        server.smtp_addr(),
        "sender@sender.test",
        &[to],
        &super::mail::message(id, to),
    )
    .await;
    (sent.rcpt[0].code, sent.data.map(|d| d.code))
}

/// Sends `n` messages over one session, message `i` to `mailboxes[i % len]`, with ids `{prefix}-{i}`;
/// each must get 250. Returns the ids per mailbox in sending order.
pub async fn send_numbered(
    addr: SocketAddr,
    prefix: &str,
    n: usize,
    mailboxes: &[&str],
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut expected: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut client = Client::connect(addr).await;
    for i in 0..n {
        let to = mailboxes[i % mailboxes.len()];
        let id = format!("{prefix}-{i:03}");
        client
            .send_ok("sender@sender.test", &[to], &super::mail::message(&id, to))
            .await;
        expected.entry(to.to_owned()).or_default().push(id);
    }
    client.quit().await;
    expected
}
