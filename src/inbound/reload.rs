//! SIGHUP: reload the TLS certificate and key without dropping a session. The handler is installed
//! even without TLS, so a stray SIGHUP never ends the server.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use super::server::shutdown_requested;
use super::tls::TlsReloader;

/// Reloads on every SIGHUP until shutdown. Errors are logged and the current pair kept.
pub async fn reload_on_sighup(tls: Option<TlsReloader>, mut shutdown: watch::Receiver<bool>) {
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP: TLS reload unavailable");
            return;
        }
    };
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
