//! systemd service notifications (`Type=notify`, sd_notify(3)): READY=1 once the spool is recovered and
//! every listener accepts, STOPPING=1 when a shutdown starts, RELOADING=1/READY=1 around a config
//! reload, and WATCHDOG=1 at half the unit's `WatchdogSec=`. Outside systemd (`NOTIFY_SOCKET` unset)
//! every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::watch;

/// The server is up: spool recovered, listeners open. `status` shows in `systemctl status`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A shutdown has started (systemd then waits `TimeoutStopSec=` for the exit).
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// A reload has started; [`reloaded`] ends it.
pub fn reloading() {
    send(&[NotifyState::Reloading]);
}

/// A reload has ended (applied or refused: the server runs either way).
pub fn reloaded(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Pings the watchdog at half its interval until shutdown, when the unit asks for one. The pings come
/// from the runtime the server runs on, so a wedged runtime stops them and systemd restarts us.
pub fn spawn_watchdog(mut shutdown: watch::Receiver<bool>) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let period = (interval / 2).max(Duration::from_millis(100));
    tracing::info!(
        interval_ms = interval.as_millis() as u64,
        "systemd watchdog enabled"
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = tick.tick() => send(&[NotifyState::Watchdog]),
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    });
}

fn send(states: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "cannot notify systemd");
    }
}
