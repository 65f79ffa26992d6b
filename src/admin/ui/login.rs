//! Login and logout: the login form, the password check (argon2, user `admin`), the session cookie.
//! Every checked attempt, good or bad, goes to the audit log. Repeated failures lock the client's
//! address and the user name for a while (`admin::throttle`; 429 with `Retry-After`, audited once per
//! lock); so do too many checks at once (`admin::password_check`).

use std::time::Duration;

use axum::Form;
use axum::extract::State;
use axum::http::header::{HOST, ORIGIN, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::backend::{self, ADMIN_USER, Busy};
use super::markup::bare_page;
use super::session::{ClientIp, Session, clear_cookie, set_cookie, tokens_match};
use super::{UiState, csrf_refused};
use crate::admin::audit::{LOGIN_FAILED, LOGIN_LOCKED};
use crate::config::format_duration;

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Why the login page is shown again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    None,
    Wrong,
    /// Too many attempts: try again in this many seconds.
    Locked(u64),
}

/// The login page, with the error line of `failure`.
pub fn render(failure: Failure) -> String {
    let error = match failure {
        Failure::None => String::new(),
        Failure::Wrong => {
            "<p class=\"error\" id=\"login-error\">Wrong user name or password.</p>".to_string()
        }
        Failure::Locked(seconds) => format!(
            "<p class=\"error\" id=\"login-error\">Too many attempts. Try again in {seconds} s.</p>"
        ),
    };
    let body = format!(
        "<form method=\"post\" action=\"/login\" class=\"login card\">\
         <h1>backupmx console</h1>{error}\
         <label>User <input name=\"user\" id=\"user\" value=\"{ADMIN_USER}\" autocomplete=\"username\" required></label>\
         <label>Password <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" autofocus required></label>\
         <button type=\"submit\" id=\"login\" class=\"primary\">Log in</button></form>"
    );
    bare_page("Log in", &body)
}

pub async fn form() -> Html<String> {
    Html(render(Failure::None))
}

/// A cross-site login form must not log the browser in. Browsers say where a POST comes from in
/// `Sec-Fetch-Site`; older ones only in `Origin`, which our no-referrer policy turns into `null`.
fn same_origin(headers: &HeaderMap) -> bool {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = header(SEC_FETCH_SITE) {
        return site == "same-origin" || site == "none";
    }
    match header(ORIGIN.as_str()) {
        None | Some("null") => true,
        Some(origin) => {
            let host = header(HOST.as_str()).unwrap_or("");
            let origin_host = origin
                .split_once("://")
                .map(|(_, rest)| rest)
                .unwrap_or(origin);
            !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
        }
    }
}

const SEC_FETCH_SITE: &str = "sec-fetch-site";

pub async fn submit(
    State(state): State<UiState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(login): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return csrf_refused(&state, "-", ip, "/login");
    }
    let admin = &state.admin;
    let keys = backend::login_keys(ip, &login.user);
    if let Some(retry_after) = backend::login_locked(admin, &keys, admin.queue.now()) {
        // Not audited: the lock itself was, once.
        return too_many(retry_after);
    }
    let ok = match backend::verify_login(admin, &login.user, &login.password).await {
        Ok(ok) => ok,
        Err(Busy) => return too_many(BUSY_RETRY),
    };
    if !ok {
        let detail = format!("user {:?}", login.user.chars().take(64).collect::<String>());
        backend::record(admin, LOGIN_FAILED, ip, "login", &detail);
        for lock in backend::login_failed(admin, &keys, admin.queue.now()) {
            let detail = format!(
                "{} locked for {} after repeated failures",
                lock.key,
                format_duration(lock.length)
            );
            backend::record(admin, LOGIN_LOCKED, ip, "login", &detail);
        }
        return (StatusCode::UNAUTHORIZED, Html(render(Failure::Wrong))).into_response();
    }
    backend::login_succeeded(admin, &keys);
    backend::record(admin, ADMIN_USER, ip, "login", "");
    // Other sessions stay valid (documented in docs/api.md): an administrator may use two browsers.
    let session = state.sessions.create(admin.queue.now());
    let cookie = set_cookie(&session, backend::served_over_tls(admin));
    ([(SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// When the password checks are all taken, a client is asked to come back after this long.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// 429 with `Retry-After` (whole seconds, at least one) and the login form saying why.
fn too_many(retry_after: Duration) -> Response {
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(RETRY_AFTER, seconds.to_string())],
        Html(render(Failure::Locked(seconds))),
    )
        .into_response()
}

pub async fn logout(
    State(state): State<UiState>,
    session: Session,
    ClientIp(ip): ClientIp,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !tokens_match(&session.csrf, &form.csrf) {
        return csrf_refused(&state, ADMIN_USER, ip, "/logout");
    }
    state.sessions.remove(&session.id);
    backend::record(&state.admin, ADMIN_USER, ip, "logout", "");
    let cookie = clear_cookie(backend::served_over_tls(&state.admin));
    ([(SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn foreign_origins_are_refused() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8025")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8025"),
            ("origin", "http://127.0.0.1:8025")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8025"),
            ("origin", "https://evil.test")
        ])));
        assert!(!same_origin(&headers(&[(
            "origin",
            "http://127.0.0.1:8025"
        )])));
    }

    #[test]
    fn the_login_page_shows_an_error_only_after_a_failure() {
        assert!(!render(Failure::None).contains("login-error"));
        assert!(render(Failure::Wrong).contains("Wrong user name or password"));
        assert!(render(Failure::Locked(7)).contains("Try again in 7 s"));
    }
}
