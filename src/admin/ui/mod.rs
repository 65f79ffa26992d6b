//! The web console (server-rendered HTML): dashboard, queue, message pages, postmaster mailbox, audit
//! log, login. Every page but the login needs a session; every POST carries the session's CSRF
//! token; every response carries a strict Content-Security-Policy; every displayed string from mail
//! goes through [`markup::esc`].

mod alerts;
mod audit;
mod backend;
mod dashboard;
mod format;
pub(crate) use format::timestamp;
mod login;
mod markup;
mod message;
mod nodes;
mod postmaster;
mod quarantine;
mod queue;
mod recipients;
mod redirect;
mod session;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::admin::AdminState;
use crate::admin::audit::CSRF_REFUSED;
use session::Sessions;

/// The policy on every console response: only our own scripts, styles and images; no framing.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// What the console's handlers reach: the admin layer plus the console's own sessions.
#[derive(Clone)]
pub struct UiState {
    pub admin: AdminState,
    sessions: Arc<Sessions>,
}

/// The console's routes, to be merged into the admin listener's router.
pub fn routes(state: AdminState) -> Router {
    let state = UiState {
        admin: state,
        sessions: Arc::new(Sessions::default()),
    };
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/", get(dashboard::show))
        .route("/ui/domains.json", get(dashboard::json))
        .route("/flush", post(dashboard::flush))
        .route("/queue", get(queue::list))
        .route("/queue/action", post(queue::action))
        .route("/queue/{id}", get(message::show))
        .route("/queue/{id}/eml", get(message::download))
        .route("/postmaster", get(postmaster::list))
        .route("/postmaster/{id}", get(postmaster::read))
        .route("/audit", get(audit::show))
        .route("/alerts", get(alerts::show))
        .route("/recipients", get(recipients::show))
        .route("/recipients/purge", post(recipients::purge))
        .route(
            "/static/app.css",
            get(|| asset(APP_CSS, "text/css; charset=utf-8")),
        )
        .route(
            "/static/dashboard.js",
            get(|| asset(DASHBOARD_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/static/queue.js",
            get(|| asset(QUEUE_JS, "text/javascript; charset=utf-8")),
        )
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

const APP_CSS: &str = include_str!("static/app.css");
const DASHBOARD_JS: &str = include_str!("static/dashboard.js");
const QUEUE_JS: &str = include_str!("static/queue.js");

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "max-age=300")],
        body,
    )
        .into_response()
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// An error page for a logged-in user (bad request, unknown id, refused action).
fn error_page(status: StatusCode, csrf: &str, text: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"error\">{}</p><p><a href=\"/queue\">Back to the queue</a></p>",
        markup::esc(status.canonical_reason().unwrap_or("Error")),
        markup::esc(text)
    );
    (
        status,
        Html(markup::page("Error", markup::Nav::None, csrf, &body, None)),
    )
        .into_response()
}

/// The answer to a POST whose CSRF token (or, for the login form, origin) is missing or wrong; the
/// refusal is audited (with the failures, apart from actions).
fn csrf_refused(state: &UiState, who: &str, ip: std::net::IpAddr, path: &str) -> Response {
    backend::record(&state.admin, who, ip, CSRF_REFUSED, path);
    (StatusCode::FORBIDDEN, Html(markup::bare_page("Refused", "<h1>Refused</h1><p>The form's security token is missing or stale. <a href=\"/\">Reload the console</a> and try again.</p>"))).into_response()
}
