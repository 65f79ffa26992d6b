//! The driver of one SMTP connection: reads bytes, frames lines, lets the [`Session`] decide, writes the
//! replies (batched while pipelined input is buffered, flushed before every blocking read), streams DATA
//! through the scanner into a `BodyWriter`, commits, upgrades to TLS, and enforces timeouts and the
//! shutdown grace period.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use backupmx_smtp::{DataScanner, LineFramer, Reply};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout};

mod chunking;
mod guard;

use super::InboundContext;
use super::abuse::AbuseGuard;
use super::replies;
use super::server::shutdown_requested;
use super::session::{Action, Session, TlsInfo};
use crate::checks::Capture;
use crate::queue::FlushScope;
use crate::spool::BodyWriter;
use chunking::ChunkBody;

/// Bytes asked of the socket per read (commands and DATA alike); bounds what one message costs in RAM.
const READ_CHUNK: usize = 64 * 1024;

/// Any byte stream a session can run on: plain TCP, TLS over TCP, or an in-memory pipe in tests.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Why a connection ended; only logged.
#[derive(Debug)]
pub(crate) enum Stop {
    /// We sent a final reply (QUIT, 421) and closed.
    Closed,
    Disconnected,
    Io(std::io::Error),
    Timeout,
    Shutdown,
    TlsHandshake,
}

/// Timing the driver enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub command_timeout: Duration,
    /// After shutdown is requested, how long an open transaction may still run.
    pub grace: Duration,
    /// Wait before the greeting (zero: none); bytes before it mark an early talker.
    pub greeting_delay: Duration,
    /// Time allowed for each read of message content.
    pub data_timeout: Duration,
    /// Cap on the whole session.
    pub session_timeout: Duration,
}

pub(crate) struct Connection {
    io: Box<dyn Io>,
    peer: SocketAddr,
    framer: LineFramer,
    out: Vec<u8>,
    session: Session,
    ctx: Arc<InboundContext>,
    shutdown: watch::Receiver<bool>,
    timing: Timing,
    /// When the command being received must be complete (set at its first byte wait).
    command_deadline: Option<Instant>,
    /// Set once shutdown was requested: the end of the grace period.
    grace_deadline: Option<Instant>,
    /// The end of `smtp.session_timeout`, counted from the connection.
    session_deadline: Instant,
    /// The body being received through BDAT chunks, between the first chunk and the LAST.
    chunk_body: Option<ChunkBody>,
    /// The server's per-client limits (recipient rate).
    abuse: Arc<AbuseGuard>,
    /// TLS handshake before the greeting (port-465 style listener).
    implicit_tls: bool,
    /// The DNSBL screen's result for this client, kept with its messages.
    dnsbl: &'static str,
}

impl Connection {
    pub(crate) fn new(
        io: Box<dyn Io>,
        peer: SocketAddr,
        session: Session,
        ctx: Arc<InboundContext>,
        shutdown: watch::Receiver<bool>,
        timing: Timing,
        abuse: Arc<AbuseGuard>,
    ) -> Connection {
        Connection {
            io,
            peer,
            framer: LineFramer::new(),
            out: Vec::new(),
            session,
            ctx,
            shutdown,
            timing,
            command_deadline: None,
            grace_deadline: None,
            session_deadline: Instant::now() + timing.session_timeout,
            chunk_body: None,
            abuse,
            implicit_tls: false,
            dnsbl: "skipped",
        }
    }

    /// The connection came in on an implicit-TLS listener: handshake first, then the greeting.
    pub(crate) fn with_implicit_tls(mut self, implicit_tls: bool) -> Connection {
        self.implicit_tls = implicit_tls;
        self
    }

    pub(crate) async fn run(mut self) {
        match self.drive().await {
            Err(Stop::Io(error)) => {
                tracing::debug!(peer = %self.peer, %error, "SMTP connection lost")
            }
            end => tracing::debug!(peer = %self.peer, ?end, "SMTP connection ended"),
        }
    }

    async fn drive(&mut self) -> Result<(), Stop> {
        if self.implicit_tls {
            self.start_tls().await?;
        }
        self.await_greeting_turn().await?;
        let (refusal, dnsbl) = self.ctx.checks.screen(self.session.client().ip).await;
        self.dnsbl = dnsbl;
        if let Some(refusal) = refusal {
            // Listed: no greeting, no recipient ever accepted from this client.
            metrics::counter!("backupmx_clients_refused_total", "check" => "dnsbl").increment(1);
            return self.close_with(refusal, Stop::Closed).await;
        }
        self.session.greeting().write_to(&mut self.out);
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            self.process_buffered_lines().await?;
            self.flush().await?;
            if !self.framer.has_buffered() {
                self.command_deadline = None;
            }
            let deadline = *self
                .command_deadline
                .get_or_insert(Instant::now() + self.timing.command_timeout);
            let n = self.read_into(&mut buf, deadline).await?;
            self.framer.push(&buf[..n]);
        }
    }

    /// Answers every complete line already received; replies accumulate in `out` (PIPELINING).
    async fn process_buffered_lines(&mut self) -> Result<(), Stop> {
        while let Some(line) = self.framer.next_line() {
            let step = match self.recipient_rate_refusal(&line) {
                Some(refusal) => self.session.refuse(refusal),
                None => self.session.on_line(line),
            };
            match step.action {
                Action::ReceiveChunk { size, last } => {
                    self.receive_chunk(size, last, step.reply).await?;
                }
                Action::DiscardChunk { size } => {
                    self.discard_chunk(size).await?;
                    step.reply.write_to(&mut self.out);
                }
                Action::CheckRecipient { address, domain } => {
                    let decision = self.ctx.recipients.check(&address, &domain).await;
                    let step = self.session.recipient_checked(decision);
                    step.reply.write_to(&mut self.out);
                    self.act(step.action).await?;
                }
                action => {
                    step.reply.write_to(&mut self.out);
                    self.act(action).await?;
                }
            }
            if !self.session.receiving_chunks() {
                // RSET, EHLO, the LAST chunk or a refusal ended the BDAT transaction: drop its body.
                self.chunk_body = None;
            }
        }
        Ok(())
    }

    /// Carries out what the session asked for after its reply was queued.
    async fn act(&mut self, action: Action) -> Result<(), Stop> {
        match action {
            Action::Continue
            | Action::ReceiveChunk { .. }
            | Action::DiscardChunk { .. }
            | Action::CheckRecipient { .. } => {}
            Action::Close => {
                self.flush().await?;
                return Err(Stop::Closed);
            }
            Action::FlushDomain(domain) => self.ctx.queue.flush(FlushScope::Domain(domain)),
            Action::StartTls => {
                self.flush().await?;
                // STARTTLS injection defence: plaintext pipelined after STARTTLS is never obeyed.
                let _ = self.framer.take_rest();
                self.start_tls().await?;
            }
            Action::StartData => {
                self.flush().await?;
                let pipelined = self.framer.take_rest();
                self.receive_message(pipelined).await?;
            }
        }
        Ok(())
    }

    /// Streams the body into the spool and answers the final dot. Returning early (disconnect, timeout)
    /// drops the `BodyWriter`, so nothing is queued.
    async fn receive_message(&mut self, pipelined: Vec<u8>) -> Result<(), Stop> {
        let mut writer = self.ctx.spool.body_writer();
        let header = self
            .session
            .received_header(writer.id(), self.abuse.clock().now());
        let mut capture = self.new_capture();
        let mut filtered = Vec::new();
        capture.feed(header.as_bytes(), &mut filtered);
        let mut write_error = writer.write(&filtered).await.err();
        let mut scanner = DataScanner::new(self.session.max_message_size());
        let mut unstuffed = Vec::new();
        let mut input = pipelined;
        let mut len = input.len();
        loop {
            let progress = scanner.feed(&input[..len], &mut unstuffed);
            filtered.clear();
            capture.feed(&unstuffed, &mut filtered);
            if write_error.is_none() && !filtered.is_empty() {
                write_error = writer.write(&filtered).await.err();
            }
            unstuffed.clear();
            if progress.done {
                // Commands pipelined after the final dot.
                self.framer.push(&input[progress.consumed..len]);
                break;
            }
            if input.len() < READ_CHUNK {
                input.resize(READ_CHUNK, 0);
            }
            let deadline = Instant::now() + self.timing.data_timeout;
            len = self.read_into(&mut input, deadline).await?;
        }
        filtered.clear();
        capture.finish(&mut filtered);
        if write_error.is_none() && !filtered.is_empty() {
            write_error = writer.write(&filtered).await.err();
        }
        let verdict = scanner.finish();
        let reply = match self.session.end_data(verdict, self.abuse.clock().now()) {
            Err(refusal) => {
                metrics::counter!("backupmx_messages_rejected_total").increment(1);
                refusal
            }
            Ok(envelope) => match write_error {
                Some(error) => {
                    tracing::warn!(peer = %self.peer, %error, "spool write failed during DATA");
                    replies::spool_failure(&error)
                }
                None => self.check_and_commit(envelope, writer, &capture).await,
            },
        };
        reply.write_to(&mut self.out);
        Ok(())
    }

    /// The filter and bounded copy a message streams through (see `checks::capture`).
    fn new_capture(&self) -> Capture {
        let checks = &self.ctx.checks;
        Capture::new(checks.authserv_id(), checks.capture_limit())
    }

    /// The sender checks' judgement, then the commit: a refused message is never committed (the
    /// refusal comes before any 250, so nothing is ever bounced for it).
    async fn check_and_commit(
        &mut self,
        mut envelope: crate::envelope::Envelope,
        writer: BodyWriter,
        capture: &Capture,
    ) -> Reply {
        if capture.removed() > 0 {
            tracing::info!(peer = %self.peer, removed = capture.removed(),
                "removed Authentication-Results fields carrying our authserv-id");
        }
        let judgement = self
            .ctx
            .checks
            .judge(&envelope, capture.message(), self.dnsbl)
            .await;
        if let Some(refusal) = judgement.refusal {
            metrics::counter!("backupmx_messages_rejected_total").increment(1);
            return refusal;
        }
        envelope.auth = judgement.stamp.map(Box::new);
        self.commit(envelope, writer).await
    }

    /// Commits and answers; 250 only once the spool says the message is durable. Never raced against a
    /// timer or shutdown: a started commit always gets its reply.
    async fn commit(&mut self, envelope: crate::envelope::Envelope, writer: BodyWriter) -> Reply {
        match self.ctx.spool.commit(envelope, writer).await {
            Ok(stored) => {
                let id = stored.id;
                let domain = stored.envelope.domains_text();
                tracing::info!(peer = %self.peer, %id, domain, size = stored.size, "message queued");
                metrics::counter!("backupmx_messages_accepted_total").increment(1);
                self.ctx.queue.submit(stored);
                replies::queued(id)
            }
            Err(error) => {
                tracing::warn!(peer = %self.peer, %error, "spool commit failed");
                replies::spool_failure(&error)
            }
        }
    }

    async fn start_tls(&mut self) -> Result<(), Stop> {
        let Some(acceptor) = self.ctx.tls.clone() else {
            return Err(Stop::TlsHandshake);
        };
        let plain = std::mem::replace(&mut self.io, Box::new(tokio::io::empty()));
        let handshake = timeout(self.timing.command_timeout, acceptor.accept(plain)).await;
        let Ok(Ok(tls)) = handshake else {
            return Err(Stop::TlsHandshake);
        };
        let (_, connection) = tls.get_ref();
        let version = connection
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default();
        let cipher = connection
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default();
        self.session.tls_started(TlsInfo {
            description: format!("{version} {cipher}"),
        });
        self.io = Box::new(tls);
        self.command_deadline = None;
        Ok(())
    }

    /// One read, bounded by `deadline`, the session cap and the shutdown grace period. Idle sessions
    /// (no transaction) are closed at once on shutdown; sessions in a transaction may finish it until
    /// the grace ends.
    async fn read_into(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, Stop> {
        loop {
            if self.grace_deadline.is_some() && !self.session.in_transaction() {
                return self
                    .close_with(replies::shutting_down(), Stop::Shutdown)
                    .await;
            }
            let capped = deadline.min(self.session_deadline);
            let until = self
                .grace_deadline
                .map_or(capped, |grace| grace.min(capped));
            let shutting_down = self.grace_deadline.is_some();
            tokio::select! {
                read = self.io.read(buf) => return match read {
                    Ok(0) => Err(Stop::Disconnected),
                    Ok(n) => Ok(n),
                    Err(error) => Err(Stop::Io(error)),
                },
                () = sleep_until(until) => {
                    return if until < capped {
                        self.close_with(replies::shutting_down(), Stop::Shutdown).await
                    } else if capped < deadline {
                        self.session_time_up().await
                    } else {
                        self.close_with(replies::command_timeout(), Stop::Timeout).await
                    };
                }
                () = shutdown_requested(&mut self.shutdown), if !shutting_down => {
                    self.grace_deadline = Some(Instant::now() + self.timing.grace);
                }
            }
        }
    }

    /// Sends a final 421 and ends the connection with `stop`.
    async fn close_with<T>(&mut self, reply: Reply, stop: Stop) -> Result<T, Stop> {
        reply.write_to(&mut self.out);
        self.flush().await?;
        Err(stop)
    }

    /// Writes every pending reply in one go; bounded by the command timeout (a client that never reads
    /// must not hold the session forever).
    async fn flush(&mut self) -> Result<(), Stop> {
        if self.out.is_empty() {
            return Ok(());
        }
        let (io, out) = (&mut self.io, &self.out);
        let written = timeout(self.timing.command_timeout, async move {
            io.write_all(out).await?;
            io.flush().await
        })
        .await;
        self.out.clear();
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(Stop::Io(error)),
            Err(_) => Err(Stop::Timeout),
        }
    }
}
