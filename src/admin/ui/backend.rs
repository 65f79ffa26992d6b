//! The console's view of the rest of the admin layer: the password check (the credentials' argon2
//! hash), the audit log, and whether the listener speaks TLS. One place to adapt when those change.

use std::net::IpAddr;

use crate::admin::AdminState;
pub use crate::admin::audit::AuditEntry;
pub use crate::admin::credentials::ADMIN_USER;

/// Checks a login attempt (user `admin` only). Slow on purpose (argon2): call off the async workers.
pub fn verify_login(state: &AdminState, user: &str, password: &str) -> bool {
    // Always run the hash, so a wrong user name takes as long as a wrong password.
    let ok = state.credentials.password_matches(password);
    ok && user == ADMIN_USER
}

/// Records an administrator's action (or a login attempt).
pub fn record(state: &AdminState, who: &str, from: IpAddr, action: &str, detail: &str) {
    state.audit.record(who, from, action, detail);
}

/// The newest `n` audit entries, newest first.
pub fn recent(state: &AdminState, n: usize) -> Vec<AuditEntry> {
    state.audit.recent(n)
}

/// Whether the console is served over TLS (then the session cookie is `Secure`). The admin listener
/// serves plain HTTP today (`admin::serve` warns when `tls_cert` is set); this must follow it the
/// day it terminates TLS, or browsers would drop a Secure cookie sent over HTTP and vice versa.
pub fn served_over_tls(_state: &AdminState) -> bool {
    false
}
