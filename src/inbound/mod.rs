//! Inbound SMTP: listeners, TLS, connection limits, and the session that turns a client's commands into
//! spool commits. Never opens message files itself.
//!
//! - `session/`: the sans-I/O state machine (every reply is decided there; unit-tested by dialogue).
//! - `connection/`: the driver of one connection (reads, pipelined writes, timeouts, DATA streaming,
//!   BDAT chunks, STARTTLS, shutdown grace, per-connection guards); `chunk.rs`: the pure BDAT
//!   content check.
//! - `server.rs`: accept loops, the global connection limit, graceful shutdown.
//! - `tls.rs`: the rustls acceptor from PEM files, reloadable; `reload.rs`: SIGHUP reloads it.
//! - `limiter.rs` (pure) and `abuse.rs` (its shared shell): per-client limits, the log line and metric of
//!   every limit hit.
//! - `received.rs`, `replies.rs`: the Received header and the fixed replies (also the one for a spool
//!   that cannot take the message: the spool knows nothing of SMTP).

mod abuse;
mod chunk;
mod connection;
pub mod limiter;
pub mod received;
pub mod replies;
mod server;
pub mod session;
mod tls;

use std::sync::Arc;

use crate::config::Config;
use crate::live::Live;
use crate::queue::QueueHandle;
use crate::spool::Spool;

pub use server::{Listener, ServeOptions, serve, serve_listeners, serve_with_options};
pub use session::{Action, ClientInfo, Session, SessionSettings, Step, TlsInfo};
pub use tls::{TLS_VERSIONS, TlsError, TlsReloader, load_reloadable_tls, load_tls};

/// Everything the SMTP server needs, shared by all connections.
pub struct InboundContext {
    /// The config in force: each new connection takes the one current when it is accepted (a config
    /// reload replaces it; open sessions keep theirs).
    pub config: Live<Config>,
    pub spool: Spool,
    pub queue: QueueHandle,
    /// STARTTLS is offered when set (see [`load_tls`]).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Recipient validation: list look-ups, the verify cache and callouts (issue 7).
    pub recipients: Arc<crate::recipients::RecipientService>,
    /// Sender checks (issue 15): the DNSBL screen at connect, SPF/DKIM/DMARC/ARC at the end of data.
    pub checks: Arc<crate::checks::SenderChecker>,
}
