//! The console's view of the rest of the admin layer: password check against the stored argon2
//! hash, the audit log, and whether the listener speaks TLS. One place to adapt when those change.

use std::collections::VecDeque;
use std::sync::Mutex;

use argon2::{Argon2, PasswordVerifier};

use crate::admin::AdminState;
use crate::clock::to_unix_ms;

/// The only console user.
pub const ADMIN_USER: &str = "admin";

/// One audit-log line as the console shows it.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub at_ms: u64,
    pub who: String,
    pub from: String,
    pub action: String,
    pub detail: String,
}

/// True when `password` matches the argon2 PHC string `hash`. Slow on purpose (argon2).
pub fn password_matches(hash: &str, password: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// Checks a login attempt (user `admin` only).
pub fn verify_login(state: &AdminState, user: &str, password: &str) -> bool {
    let Some(hash) = password_hash(state) else {
        return false;
    };
    // Always run the hash so a wrong user name takes as long as a wrong password.
    let ok = password_matches(&hash, password);
    ok && user == ADMIN_USER
}

// Until the credentials land in AdminState the console has no password to check.
fn password_hash(_state: &AdminState) -> Option<String> {
    None
}

/// Interim audit store until the admin layer's audit log exists.
static AUDIT: Mutex<VecDeque<AuditRow>> = Mutex::new(VecDeque::new());

/// Records an administrator's action (or a login attempt).
pub fn record(state: &AdminState, who: &str, from: &str, action: &str, detail: &str) {
    let row = AuditRow {
        at_ms: to_unix_ms(state.queue.now()),
        who: who.into(),
        from: from.into(),
        action: action.into(),
        detail: detail.into(),
    };
    let mut log = AUDIT.lock().unwrap_or_else(|p| p.into_inner());
    log.push_back(row);
    if log.len() > 1000 {
        log.pop_front();
    }
}

/// The newest `n` audit lines, newest first.
pub fn recent(_state: &AdminState, n: usize) -> Vec<AuditRow> {
    let log = AUDIT.lock().unwrap_or_else(|p| p.into_inner());
    log.iter().rev().take(n).cloned().collect()
}

/// Whether the console is served over TLS (then the session cookie is `Secure`).
pub fn served_over_tls(_state: &AdminState) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordHasher;

    #[test]
    fn argon2_hashes_are_checked() {
        let hash = Argon2::default()
            .hash_password(b"s3cret")
            .unwrap()
            .to_string();
        assert!(password_matches(&hash, "s3cret"));
        assert!(!password_matches(&hash, "s3cret "));
        assert!(!password_matches("not a phc string", "s3cret"));
    }
}
