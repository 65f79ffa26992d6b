//! Console sessions: an in-memory store of random 32-byte ids with their CSRF token and expiry, the
//! cookie that carries the id, and the extractor that turns a request into a [`Session`] (or a
//! redirect to /login).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use super::UiState;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "backupmx_session";
/// How long a session lasts after login.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// At most this many live sessions; the oldest goes first beyond it.
const MAX_SESSIONS: usize = 256;

/// A logged-in administrator's session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    /// Must come back in the `csrf` field of every POST.
    pub csrf: String,
    pub expires: SystemTime,
}

/// Every live session, by id.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sessions {
    /// Opens a session at `now` (after a successful login).
    pub fn create(&self, now: SystemTime) -> Session {
        let session = Session {
            id: random_hex(),
            csrf: random_hex(),
            expires: now + SESSION_LIFETIME,
        };
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, s| s.expires > now);
        while live.len() >= MAX_SESSIONS {
            let oldest = live
                .values()
                .min_by_key(|s| s.expires)
                .map(|s| s.id.clone());
            match oldest {
                Some(id) => live.remove(&id),
                None => break,
            };
        }
        live.insert(session.id.clone(), session.clone());
        session
    }

    /// The live session `id`, if it exists and has not expired at `now`.
    pub fn get(&self, id: &str, now: SystemTime) -> Option<Session> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        match live.get(id) {
            Some(s) if s.expires > now => Some(s.clone()),
            Some(_) => {
                live.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, id: &str) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

/// The `Set-Cookie` value that installs `session` (Secure when the console is served over TLS).
pub fn set_cookie(session: &Session, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        session.id,
        SESSION_LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// The session id in a request's `Cookie` headers, if any.
pub fn cookie_value(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_string())
}

/// Compares two tokens in time independent of where they differ.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<UiState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &UiState,
    ) -> Result<Self, Self::Rejection> {
        let now = state.admin.queue.now();
        cookie_value(parts)
            .and_then(|id| state.sessions.get(&id, now))
            .ok_or_else(|| Redirect::to("/login").into_response())
    }
}

/// The client's address as the listener saw it (the admin server is started with connect info;
/// the unspecified address should it ever not be).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| {
                addr.ip()
            });
        Ok(ClientIp(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_can_be_removed() {
        let sessions = Sessions::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let s = sessions.create(t0);
        assert_eq!(s.id.len(), 64);
        assert_ne!(s.id, s.csrf);
        assert!(
            sessions
                .get(&s.id, t0 + Duration::from_secs(3600))
                .is_some()
        );
        assert!(sessions.get(&s.id, t0 + SESSION_LIFETIME).is_none());
        let s2 = sessions.create(t0);
        sessions.remove(&s2.id);
        assert!(sessions.get(&s2.id, t0).is_none());
        assert!(sessions.get("nonsense", t0).is_none());
    }

    #[test]
    fn the_store_is_bounded() {
        let sessions = Sessions::default();
        let t0 = SystemTime::UNIX_EPOCH;
        let first = sessions.create(t0);
        for i in 1..=MAX_SESSIONS as u64 {
            sessions.create(t0 + Duration::from_secs(i));
        }
        assert!(sessions.get(&first.id, t0).is_none());
        assert_eq!(sessions.live.lock().unwrap().len(), MAX_SESSIONS);
    }

    #[test]
    fn cookies_are_strict_and_http_only() {
        let s = Session {
            id: "abc".into(),
            csrf: "x".into(),
            expires: SystemTime::UNIX_EPOCH,
        };
        let plain = set_cookie(&s, false);
        assert!(plain.starts_with("backupmx_session=abc; Path=/; HttpOnly; SameSite=Strict"));
        assert!(!plain.contains("Secure"));
        assert!(set_cookie(&s, true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let request = axum::http::Request::builder()
            .header(COOKIE, "a=1; backupmx_session=deadbeef; b=2")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        assert_eq!(cookie_value(&parts).as_deref(), Some("deadbeef"));
    }

    #[test]
    fn token_comparison() {
        assert!(tokens_match("abcd", "abcd"));
        assert!(!tokens_match("abcd", "abce"));
        assert!(!tokens_match("abcd", "abc"));
        assert!(!tokens_match("abcd", ""));
    }
}
