//! The SMTP server: one accept loop per listener (plain, or implicit TLS), the global and per-client
//! connection limits (421 4.7.0 beyond them), and graceful shutdown (stop accepting, let open
//! transactions finish within a grace period, wait for every session, never cutting a commit between
//! fsync and reply).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::InboundContext;
use super::abuse::AbuseGuard;
use super::connection::{Connection, Timing};
use super::replies;
use super::session::{ClientInfo, Session, SessionSettings};
use crate::clock::SystemClock;
use crate::config::Config;

/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Time allowed to tell an over-limit client 421.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Tunables of [`serve_with_options`] that are not in the config file.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// After shutdown, how long sessions in a transaction may go on before they get 421 4.3.2.
    pub grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            grace: Duration::from_secs(10),
        }
    }
}

struct Shared {
    ctx: Arc<InboundContext>,
    /// The session settings built from the config in force, rebuilt when a reload replaced it.
    settings: std::sync::Mutex<(Arc<Config>, Arc<SessionSettings>)>,
    limit: Arc<Semaphore>,
    timing: Timing,
    abuse: Arc<AbuseGuard>,
}

/// Runs the SMTP server on `listeners` until `shutdown` becomes true, then drains the sessions and
/// returns. A dropped shutdown sender is not a shutdown request.
pub async fn serve(
    listeners: Vec<TcpListener>,
    ctx: Arc<InboundContext>,
    shutdown: watch::Receiver<bool>,
) {
    serve_with_options(listeners, ctx, shutdown, ServeOptions::default()).await;
}

/// A listening socket, and whether TLS starts with the first byte on it (port-465 style, RFC 8314).
pub struct Listener {
    pub socket: TcpListener,
    pub implicit_tls: bool,
}

/// [`serve_listeners`] on plain (STARTTLS) listeners.
pub async fn serve_with_options(
    listeners: Vec<TcpListener>,
    ctx: Arc<InboundContext>,
    shutdown: watch::Receiver<bool>,
    options: ServeOptions,
) {
    let listeners = listeners
        .into_iter()
        .map(|socket| Listener {
            socket,
            implicit_tls: false,
        })
        .collect();
    serve_listeners(listeners, ctx, shutdown, options).await;
}

/// Runs the SMTP server on plain and implicit-TLS listeners until `shutdown`, then drains the sessions.
pub async fn serve_listeners(
    listeners: Vec<Listener>,
    ctx: Arc<InboundContext>,
    shutdown: watch::Receiver<bool>,
    options: ServeOptions,
) {
    let config = ctx.config.get();
    let max_connections = config
        .smtp
        .max_connections
        .min(Semaphore::MAX_PERMITS)
        .min(u32::MAX as usize);
    let timing = Timing {
        command_timeout: config.smtp.command_timeout,
        grace: options.grace,
        greeting_delay: config.smtp.greeting_delay,
        data_timeout: config.smtp.data_timeout,
        session_timeout: config.smtp.session_timeout,
    };
    let shared = Arc::new(Shared {
        settings: std::sync::Mutex::new((
            Arc::clone(&config),
            Arc::new(SessionSettings::from_config(&config)),
        )),
        abuse: Arc::new(AbuseGuard::new(&config.limits, Arc::new(SystemClock))),
        ctx,
        limit: Arc::new(Semaphore::new(max_connections)),
        timing,
    });
    let mut accept_loops = JoinSet::new();
    for listener in listeners {
        if listener.implicit_tls && shared.ctx.tls.is_none() {
            // The config loader refuses this; never serve plaintext on a port meant for TLS.
            tracing::warn!("implicit-TLS listener without a certificate: not served");
            continue;
        }
        accept_loops.spawn(accept_loop(listener, Arc::clone(&shared), shutdown.clone()));
    }
    while accept_loops.join_next().await.is_some() {}
    drain_sessions(&shared, max_connections).await;
}

/// Waits until every session has released its permit. Sessions end by themselves within the grace period
/// plus one commit and one write timeout; the bound only guards against the unforeseen.
async fn drain_sessions(shared: &Shared, max_connections: usize) {
    let bound = shared.timing.grace + shared.timing.command_timeout * 2 + Duration::from_secs(5);
    let all_permits = shared.limit.acquire_many(max_connections as u32);
    if tokio::time::timeout(bound, all_permits).await.is_err() {
        tracing::warn!("SMTP sessions still running after the shutdown grace period");
    }
}

async fn accept_loop(listener: Listener, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            () = shutdown_requested(&mut shutdown) => return,
            accepted = listener.socket.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => start_session(
                &shared,
                stream,
                peer,
                shutdown.clone(),
                listener.implicit_tls,
            ),
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

fn start_session(
    shared: &Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
    implicit_tls: bool,
) {
    // Replies are small and already batched: do not let Nagle delay them.
    let _ = stream.set_nodelay(true);
    let Ok(permit) = Arc::clone(&shared.limit).try_acquire_owned() else {
        tracing::info!(%peer, "connection refused: too many connections");
        tokio::spawn(refuse(stream, replies::too_many_connections()));
        return;
    };
    let ip = peer.ip().to_canonical();
    // Logged and counted by the guard.
    let Ok(slot) = shared.abuse.admit(ip) else {
        tokio::spawn(refuse(stream, replies::client_connection_limit()));
        return;
    };
    metrics::counter!("backupmx_connections_total").increment(1);
    let (config, settings) = shared.current_settings();
    let client = ClientInfo {
        ip,
        etrn_allowed: config.smtp.etrn_allow.iter().any(|net| net.contains(&ip)),
        tls_available: shared.ctx.tls.is_some(),
        limits_exempt: shared.abuse.is_exempt(ip),
    };
    let session = Session::new(settings, client);
    let connection = Connection::new(
        Box::new(stream),
        peer,
        session,
        Arc::clone(&shared.ctx),
        shutdown,
        shared.timing,
        Arc::clone(&shared.abuse),
    )
    .with_implicit_tls(implicit_tls);
    metrics::gauge!("backupmx_connections_active").increment(1);
    tokio::spawn(async move {
        connection.run().await;
        metrics::gauge!("backupmx_connections_active").decrement(1);
        drop(slot);
        drop(permit);
    });
}

async fn refuse(mut stream: TcpStream, reply: backupmx_smtp::Reply) {
    let mut out = Vec::new();
    reply.write_to(&mut out);
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
        stream.write_all(&out).await?;
        stream.shutdown().await
    })
    .await;
}

/// Resolves once shutdown is requested; never if the sender is gone without asking.
pub(crate) async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

impl Shared {
    /// The config in force and the session settings built from it: rebuilt (and the per-client
    /// limits updated) on the first connection after a reload replaced the config.
    fn current_settings(&self) -> (Arc<Config>, Arc<SessionSettings>) {
        let config = self.ctx.config.get();
        let mut cached = self
            .settings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !Arc::ptr_eq(&cached.0, &config) {
            self.abuse.reconfigure(&config.limits);
            *cached = (
                Arc::clone(&config),
                Arc::new(SessionSettings::from_config(&config)),
            );
        }
        (Arc::clone(&cached.0), Arc::clone(&cached.1))
    }
}
