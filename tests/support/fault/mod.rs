//! Helpers for the fault tests (crash loop, full disk, spool damage): an SMTP client that reports
//! what happened instead of panicking (the server may die under it), a tmpfs mount guard, and
//! small polling helpers.
//!
//! Use from a test file as `support::fault` (after `use crate::support;`).

pub mod mount;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::support::e2e::mail::dot_stuff;

/// Bound on one read or write: a killed server resets the connection long before this.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How one transaction ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 250 after the final dot: the server owns the message.
    Acknowledged,
    /// The final dot was written but no reply came (connection lost): the server may or may not
    /// have made the message durable.
    Unacknowledged,
    /// A reply other than 250 after the dot (e.g. 452 4.3.1): the server refused it.
    Refused(String),
    /// The transaction broke before the final dot was written: the message was never complete.
    Incomplete,
}

/// A session that turns every failure into an error value.
pub struct Session {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Session {
    /// Connects, reads the greeting and says EHLO; `None` when the server is not there or not ready.
    pub async fn open(addr: SocketAddr) -> Option<Session> {
        let stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .ok()?
            .ok()?;
        let (read, writer) = stream.into_split();
        let mut session = Session {
            reader: BufReader::new(read),
            writer,
        };
        if session.read_reply().await?.0 != 220 {
            return None;
        }
        (session.command("EHLO crash.test").await?.0 == 250).then_some(session)
    }

    /// One reply: its code and its full text; `None` when the connection broke.
    pub async fn read_reply(&mut self) -> Option<(u16, String)> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(IO_TIMEOUT, self.reader.read_line(&mut line))
                .await
                .ok()?
                .ok()?;
            if n == 0 || !line.ends_with('\n') {
                return None;
            }
            text.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
        let code = text.get(..3)?.parse().ok()?;
        Some((code, text.trim_end().to_owned()))
    }

    async fn write(&mut self, bytes: &[u8]) -> Option<()> {
        tokio::time::timeout(IO_TIMEOUT, self.writer.write_all(bytes))
            .await
            .ok()?
            .ok()
    }

    pub async fn command(&mut self, line: &str) -> Option<(u16, String)> {
        self.write(format!("{line}\r\n").as_bytes()).await?;
        self.read_reply().await
    }

    /// MAIL, one RCPT, DATA, the dot-stuffed message and the final dot.
    pub async fn send(&mut self, from: &str, to: &str, message: &[u8]) -> Outcome {
        for line in [format!("MAIL FROM:<{from}>"), format!("RCPT TO:<{to}>")] {
            match self.command(&line).await {
                Some((250, _)) => {}
                Some((_, text)) => return self.refused_before_data(text).await,
                None => return Outcome::Incomplete,
            }
        }
        match self.command("DATA").await {
            Some((354, _)) => {}
            Some((_, text)) => return self.refused_before_data(text).await,
            None => return Outcome::Incomplete,
        }
        let mut wire = dot_stuff(message);
        wire.extend_from_slice(b".\r\n");
        if self.write(&wire).await.is_none() {
            // Some bytes may have gone out, but without the final dot no server accepts them.
            return Outcome::Incomplete;
        }
        match self.read_reply().await {
            Some((250, _)) => Outcome::Acknowledged,
            Some((_, text)) => Outcome::Refused(text),
            None => Outcome::Unacknowledged,
        }
    }

    async fn refused_before_data(&mut self, text: String) -> Outcome {
        let _ = self.command("RSET").await;
        Outcome::Refused(text)
    }

    pub async fn quit(mut self) {
        let _ = self.command("QUIT").await;
    }
}

/// A message of about `size` bytes with `Message-ID: <id@e2e.test>`: the headers of
/// `support::e2e::mail::message` and filler lines that name `id` (so a mixed-up body shows).
pub fn sized_message(id: &str, to: &str, size: usize) -> Vec<u8> {
    let mut message = crate::support::e2e::mail::message(id, to);
    let line = format!("{id} filler line that makes the body bigger 0123456789\r\n");
    while message.len() < size {
        message.extend_from_slice(line.as_bytes());
    }
    message
}

/// Polls `check` every 50 ms until it returns true; false after `timeout`.
pub async fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
