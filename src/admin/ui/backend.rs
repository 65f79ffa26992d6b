//! The console's view of the rest of the admin layer: the password check (the credentials' argon2
//! hash, bounded), login throttling, the audit log, and whether the listener speaks TLS. One place to
//! adapt when those change.

use std::net::IpAddr;
use std::sync::PoisonError;
use std::time::{Duration, SystemTime};

use crate::admin::AdminState;
pub use crate::admin::actions::MAX_BULK_IDS;
pub use crate::admin::api::queue_id;
pub use crate::admin::audit::{AuditEntry, Kind};
pub use crate::admin::credentials::ADMIN_USER;
pub use crate::admin::password_check::Busy;
use crate::admin::throttle::{self, NewLock, Verdict};

/// Checks a login attempt (user `admin` only); [`Busy`] when too many checks are under way.
pub async fn verify_login(state: &AdminState, user: &str, password: &str) -> Result<bool, Busy> {
    // Always run the hash, so a wrong user name takes as long as a wrong password.
    let ok = state.password.check(password).await?;
    Ok(ok && user == ADMIN_USER)
}

/// The throttle's keys of an attempt: its client address and the user name tried.
pub fn login_keys(ip: IpAddr, user: &str) -> [String; 2] {
    throttle::keys(ip, user)
}

/// How long an attempt with `keys` must wait, if it is locked at `now`.
pub fn login_locked(state: &AdminState, keys: &[String], now: SystemTime) -> Option<Duration> {
    let logins = state.logins.lock().unwrap_or_else(PoisonError::into_inner);
    match logins.check(keys, now) {
        Verdict::Allowed => None,
        Verdict::Locked { retry_after } => Some(retry_after),
    }
}

/// Counts a failed login; returns the locks it caused.
pub fn login_failed(state: &AdminState, keys: &[String], now: SystemTime) -> Vec<NewLock> {
    let mut logins = state.logins.lock().unwrap_or_else(PoisonError::into_inner);
    logins.failure(keys, now)
}

/// Clears the history of a successful login's keys.
pub fn login_succeeded(state: &AdminState, keys: &[String]) {
    let mut logins = state.logins.lock().unwrap_or_else(PoisonError::into_inner);
    logins.success(keys);
}

/// Records an administrator's action (or a login attempt).
pub fn record(state: &AdminState, who: &str, from: IpAddr, action: &str, detail: &str) {
    state.audit.record(who, from, action, detail);
}

/// The newest `n` audit entries of `kind`, newest first.
pub async fn recent(state: &AdminState, kind: Kind, n: usize) -> Vec<AuditEntry> {
    state.audit.recent_everywhere(kind, n).await
}

/// Whether the console is served over TLS (then the session cookie is `Secure`): the listener does
/// TLS exactly when `[admin] tls_cert` is set (a TLS proxy in front with `allow_plaintext` is plain
/// HTTP to us, and a Secure cookie would still reach the browser through the proxy's HTTPS).
pub fn served_over_tls(state: &AdminState) -> bool {
    crate::admin::https(&state.config)
}
