//! Login and logout: the login form, the password check (argon2, user `admin`), the session cookie.
//! Every attempt, good or bad, goes to the audit log.

use axum::Form;
use axum::extract::State;
use axum::http::header::{HOST, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::backend::{self, ADMIN_USER};
use super::markup::bare_page;
use super::session::{ClientIp, Session, clear_cookie, set_cookie, tokens_match};
use super::{UiState, csrf_refused};

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

/// The login page; `failed` adds the error line.
pub fn render(failed: bool) -> String {
    let error = if failed {
        "<p class=\"error\" id=\"login-error\">Wrong user name or password.</p>"
    } else {
        ""
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
    Html(render(false))
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
        return csrf_refused();
    }
    let admin = state.admin.clone();
    let (user, password) = (login.user.clone(), login.password);
    // argon2 takes a while: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || backend::verify_login(&admin, &user, &password))
        .await
        .unwrap_or(false);
    if !ok {
        let detail = format!("user {:?}", login.user.chars().take(64).collect::<String>());
        backend::record(&state.admin, "login-failed", ip, "login", &detail);
        return (StatusCode::UNAUTHORIZED, Html(render(true))).into_response();
    }
    backend::record(&state.admin, ADMIN_USER, ip, "login", "");
    let session = state.sessions.create(state.admin.queue.now());
    let cookie = set_cookie(&session, backend::served_over_tls(&state.admin));
    ([(SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

pub async fn logout(
    State(state): State<UiState>,
    session: Session,
    ClientIp(ip): ClientIp,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !tokens_match(&session.csrf, &form.csrf) {
        return csrf_refused();
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
        assert!(!render(false).contains("login-error"));
        assert!(render(true).contains("Wrong user name or password"));
    }
}
