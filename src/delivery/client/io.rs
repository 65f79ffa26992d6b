//! The client's wire: a plain or TLS stream, writing commands and reading (possibly multi-line)
//! replies, every step bounded by the command timeout. Every read first asks the kernel to
//! acknowledge at once what arrives ([`quick_ack`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use backupmx_smtp::{Reply, ReplyParser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::ClientError;

/// The connection's byte stream, before or after STARTTLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while STARTTLS moves the TCP stream into TLS, or after a failed handshake.
    Closed,
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Closed => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Closed => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }
}

impl Stream {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(s) => Some(s),
            Stream::Tls(s) => Some(s.get_ref().0),
            Stream::Closed => None,
        }
    }
}

/// Asks the kernel to acknowledge the next data at once instead of delaying the ACK (Linux
/// `TCP_QUICKACK`, which the kernel clears again by itself: hence re-armed before every read).
///
/// Why: a primary that writes each pipelined reply with its own `send()` and leaves Nagle's
/// algorithm on holds its second reply until we acknowledge the first, and Linux delays that ACK
/// (40 ms and more) while we have nothing to send. That was one stall per pipelined group, so a
/// drain ran at about 25 messages a second per connection (issue 14, bench/RESULTS.md). Best
/// effort: a failure only costs speed.
fn quick_ack(stream: &Stream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(tcp) = stream.tcp() {
        let _ = socket2::SockRef::from(tcp).set_tcp_quickack(true);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = stream.tcp();
}

/// Stream + reply parser + timeout.
pub(crate) struct Wire {
    pub(crate) stream: Stream,
    parser: ReplyParser,
    timeout: Duration,
    read_buf: Vec<u8>,
}

impl Wire {
    pub(crate) fn new(stream: TcpStream, timeout: Duration) -> Wire {
        Wire {
            stream: Stream::Plain(stream),
            parser: ReplyParser::new(),
            timeout,
            read_buf: vec![0; 4096],
        }
    }

    /// Forgets bytes received but not parsed yet: after STARTTLS, anything sent in clear before the
    /// handshake must not be taken as a reply (command-injection defence).
    pub(crate) fn reset_parser(&mut self) {
        self.parser = ReplyParser::new();
    }

    pub(crate) async fn write(
        &mut self,
        stage: &'static str,
        data: &[u8],
    ) -> Result<(), ClientError> {
        let write = async {
            self.stream.write_all(data).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ClientError::io(stage, &e)),
            Err(_) => Err(ClientError::Timeout { stage }),
        }
    }

    /// Reads the next complete reply.
    pub(crate) async fn read_reply(&mut self, stage: &'static str) -> Result<Reply, ClientError> {
        self.read_reply_within(stage, self.timeout).await
    }

    /// Reads the next complete reply, allowing `timeout` instead of the command timeout.
    pub(crate) async fn read_reply_within(
        &mut self,
        stage: &'static str,
        timeout: Duration,
    ) -> Result<Reply, ClientError> {
        match tokio::time::timeout(timeout, self.read_reply_untimed(stage)).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout { stage }),
        }
    }

    async fn read_reply_untimed(&mut self, stage: &'static str) -> Result<Reply, ClientError> {
        loop {
            match self.parser.next_reply() {
                Some(Ok(reply)) => return Ok(reply),
                Some(Err(e)) => {
                    return Err(ClientError::Protocol {
                        stage,
                        detail: e.to_string(),
                    });
                }
                None => {}
            }
            quick_ack(&self.stream);
            let n = self
                .stream
                .read(&mut self.read_buf)
                .await
                .map_err(|e| ClientError::io(stage, &e))?;
            if n == 0 {
                return Err(ClientError::ConnectionClosed { stage });
            }
            self.parser.push(&self.read_buf[..n]);
        }
    }

    /// Sends a command line and reads its reply.
    pub(crate) async fn command(
        &mut self,
        stage: &'static str,
        line: &str,
    ) -> Result<Reply, ClientError> {
        self.write(stage, format!("{line}\r\n").as_bytes()).await?;
        self.read_reply(stage).await
    }
}
