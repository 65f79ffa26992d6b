//! The audit log page: who did what, from where, when (newest first).

use axum::extract::State;
use axum::response::Html;

use super::UiState;
use super::backend::{self, AuditEntry};
use super::format::timestamp;
use super::markup::{Nav, esc, page};
use super::session::Session;

/// How many lines the page shows.
const SHOWN: usize = 500;

pub fn render(rows: &[AuditEntry], csrf: &str) -> String {
    let lines: String = rows
        .iter()
        .map(|r| {
            let class = if r.who == "login-failed" { " class=\"warn\"" } else { "" };
            format!(
                "<tr{class}><td class=\"nowrap\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"detail\">{}</td></tr>",
                esc(&timestamp(r.at_ms)),
                esc(&r.who),
                esc(&r.from_ip),
                esc(&r.action),
                esc(&r.detail)
            )
        })
        .collect();
    let lines = if lines.is_empty() {
        "<tr><td colspan=\"5\" class=\"empty\">Nothing yet.</td></tr>".to_string()
    } else {
        lines
    };
    let body = format!(
        "<h1>Audit log</h1><p class=\"hint\">Logins and administrator actions, newest first.</p>\
         <table id=\"audit\"><thead><tr><th>When</th><th>Who</th><th>From</th><th>Action</th><th>Detail</th></tr></thead><tbody>{lines}</tbody></table>"
    );
    page("Audit log", Nav::Audit, csrf, &body, None)
}

pub async fn show(State(state): State<UiState>, session: Session) -> Html<String> {
    Html(render(&backend::recent(&state.admin, SHOWN), &session.csrf))
}
