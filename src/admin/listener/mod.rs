//! The admin listener's accept loop (axum's `serve` has no timeouts or connection caps): a client
//! outside `[admin] allow` is closed at accept, before a byte is read; the others get a slot within
//! the connection caps (`slots.rs`) and are served by hyper's HTTP/1 connection with a header-read
//! timeout and a deadline on the request body (`deadline_body.rs`), while a watchdog closes the
//! connection once it has been idle for `[admin] idle_timeout` (`activity.rs`). With `[admin] tls_cert`
//! each connection first completes a TLS handshake, bounded by `[admin] header_read_timeout`.

mod activity;
mod deadline_body;
mod slots;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::access::is_allowed;
use crate::config::{AdminConfig, Config};
use crate::live::Live;
use activity::{Activity, Tracked};
use deadline_body::DeadlineBody;
pub use slots::{Slot, Slots};

/// Refusals are logged at most this often (with the count in between), so a flood cannot flood the log.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);
/// Pause after a failed accept (out of file descriptors, say) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// The watchdog looks at least this often.
const WATCH_MIN: Duration = Duration::from_millis(50);

/// Accepts until `shutdown` turns true, then lets open connections finish their current request.
pub async fn run(
    listener: TcpListener,
    app: Router,
    // `Some`: HTTPS; the acceptor's certificate is swapped by a reload.
    tls: Option<TlsAcceptor>,
    config: &AdminConfig,
    // `[admin] allow` is read from the config in force at each accept (a reload may change it).
    live: Live<Config>,
    shutdown: watch::Receiver<bool>,
) {
    let limits = &config.limits;
    let slots = Slots::new(limits.max_connections, limits.max_connections_per_client);
    let mut refusals = RefusalLog::default();
    let mut last_accept_error: Option<Instant> = None;
    let mut stop = shutdown.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, say: back off, and say so at most every 10 seconds.
                if last_accept_error.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_EVERY) {
                    tracing::warn!(error = %e, "admin listener: accept failed");
                    last_accept_error = Some(Instant::now());
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        if !is_allowed(&live.get().admin.allow, peer.ip()) {
            // Closed at once: no byte is read, no route or header is revealed.
            drop(stream);
            refusals.note(peer, "not_allowed");
            continue;
        }
        let slot = match slots.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(full) => {
                drop(stream);
                refusals.note(peer, full.name());
                continue;
            }
        };
        let timeouts = Timeouts {
            header_read: limits.header_read_timeout,
            body_read: limits.body_read_timeout,
            idle: limits.idle_timeout,
        };
        tokio::spawn(accept_connection(
            stream,
            peer,
            app.clone(),
            tls.clone(),
            timeouts,
            slot,
            shutdown.clone(),
        ));
    }
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    header_read: Duration,
    body_read: Duration,
    idle: Duration,
}

/// Completes the TLS handshake (HTTPS) within the header-read timeout, then serves the connection.
async fn accept_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    tls: Option<TlsAcceptor>,
    timeouts: Timeouts,
    slot: Slot,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else {
        return serve_connection(stream, peer, app, timeouts, slot, shutdown).await;
    };
    match tokio::time::timeout(timeouts.header_read, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => serve_connection(stream, peer, app, timeouts, slot, shutdown).await,
        Ok(Err(e)) => {
            tracing::debug!(client = %peer, error = %e, "admin TLS handshake failed")
        }
        Err(_) => tracing::debug!(client = %peer, "admin TLS handshake timed out"),
    }
}

/// Serves one connection until the client closes it, a timeout closes it, or shutdown.
async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    app: Router,
    timeouts: Timeouts,
    _slot: Slot,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let io = TokioIo::new(Tracked::new(stream, activity.clone()));
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(|body| DeadlineBody::new(body, timeouts.body_read));
        request.extensions_mut().insert(ConnectInfo(peer));
        let in_flight = requests.request();
        let mut app = app.clone();
        async move {
            let response = tower_service::Service::call(&mut app, request).await;
            drop(in_flight);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        let wait = timeouts
            .idle
            .saturating_sub(activity.idle_for())
            .max(WATCH_MIN);
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(client = %peer, error = %e, "admin connection ended");
                }
                return;
            }
            _ = tokio::time::sleep(wait) => {
                if activity.idle_for() >= timeouts.idle {
                    tracing::debug!(client = %peer, "admin connection idle: closed");
                    return;
                }
            }
            _ = shutdown.wait_for(|stop| *stop), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Logs refused connections without letting a flood of them flood the log.
#[derive(Default)]
struct RefusalLog {
    last: Option<Instant>,
    unlogged: u64,
}

impl RefusalLog {
    fn note(&mut self, peer: SocketAddr, reason: &'static str) {
        metrics::counter!("backupmx_admin_refused_total", "reason" => reason).increment(1);
        let due = self.last.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_EVERY);
        if !due {
            self.unlogged += 1;
            return;
        }
        let message = if reason == "not_allowed" {
            "admin access refused: not in [admin] allow; connection closed"
        } else {
            "admin access refused: too many connections; connection closed"
        };
        tracing::warn!(client = %peer.ip(), reason, not_logged_since_last = self.unlogged, "{message}");
        self.last = Some(Instant::now());
        self.unlogged = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_logged_at_most_every_ten_seconds() {
        let mut log = RefusalLog::default();
        let peer: SocketAddr = "10.0.0.1:1".parse().unwrap();
        log.note(peer, "not_allowed");
        let first = log.last;
        for _ in 0..100 {
            log.note(peer, "not_allowed");
        }
        assert_eq!(log.last, first);
        assert_eq!(log.unlogged, 100);
    }
}
