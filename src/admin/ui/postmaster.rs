//! The local postmaster mailbox (mail to `postmaster`, double bounces): the list and each message as
//! headers plus a text preview.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::backend::queue_id;
use super::format::bytes;
use super::markup::{Nav, esc, page};
use super::message::{Preview, preview, subject_and_note};
use super::session::Session;
use super::{UiState, error_page};
use crate::envelope::QueueId;

/// One line of the mailbox list: id, size, and the Subject/From when the message parses.
#[derive(Debug, Clone)]
pub struct MailboxEntry {
    pub id: String,
    pub size: u64,
    pub from: String,
    pub subject: String,
}

/// The mailbox list page.
pub fn render_list(entries: &[MailboxEntry], csrf: &str) -> String {
    let rows: String = entries
        .iter()
        .map(|e| {
            format!(
                "<tr><td><a class=\"mono\" href=\"/postmaster/{id}\">{id}</a></td><td>{from}</td><td>{subject}</td><td class=\"num\">{size}</td></tr>",
                id = esc(&e.id),
                from = esc(&e.from),
                subject = esc(&e.subject),
                size = esc(&bytes(e.size)),
            )
        })
        .collect();
    let rows = if rows.is_empty() {
        "<tr><td colspan=\"4\" class=\"empty\">The mailbox is empty.</td></tr>".to_string()
    } else {
        rows
    };
    let body = format!(
        "<h1>Postmaster mailbox</h1><p class=\"hint\">Mail to postmaster and double bounces, oldest first.</p>\
         <table><thead><tr><th>Id</th><th>From</th><th>Subject</th><th class=\"num\">Size</th></tr></thead><tbody>{rows}</tbody></table>"
    );
    page("Postmaster", Nav::Postmaster, csrf, &body, None)
}

/// One mailbox message.
pub fn render_message(id: &str, p: &Preview, csrf: &str) -> String {
    let (subject, why) = subject_and_note(p);
    let body = format!(
        "<h1>Postmaster message <span class=\"mono\">{id}</span></h1><p><a href=\"/postmaster\">← mailbox</a></p>\
         <h2>Headers</h2>{subject}<pre class=\"headers\">{headers}</pre><h2>Body preview</h2>{why}<pre class=\"body\">{text}</pre>",
        id = esc(id),
        headers = esc(&p.headers),
        text = esc(&p.text),
    );
    page("Postmaster", Nav::Postmaster, csrf, &body, None)
}

fn summarise(id: QueueId, size: u64, raw: &[u8]) -> MailboxEntry {
    let parsed = mail_parser::MessageParser::default().parse_headers(raw);
    let from = parsed
        .as_ref()
        .and_then(|m| m.from())
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or("")
        .to_string();
    let subject = parsed
        .as_ref()
        .and_then(|m| m.subject())
        .unwrap_or("(no subject)")
        .to_string();
    MailboxEntry {
        id: id.to_string(),
        size,
        from,
        subject,
    }
}

pub async fn list(State(state): State<UiState>, session: Session) -> Response {
    let ids = match state.admin.queue.postmaster_list().await {
        Ok(ids) => ids,
        Err(e) => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &session.csrf,
                &e.to_string(),
            );
        }
    };
    let mut entries = Vec::with_capacity(ids.len());
    for (id, size) in ids {
        let raw = state
            .admin
            .queue
            .postmaster_read(id)
            .await
            .unwrap_or_default();
        entries.push(summarise(id, size, &raw));
    }
    Html(render_list(&entries, &session.csrf)).into_response()
}

pub async fn read(
    State(state): State<UiState>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let Some(qid) = queue_id(&id) else {
        return error_page(StatusCode::NOT_FOUND, &session.csrf, "No such message.");
    };
    match state.admin.queue.postmaster_read(qid).await {
        Ok(raw) => Html(render_message(
            &qid.to_string(),
            &preview(&raw, false),
            &session.csrf,
        ))
        .into_response(),
        Err(_) => error_page(
            StatusCode::NOT_FOUND,
            &session.csrf,
            "No such message in the postmaster mailbox.",
        ),
    }
}
