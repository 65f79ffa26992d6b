//! One message: envelope, per-recipient status, attempt history, headers, a plain-text preview of
//! the body (never rendered as HTML), the actions, and the download as .eml.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};
use tokio::io::AsyncReadExt;

use super::backend::{self, ADMIN_USER, queue_id};
use super::format::{age_at, bytes, due_in, timestamp};
use super::markup::{Nav, csrf_field, esc, page};
use super::session::{ClientIp, Session};
use super::{UiState, error_page};
use crate::clock::to_unix_ms;
use crate::envelope::QueueId;
use crate::queue::api::MessageDetail;

/// How much of the stored message the page reads for headers and preview.
const READ_FOR_PREVIEW: u64 = 256 * 1024;
/// How much text the preview shows.
pub const PREVIEW_CHARS: usize = 64 * 1024;

/// The header block and a text preview of a raw message (or of its first bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub headers: String,
    /// The Subject, RFC 2047 words decoded (shown as text, escaped like everything else).
    pub subject: Option<String>,
    pub text: String,
    pub truncated: bool,
    /// Why the preview is not the message's plain text, when it is not.
    pub note: Option<&'static str>,
}

/// The preview's note for a message whose first text part is HTML.
pub const HTML_ONLY_NOTE: &str = "This message has no plain-text part: shown is the text of its HTML \
    part with every tag removed (never rendered). Download the .eml to see the original.";
/// The note when that HTML part holds no text at all.
pub const HTML_EMPTY_NOTE: &str = "This message has only an HTML part, and it holds no text to show \
    (images or markup only; never rendered). Download the .eml to see the original.";

fn header_end(raw: &[u8]) -> Option<(usize, usize)> {
    let crlf = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, p + 4));
    let lf = raw
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|p| (p, p + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn cut(text: &str, max_chars: usize) -> (String, bool) {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => (text[..at].to_string(), true),
        None => (text.to_string(), false),
    }
}

/// Splits `raw` into its headers and a text preview: the first text part decoded when the MIME
/// structure allows, else the raw body; at most [`PREVIEW_CHARS`] characters.
pub fn preview(raw: &[u8], more_follows: bool) -> Preview {
    let (headers, body) = match header_end(raw) {
        Some((end, start)) => (&raw[..end], &raw[start..]),
        None => (raw, &raw[raw.len()..]),
    };
    let parsed = mail_parser::MessageParser::default().parse(raw);
    let decoded = parsed
        .as_ref()
        .and_then(|m| m.body_text(0))
        .map(|t| t.into_owned());
    let from_html = parsed
        .as_ref()
        .and_then(|m| m.text_part(0))
        .is_some_and(|part| matches!(part.body, mail_parser::PartType::Html(_)));
    let text = decoded.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let note = match (from_html, text.trim().is_empty()) {
        (false, _) => None,
        (true, false) => Some(HTML_ONLY_NOTE),
        (true, true) => Some(HTML_EMPTY_NOTE),
    };
    let (text, cut_short) = cut(&text, PREVIEW_CHARS);
    Preview {
        headers: String::from_utf8_lossy(headers).into_owned(),
        subject: parsed.as_ref().and_then(|m| m.subject()).map(String::from),
        text,
        truncated: cut_short || more_follows,
        note,
    }
}

/// The decoded subject line and the preview's note, as page fragments.
pub fn subject_and_note(preview: &Preview) -> (String, String) {
    let subject = preview
        .subject
        .as_deref()
        .map(|s| {
            format!(
                "<p class=\"subject\" id=\"subject\"><strong>Subject:</strong> {}</p>",
                esc(s)
            )
        })
        .unwrap_or_default();
    let note = preview
        .note
        .map(|n| format!("<p class=\"hint\" id=\"preview-note\">{}</p>", esc(n)))
        .unwrap_or_default();
    (subject, note)
}

fn envelope_table(m: &MessageDetail, now_ms: u64) -> String {
    let s = &m.summary;
    let rows = [
        (
            "Sender",
            if s.sender.is_empty() {
                "<>".to_string()
            } else {
                s.sender.clone()
            },
        ),
        (
            "Received",
            format!(
                "{} ({} ago)",
                timestamp(s.received_at_ms),
                age_at(now_ms, s.received_at_ms)
            ),
        ),
        ("From client", format!("{} (HELO {})", m.client_ip, m.helo)),
        ("Size", bytes(s.size)),
        (
            "Body",
            format!(
                "{}{}",
                m.body_type,
                if m.smtputf8 { ", SMTPUTF8" } else { "" }
            ),
        ),
        ("Envelope id", m.envid.clone().unwrap_or_else(|| "–".into())),
        ("Sender checks", sender_checks(m)),
        ("Attempts", s.attempts.to_string()),
        (
            "Next attempt",
            s.next_attempt_at_ms
                .map(|t| format!("{} ({})", timestamp(t), due_in(now_ms, t)))
                .unwrap_or_else(|| "–".into()),
        ),
    ];
    let rows: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th scope=\"row\">{k}</th><td>{}</td></tr>", esc(v)))
        .collect();
    format!("<table class=\"kv\">{rows}</table>")
}

fn recipients_table(m: &MessageDetail) -> String {
    let rows: String = m
        .summary
        .recipients
        .iter()
        .map(|r| {
            format!(
                "<tr><td>{}</td><td>{}</td><td><span class=\"badge rcpt-{}\">{}</span></td><td class=\"detail\">{}</td></tr>",
                esc(&r.address),
                esc(&r.destination),
                esc(r.status),
                esc(r.status),
                esc(r.reply.as_deref().unwrap_or(""))
            )
        })
        .collect();
    format!(
        "<table><thead><tr><th>Recipient</th><th>Destination</th><th>Status</th><th>Last reply</th></tr></thead><tbody>{rows}</tbody></table>"
    )
}

fn history_table(m: &MessageDetail) -> String {
    if m.history.is_empty() {
        return "<p class=\"hint\">Not tried yet.</p>".into();
    }
    let rows: String = m
        .history
        .iter()
        .map(|a| {
            format!(
                "<tr><td class=\"nowrap\">{}</td><td>{}</td><td class=\"detail\">{}</td></tr>",
                esc(&timestamp(a.at_ms)),
                esc(&a.host),
                esc(&a.result)
            )
        })
        .collect();
    format!(
        "<table><thead><tr><th>Time</th><th>Host</th><th>Reply</th></tr></thead><tbody>{rows}</tbody></table>"
    )
}

fn actions(id: &str, csrf: &str) -> String {
    let buttons: String = ["flush", "hold", "release", "bounce", "delete"]
        .iter()
        .map(|a| {
            format!(
                "<button type=\"submit\" name=\"action\" value=\"{a}\" class=\"{a}\">{a}</button>"
            )
        })
        .collect();
    format!(
        "<form method=\"post\" action=\"/queue/action\" class=\"actions\">{}\
         <input type=\"hidden\" name=\"id\" value=\"{id}\"><input type=\"hidden\" name=\"back\" value=\"/queue/{id}\">\
         {buttons} <a class=\"button\" href=\"/queue/{id}/eml\" download>download .eml</a></form>",
        csrf_field(csrf),
        id = esc(id),
    )
}

/// The message page.
pub fn render(m: &MessageDetail, preview: &Preview, now_ms: u64, csrf: &str) -> String {
    let id = &m.summary.id;
    let note = if preview.truncated {
        "<p class=\"hint\">Preview truncated; download the .eml for the whole message.</p>"
    } else {
        ""
    };
    let (subject, why) = subject_and_note(preview);
    let body = format!(
        "<h1>Message <span class=\"mono\">{id}</span> <span class=\"badge status-{status}\">{status}</span></h1>{actions}\
         <div class=\"columns\"><section><h2>Envelope</h2>{envelope}</section>\
         <section><h2>Recipients</h2>{recipients}</section></div>\
         <h2>Attempts</h2>{history}<h2>Headers</h2>{subject}<pre class=\"headers\">{headers}</pre>\
         <h2>Body preview <span class=\"hint\">plain text, read-only</span></h2>{why}<pre class=\"body\" id=\"body-preview\">{text}</pre>{note}",
        id = esc(id),
        status = esc(m.summary.status),
        actions = actions(id, csrf),
        envelope = envelope_table(m, now_ms),
        recipients = recipients_table(m),
        history = history_table(m),
        headers = esc(&preview.headers),
        text = esc(&preview.text),
    );
    page(&format!("Message {id}"), Nav::Queue, csrf, &body, None)
}

async fn read_prefix(state: &UiState, id: QueueId, limit: u64) -> Option<(Vec<u8>, bool)> {
    let reader = state.admin.queue.body(id).await.ok()?;
    let mut raw = Vec::new();
    reader.take(limit + 1).read_to_end(&mut raw).await.ok()?;
    let more = raw.len() as u64 > limit;
    raw.truncate(limit as usize);
    Some((raw, more))
}

pub async fn show(
    State(state): State<UiState>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let detail = match queue_id(&id) {
        Some(id) => state
            .admin
            .queue
            .get(id)
            .await
            .ok()
            .flatten()
            .map(|d| (id, d)),
        None => None,
    };
    let Some((id, detail)) = detail else {
        return error_page(
            StatusCode::NOT_FOUND,
            &session.csrf,
            "No such message in the queue (delivered, deleted or never there).",
        );
    };
    let preview = match read_prefix(&state, id, READ_FOR_PREVIEW).await {
        Some((raw, more)) => preview(&raw, more),
        None => Preview {
            headers: String::new(),
            subject: None,
            text: "(the message body could not be read)".into(),
            truncated: false,
            note: None,
        },
    };
    let now_ms = to_unix_ms(state.admin.queue.now());
    Html(render(&detail, &preview, now_ms, &session.csrf)).into_response()
}

pub async fn download(
    State(state): State<UiState>,
    session: Session,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Response {
    let Some(id) = queue_id(&id) else {
        return error_page(StatusCode::NOT_FOUND, &session.csrf, "No such message.");
    };
    // A stored message is never larger than the SMTP limit plus our Received header.
    let limit = state.admin.config.smtp.max_message_size + 64 * 1024;
    let Some((raw, _)) = read_prefix(&state, id, limit).await else {
        return error_page(
            StatusCode::NOT_FOUND,
            &session.csrf,
            "No such message in the queue.",
        );
    };
    backend::record(&state.admin, ADMIN_USER, ip, "download", &id.to_string());
    let disposition = format!("attachment; filename=\"{id}.eml\"");
    (
        [
            (CONTENT_TYPE, "message/rfc822".to_string()),
            (CONTENT_DISPOSITION, disposition),
        ],
        raw,
    )
        .into_response()
}

/// The sender checks' results as `spf=pass dkim=none ...`, or a dash for an unchecked message.
fn sender_checks(m: &MessageDetail) -> String {
    if m.checks.is_empty() {
        return "–".into();
    }
    let order = ["dnsbl", "spf", "dkim", "dmarc", "iprev"];
    let mut shown: Vec<String> = order
        .iter()
        .filter_map(|check| m.checks.get(*check).map(|r| format!("{check}={r}")))
        .collect();
    shown.extend(
        m.checks
            .iter()
            .filter(|(check, _)| !order.contains(&check.as_str()))
            .map(|(check, r)| format!("{check}={r}")),
    );
    shown.join(" ")
}
