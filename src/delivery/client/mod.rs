//! The SMTP client that hands messages to the primary: one [`Connection`] carries many messages,
//! each with per-recipient outcomes. Phases live in their own files: `io` (wire and timeouts),
//! `hello` (greeting, EHLO/HELO, STARTTLS), `commands` (MAIL/RCPT lines, pre-checks), `transaction`
//! (MAIL/RCPT/DATA, pipelined across messages when offered), `body` (dot-stuffing).

mod body;
mod commands;
mod hello;
mod io;
mod tls;
mod transaction;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use backupmx_smtp::{EnhancedCode, Reply};
use tokio::io::AsyncRead;
use tokio::net::TcpStream;

use crate::config::DeliveryConfig;
use crate::envelope::Envelope;

pub use body::DotStuffer;
pub use commands::{mail_command, precheck, rcpt_command, xtext};
pub use hello::Extensions;
pub use tls::{TlsPolicy, trust_roots, verified_config};
pub use transaction::{EnvelopeStep, Opened, Staged};

/// Settings of the client, built once from the configuration.
#[derive(Clone)]
pub struct ClientConfig {
    /// Our name, sent in EHLO/HELO.
    pub hostname: String,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// For the reply to the final dot (RFC 5321 §4.5.3.2.6 suggests 10 minutes).
    pub data_timeout: Duration,
    pub tls: TlsPolicy,
    tls_config: Arc<rustls::ClientConfig>,
    /// Used under [`TlsPolicy::Require`]: verifies the certificate against the MX name.
    verified_tls_config: Arc<rustls::ClientConfig>,
    /// Set by [`ClientConfig::with_dane`]: verifies the certificate against the host's TLSA records
    /// instead (under [`TlsPolicy::Require`]).
    dane_tls_config: Option<Arc<rustls::ClientConfig>>,
}

impl ClientConfig {
    pub fn new(
        hostname: &str,
        delivery: &DeliveryConfig,
        tls: TlsPolicy,
    ) -> Result<ClientConfig, ClientError> {
        let tls_config =
            tls::opportunistic_config().map_err(|e| ClientError::TlsSetup(e.to_string()))?;
        let verified_tls_config =
            tls::verified_config(delivery.tls_ca_file.as_deref()).map_err(ClientError::TlsSetup)?;
        Ok(ClientConfig {
            hostname: hostname.to_owned(),
            connect_timeout: delivery.connect_timeout,
            command_timeout: delivery.command_timeout,
            data_timeout: delivery.data_timeout,
            tls,
            tls_config,
            verified_tls_config,
            dane_tls_config: None,
        })
    }

    /// The verifying rustls configuration (built-in roots plus `[delivery] tls_ca_file`), also used
    /// for MTA-STS policy fetches.
    pub fn verified_rustls_config(&self) -> Arc<rustls::ClientConfig> {
        Arc::clone(&self.verified_tls_config)
    }

    /// Required TLS whose certificate must match one of `records` (DANE, RFC 7672).
    pub fn with_dane(
        &self,
        records: Vec<crate::delivery::dane::Tlsa>,
    ) -> Result<ClientConfig, ClientError> {
        let config = tls::dane_config(records).map_err(|e| ClientError::TlsSetup(e.to_string()))?;
        Ok(ClientConfig {
            tls: TlsPolicy::Require,
            dane_tls_config: Some(config),
            ..self.clone()
        })
    }

    /// The rustls configuration for the current policy.
    pub(crate) fn rustls_config(&self) -> Arc<rustls::ClientConfig> {
        match (self.tls, &self.dane_tls_config) {
            (TlsPolicy::Require, Some(dane)) => Arc::clone(dane),
            (TlsPolicy::Require, None) => Arc::clone(&self.verified_tls_config),
            _ => Arc::clone(&self.tls_config),
        }
    }

    /// The same settings with another TLS policy (e.g. `None` after a failed handshake).
    pub fn with_tls(&self, tls: TlsPolicy) -> ClientConfig {
        ClientConfig {
            tls,
            dane_tls_config: None,
            ..self.clone()
        }
    }
}

/// Why a connection could not be set up or went wrong outside a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Connection refused, connect timeout, no route: the destination is unreachable.
    #[error("cannot connect to {addr}: {reason}")]
    Unreachable { addr: SocketAddr, reason: String },
    /// The server's greeting was not 220 (421 = busy or down for now).
    #[error("greeting refused: {}", .0.to_one_line())]
    Greeting(Reply),
    /// A command got a negative reply that ends the session (e.g. EHLO and HELO both refused).
    #[error("{stage} refused: {}", .reply.to_one_line())]
    Rejected { stage: &'static str, reply: Reply },
    #[error("timeout during {stage}")]
    Timeout { stage: &'static str },
    #[error("connection closed by the server during {stage}")]
    ConnectionClosed { stage: &'static str },
    #[error("network error during {stage}: {message}")]
    Io {
        stage: &'static str,
        kind: std::io::ErrorKind,
        message: String,
    },
    #[error("malformed reply during {stage}: {detail}")]
    Protocol { stage: &'static str, detail: String },
    /// STARTTLS was accepted but the handshake failed; the connection is gone. Retry with
    /// [`TlsPolicy::None`] to deliver in clear.
    #[error("TLS handshake failed: {0}")]
    TlsHandshake(String),
    /// [`TlsPolicy::Require`] and the server does not offer (or refuses) STARTTLS.
    #[error("TLS required but not available: {0}")]
    TlsUnavailable(String),
    #[error("cannot set up TLS: {0}")]
    TlsSetup(String),
    /// The primary's published policy (MTA-STS, DANE) forbids this host, or the look-up it needs
    /// failed: the mail is deferred, never sent in clear.
    #[error("{0}")]
    TlsPolicy(String),
    /// Reading the stored body failed (local problem; the transaction was abandoned).
    #[error("cannot read the message body: {0}")]
    Body(String),
}

impl ClientError {
    pub(crate) fn io(stage: &'static str, error: &std::io::Error) -> ClientError {
        ClientError::Io {
            stage,
            kind: error.kind(),
            message: error.to_string(),
        }
    }

    /// The destination could not be reached at all: connect failed, or the greeting never came or
    /// was a 4xx (typically 421). Only this state triggers recovery probing.
    pub fn is_unreachable(&self) -> bool {
        match self {
            ClientError::Unreachable { .. } => true,
            ClientError::Greeting(reply) => reply.is_transient(),
            ClientError::Timeout { stage } | ClientError::ConnectionClosed { stage } => {
                *stage == "greeting"
            }
            ClientError::Io { stage, .. } => *stage == "greeting",
            _ => false,
        }
    }

    /// Whether a later attempt may succeed.
    pub fn is_temporary(&self) -> bool {
        match self {
            ClientError::Greeting(reply) | ClientError::Rejected { reply, .. } => {
                !reply.is_permanent()
            }
            _ => true,
        }
    }

    /// The reply recorded for the recipients this error leaves undelivered: the server's own reply
    /// when there is one, else a local 4xx (or 5xx) with the error text.
    pub fn to_reply(&self) -> Reply {
        match self {
            ClientError::Greeting(reply) | ClientError::Rejected { reply, .. } => reply.clone(),
            ClientError::Unreachable { .. } => {
                Reply::new(451, EnhancedCode(4, 4, 1), self.to_string())
            }
            ClientError::Timeout { .. } => Reply::new(451, EnhancedCode(4, 4, 2), self.to_string()),
            ClientError::TlsHandshake(_)
            | ClientError::TlsUnavailable(_)
            | ClientError::TlsSetup(_)
            | ClientError::TlsPolicy(_) => Reply::new(451, EnhancedCode(4, 7, 5), self.to_string()),
            ClientError::Body(_) => Reply::new(451, EnhancedCode(4, 3, 0), self.to_string()),
            _ => Reply::new(451, EnhancedCode(4, 4, 2), self.to_string()),
        }
    }
}

/// A reply deciding a recipient's fate, and whether the remote server gave it (false: we made it up
/// from a local condition, e.g. a timeout or a size check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub reply: Reply,
    pub remote: bool,
}

impl Response {
    pub fn remote(reply: Reply) -> Response {
        Response {
            reply,
            remote: true,
        }
    }
    pub fn local(reply: Reply) -> Response {
        Response {
            reply,
            remote: false,
        }
    }
}

/// What happened to one recipient in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientOutcome {
    /// The server took responsibility (final 2xx after DATA).
    Delivered(Response),
    /// Try again later (4xx, network error, timeout).
    Deferred(Response),
    /// Permanent failure (5xx or a local permanent check): bounce.
    Failed(Response),
}

impl RecipientOutcome {
    /// Classifies a server reply (a 2xx here is a final acceptance).
    pub fn from_reply(reply: Reply) -> RecipientOutcome {
        if reply.is_permanent() {
            RecipientOutcome::Failed(Response::remote(reply))
        } else if reply.is_transient() || reply.code >= 300 {
            RecipientOutcome::Deferred(Response::remote(reply))
        } else {
            RecipientOutcome::Delivered(Response::remote(reply))
        }
    }

    pub fn response(&self) -> &Response {
        match self {
            RecipientOutcome::Delivered(r)
            | RecipientOutcome::Deferred(r)
            | RecipientOutcome::Failed(r) => r,
        }
    }
}

/// One message to send: the envelope, which of its recipients go in this transaction (indices into
/// `envelope.recipients`), and the body size in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub envelope: &'a Envelope,
    pub recipients: &'a [usize],
    pub size: u64,
}

/// The result of [`Connection::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    /// One entry per requested recipient index, in request order.
    pub recipients: Vec<(usize, RecipientOutcome)>,
    /// False when the connection must not carry another message (network error, timeout, 421).
    pub reusable: bool,
}

/// An open SMTP session with one server, after greeting, EHLO and (maybe) STARTTLS.
pub struct Connection {
    wire: io::Wire,
    peer: SocketAddr,
    host: String,
    extensions: Extensions,
    tls: bool,
    /// Time allowed for the reply to the final dot.
    data_timeout: Duration,
    /// A transaction already ran: the next one starts with RSET.
    used: bool,
    /// A network error, timeout or 421 happened: no further messages on this connection.
    broken: bool,
    /// Commands queued by [`Connection::stage`], written with the next write.
    outbox: Vec<u8>,
}

impl Connection {
    /// Connects to `addr` (`host` is the MX name, used for TLS SNI) and runs greeting, EHLO/HELO
    /// and STARTTLS according to the policy.
    pub async fn open(
        addr: SocketAddr,
        host: &str,
        config: &ClientConfig,
    ) -> Result<Connection, ClientError> {
        let tcp = connect(addr, config.connect_timeout).await?;
        let mut wire = io::Wire::new(tcp, config.command_timeout);
        hello::greeting(&mut wire).await?;
        let mut extensions = hello::hello(&mut wire, &config.hostname).await?;
        let tls = hello::maybe_start_tls(&mut wire, &mut extensions, host, addr, config).await?;
        Ok(Connection {
            wire,
            peer: addr,
            host: host.to_owned(),
            extensions,
            tls,
            data_timeout: config.data_timeout,
            used: false,
            broken: false,
            outbox: Vec::new(),
        })
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
    pub fn host(&self) -> &str {
        &self.host
    }
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }
    pub fn is_tls(&self) -> bool {
        self.tls
    }
    pub fn is_reusable(&self) -> bool {
        !self.broken
    }

    /// Sends one message, streaming `body` (the stored bytes, CRLF line ends) dot-stuffed. Never
    /// fails as a whole: every requested recipient gets an outcome.
    pub async fn send<R: AsyncRead + Unpin>(
        &mut self,
        message: &Message<'_>,
        body: R,
    ) -> SendReport {
        transaction::send(self, message, body).await
    }

    /// True when the next message's commands may be pipelined behind the current message's content
    /// (the server offers PIPELINING and nothing went wrong).
    pub fn can_pipeline(&self) -> bool {
        self.extensions.pipelining && !self.broken
    }

    /// First phase of a transaction: pre-checks, and with PIPELINING the MAIL/RCPT/DATA commands
    /// queued to leave with the next write (staged while another message's content is still to be
    /// sent, they follow its end of data). `Err` is the message's outcome when it cannot be sent here.
    pub async fn stage(&mut self, message: &Message<'_>) -> Result<Staged, SendReport> {
        transaction::stage(self, message).await
    }

    /// Second phase: the replies to MAIL, RCPT and DATA.
    pub async fn envelope(&mut self, message: &Message<'_>, staged: Staged) -> EnvelopeStep {
        transaction::envelope(self, message, staged).await
    }

    /// Last phase: the content, the end of data (followed by any staged commands) and its reply.
    pub async fn send_body<R: AsyncRead + Unpin>(
        &mut self,
        message: &Message<'_>,
        opened: Opened,
        body: R,
    ) -> SendReport {
        transaction::send_body(self, message, opened, body).await
    }

    /// Drops the connection without QUIT: a message whose DATA was already accepted (354) is
    /// abandoned without an end of data, which the server must discard (RFC 5321 §3.8: a close
    /// without QUIT acts as RSET).
    pub fn abandon(self) {}

    /// Says QUIT (best effort) and closes.
    pub async fn quit(mut self) {
        if !self.broken {
            let _ = self.wire.command("QUIT", "QUIT").await;
        }
    }
}

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, ClientError> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) => Err(ClientError::Unreachable {
            addr,
            reason: e.to_string(),
        }),
        Err(_) => Err(ClientError::Unreachable {
            addr,
            reason: format!("no answer within {timeout:?}"),
        }),
    }
}

/// Cheap liveness check for recovery detection: connect, greeting, EHLO, QUIT. `Ok` means the host
/// answers SMTP with a 2xx greeting and EHLO/HELO.
pub async fn probe(addr: SocketAddr, config: &ClientConfig) -> Result<(), ClientError> {
    let tcp = connect(addr, config.connect_timeout).await?;
    let mut wire = io::Wire::new(tcp, config.command_timeout);
    hello::greeting(&mut wire).await?;
    hello::hello(&mut wire, &config.hostname).await?;
    let _ = wire.command("QUIT", "QUIT").await;
    Ok(())
}
