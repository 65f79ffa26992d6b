//! SIGHUP: reload the TLS certificate and key without dropping a session. The handler is installed
//! even without TLS, so a stray SIGHUP never ends the server.

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

use super::server::shutdown_requested;
use super::tls::TlsReloader;

/// Reloads on every SIGHUP until shutdown; errors are logged and the current pair kept. The handler is
/// registered when this is called (inside the runtime), not when the future first runs, so a SIGHUP
/// right after start-up cannot end the process.
pub fn reload_on_sighup(
    tls: Option<TlsReloader>,
    shutdown: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static {
    let hangups = signal(SignalKind::hangup());
    async move {
        match hangups {
            Ok(hangups) => reload_loop(hangups, tls, shutdown).await,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP: TLS reload unavailable")
            }
        }
    }
}

async fn reload_loop(
    mut hangups: Signal,
    tls: Option<TlsReloader>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = shutdown_requested(&mut shutdown) => return,
            received = hangups.recv() => if received.is_none() { return },
        }
        match &tls {
            None => tracing::info!("SIGHUP: no TLS certificate configured, nothing to reload"),
            Some(reloader) => match reloader.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificate and key reloaded"),
                Err(error) => {
                    tracing::warn!(%error, "SIGHUP: TLS reload failed, keeping the current certificate")
                }
            },
        }
    }
}
