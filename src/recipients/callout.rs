//! The SMTP callout: ask the primary whether it knows an address (greeting, EHLO, then per question
//! `MAIL FROM:<>`, `RCPT TO:<address>`, `RSET`), keeping one connection per destination open for the
//! next question. Plain text only (no message is sent); every step is bounded by the caller's timeout.
//! The answer is classified for the verdict: a 2xx RCPT is "known", 5xx "unknown", anything else
//! (4xx, a refused null sender, a broken connection) says nothing about the address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backupmx_smtp::{Reply, ReplyParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the primary said about one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalloutAnswer {
    /// 2xx to RCPT.
    Accepted,
    /// 5xx to RCPT (the reply, one line).
    Refused(String),
    /// The primary answered but not about the address (4xx, refused `MAIL FROM:<>`).
    Deferred(String),
    /// No primary could be reached (connect, greeting, EHLO failed, or timed out).
    Unreachable(String),
}

/// One open callout session.
pub struct CalloutConnection {
    stream: TcpStream,
    parser: ReplyParser,
    buf: Vec<u8>,
}

impl CalloutConnection {
    /// Connects and runs greeting and EHLO (HELO if EHLO is refused).
    pub async fn open(addr: SocketAddr, hostname: &str) -> Result<CalloutConnection, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut conn = CalloutConnection {
            stream,
            parser: ReplyParser::new(),
            buf: vec![0; 4096],
        };
        let greeting = conn.read_reply().await?;
        if !greeting.is_positive() {
            return Err(format!("{addr}: greeting {}", greeting.to_one_line()));
        }
        let ehlo = conn.command(&format!("EHLO {hostname}")).await?;
        if !ehlo.is_positive() {
            let helo = conn.command(&format!("HELO {hostname}")).await?;
            if !helo.is_positive() {
                return Err(format!("{addr}: HELO {}", helo.to_one_line()));
            }
        }
        Ok(conn)
    }

    /// One question. `Err` means the connection broke (the caller may retry on a fresh one).
    pub async fn ask(&mut self, address: &str) -> Result<CalloutAnswer, String> {
        let mail = self.command("MAIL FROM:<>").await?;
        if !mail.is_positive() {
            let _ = self.command("RSET").await;
            return Ok(CalloutAnswer::Deferred(mail.to_one_line()));
        }
        let rcpt = self.command(&format!("RCPT TO:<{address}>")).await?;
        self.command("RSET").await?;
        Ok(match rcpt.code {
            200..=299 => CalloutAnswer::Accepted,
            500..=599 => CalloutAnswer::Refused(rcpt.to_one_line()),
            _ => CalloutAnswer::Deferred(rcpt.to_one_line()),
        })
    }

    /// Says QUIT without waiting long (best effort).
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.command("QUIT")).await;
    }

    async fn command(&mut self, line: &str) -> Result<Reply, String> {
        self.stream
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        self.read_reply().await
    }

    async fn read_reply(&mut self) -> Result<Reply, String> {
        loop {
            match self.parser.next_reply() {
                Some(Ok(reply)) => return Ok(reply),
                Some(Err(e)) => return Err(e.to_string()),
                None => {}
            }
            let n = self
                .stream
                .read(&mut self.buf)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
            self.parser.push(&self.buf[..n]);
        }
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<CalloutConnection>>>;

/// One reusable callout connection per destination; questions to one destination take turns.
#[derive(Default)]
pub struct CalloutPool {
    slots: Mutex<HashMap<String, Slot>>,
}

impl CalloutPool {
    fn slot(&self, dest: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(dest.to_string()).or_default().clone()
    }

    /// Asks about `address` on the destination's open connection, or on a new one to the first of
    /// `addrs` that answers. Bounded by `timeout` as a whole; a broken reused connection is replaced
    /// once.
    pub async fn ask(
        &self,
        dest: &str,
        addrs: &[SocketAddr],
        hostname: &str,
        address: &str,
        timeout: Duration,
    ) -> CalloutAnswer {
        let slot = self.slot(dest);
        let work = async {
            let mut held = slot.lock().await;
            if let Some(conn) = held.as_mut() {
                if let Ok(answer) = conn.ask(address).await {
                    return answer;
                }
                *held = None;
            }
            let mut errors = Vec::new();
            for addr in addrs {
                match CalloutConnection::open(*addr, hostname).await {
                    Ok(mut conn) => match conn.ask(address).await {
                        Ok(answer) => {
                            *held = Some(conn);
                            return answer;
                        }
                        Err(e) => errors.push(format!("{addr}: {e}")),
                    },
                    Err(e) => errors.push(e),
                }
            }
            if errors.is_empty() {
                errors.push("no host to ask".into());
            }
            CalloutAnswer::Unreachable(errors.join("; "))
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(answer) => answer,
            Err(_) => {
                // The connection may be mid-reply: never reuse it.
                if let Ok(mut held) = slot.try_lock() {
                    *held = None;
                }
                CalloutAnswer::Unreachable(format!("no answer within {timeout:?}"))
            }
        }
    }

    /// Closes every idle connection (at shutdown).
    pub async fn close_all(&self) {
        let slots: Vec<Slot> = {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.values().cloned().collect()
        };
        for slot in slots {
            if let Some(conn) = slot.lock().await.take() {
                conn.quit().await;
            }
        }
    }
}

#[cfg(test)]
mod tests;
