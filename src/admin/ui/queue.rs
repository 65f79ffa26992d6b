//! The queue list (paged, filtered, sortable by age) and the actions on messages (flush, hold,
//! release, delete and bounce, per row or in bulk; delete and bounce ask for confirmation first).

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::backend::{self, ADMIN_USER, MAX_BULK_IDS, queue_id};
use super::format::{age_at, bytes, due_in};
use super::markup::{Nav, csrf_field, esc, page, url_component};
use super::session::{ClientIp, Session, tokens_match};
use super::{UiState, csrf_refused, error_page, redirect};
use crate::admin::audit::summarize_ids;
use crate::clock::to_unix_ms;
use crate::envelope::QueueId;
use crate::queue::api::{FlushScope, ListFilter, MessageSummary};

/// Messages per page.
pub const PAGE_SIZE: usize = 50;
/// Highest page number asked for that is taken as is; a larger (or unreadable) one is this.
pub const MAX_PAGE: usize = 1_000_000;
/// Failures listed on the error page after a bulk action (the rest are counted).
const SHOWN_FAILURES: usize = 50;
/// The statuses the filter offers.
const STATUSES: [&str; 5] = ["deferred", "held", "misconfigured", "queued", "sending"];

/// The list's query string.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    pub domain: Option<String>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub status: Option<String>,
    /// `newest` for newest first; oldest first otherwise.
    pub sort: Option<String>,
    /// Read as text so that a bad or huge number is bounded, not an error or a wrap.
    pub page: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl ListQuery {
    pub fn filter(&self) -> ListFilter {
        ListFilter {
            domain: nonempty(&self.domain).map(|d| d.to_lowercase()),
            sender: nonempty(&self.sender),
            recipient: nonempty(&self.recipient),
            status: nonempty(&self.status),
            newest_first: self.newest_first(),
            offset: (self.page() - 1).saturating_mul(PAGE_SIZE),
            limit: PAGE_SIZE,
        }
    }

    fn newest_first(&self) -> bool {
        self.sort.as_deref() == Some("newest")
    }

    /// The page asked for, within 1 to [`MAX_PAGE`] (beyond the last page the list is empty and the
    /// pager offers the way back).
    fn page(&self) -> usize {
        match self.page.as_deref().map(|p| p.trim().parse::<u64>()) {
            Some(Ok(n)) => usize::try_from(n).unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE),
            Some(Err(e)) if *e.kind() == std::num::IntErrorKind::PosOverflow => MAX_PAGE,
            _ => 1,
        }
    }

    /// This list's URL with another page and/or sort order.
    fn url(&self, page: usize, newest_first: bool) -> String {
        let mut params = Vec::new();
        for (name, value) in [
            ("domain", &self.domain),
            ("sender", &self.sender),
            ("recipient", &self.recipient),
            ("status", &self.status),
        ] {
            if let Some(v) = nonempty(value) {
                params.push(format!("{name}={}", url_component(&v)));
            }
        }
        if newest_first {
            params.push("sort=newest".into());
        }
        if page > 1 {
            params.push(format!("page={page}"));
        }
        if params.is_empty() {
            "/queue".into()
        } else {
            format!("/queue?{}", params.join("&"))
        }
    }
}

fn filter_form(q: &ListQuery) -> String {
    let text = |name: &str, label: &str, value: &Option<String>| {
        format!(
            "<label>{label} <input name=\"{name}\" value=\"{}\"></label>",
            esc(&nonempty(value).unwrap_or_default())
        )
    };
    let current = nonempty(&q.status).unwrap_or_default();
    let options: String = std::iter::once("")
        .chain(STATUSES)
        .map(|s| {
            let selected = if s == current { " selected" } else { "" };
            let label = if s.is_empty() { "any" } else { s };
            format!("<option value=\"{s}\"{selected}>{label}</option>")
        })
        .collect();
    let sort = if q.newest_first() {
        "<input type=\"hidden\" name=\"sort\" value=\"newest\">"
    } else {
        ""
    };
    format!(
        "<form method=\"get\" action=\"/queue\" class=\"filters\">{}{}{}\
         <label>Status <select name=\"status\">{options}</select></label>{sort}\
         <button type=\"submit\">Filter</button> <a href=\"/queue\">Clear</a></form>",
        text("domain", "Domain", &q.domain),
        text("sender", "Sender", &q.sender),
        text("recipient", "Recipient", &q.recipient),
    )
}

fn recipients_cell(m: &MessageSummary) -> String {
    m.recipients
        .iter()
        .map(|r| {
            format!(
                "<div><span class=\"rcpt-{}\">{}</span></div>",
                esc(r.status),
                esc(&r.address)
            )
        })
        .collect()
}

fn row_buttons(id: &str) -> String {
    ["flush", "hold", "release", "bounce", "delete"]
        .iter()
        .map(|a| format!("<button type=\"submit\" name=\"row\" value=\"{a}:{id}\" class=\"small {a}\">{a}</button>"))
        .collect()
}

fn message_row(m: &MessageSummary, now_ms: u64) -> String {
    let id = esc(&m.id);
    format!(
        "<tr data-id=\"{id}\"><td><input type=\"checkbox\" name=\"id\" value=\"{id}\" aria-label=\"select {id}\"></td>\
         <td><a class=\"mono\" href=\"/queue/{id}\">{id}</a></td><td class=\"num\">{age}</td><td>{sender}</td>\
         <td>{rcpts}</td><td class=\"num\">{size}</td><td><span class=\"badge status-{status}\">{status}</span></td>\
         <td class=\"num\">{attempts}</td><td>{next}</td><td class=\"detail\">{error}</td><td class=\"actions\">{buttons}</td></tr>",
        age = esc(&age_at(now_ms, m.received_at_ms)),
        sender = esc(if m.sender.is_empty() { "<>" } else { &m.sender }),
        rcpts = recipients_cell(m),
        size = esc(&bytes(m.size)),
        status = esc(m.status),
        attempts = m.attempts,
        next = esc(&m
            .next_attempt_at_ms
            .map(|t| due_in(now_ms, t))
            .unwrap_or_else(|| "–".into())),
        error = esc(m.last_error.as_deref().unwrap_or("")),
        buttons = row_buttons(&m.id),
    )
}

fn pager(q: &ListQuery, total: usize) -> String {
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = q.page().min(pages);
    let prev = if page > 1 {
        format!(
            "<a href=\"{}\" rel=\"prev\">← newer page</a>",
            esc(&q.url(page - 1, q.newest_first()))
        )
    } else {
        String::new()
    };
    let next = if page < pages {
        format!(
            "<a href=\"{}\" rel=\"next\">next page →</a>",
            esc(&q.url(page + 1, q.newest_first()))
        )
    } else {
        String::new()
    };
    format!(
        "<nav class=\"pager\">{prev} <span>page {page} of {pages} · {total} messages</span> {next}</nav>"
    )
}

/// The queue page: filters, bulk actions, the rows and the pager.
pub fn render(
    total: usize,
    messages: &[MessageSummary],
    q: &ListQuery,
    now_ms: u64,
    csrf: &str,
) -> String {
    let rows: String = messages.iter().map(|m| message_row(m, now_ms)).collect();
    let rows = if rows.is_empty() {
        "<tr><td colspan=\"11\" class=\"empty\">No message matches.</td></tr>".to_string()
    } else {
        rows
    };
    let (sort_label, sort_url) = if q.newest_first() {
        ("Age ↑ (newest first)", q.url(1, false))
    } else {
        ("Age ↓ (oldest first)", q.url(1, true))
    };
    let bulk: String = ["flush", "hold", "release", "bounce", "delete"]
        .iter()
        .map(|a| format!("<button type=\"submit\" name=\"action\" value=\"{a}\" class=\"{a}\">{a} selected</button>"))
        .collect();
    let body = format!(
        "<h1>Queue</h1>{filters}\
         <form method=\"post\" action=\"/queue/action\" id=\"queue-form\">{csrf}\
         <input type=\"hidden\" name=\"back\" value=\"{back}\"><div class=\"bulk\">{bulk}</div>\
         <table class=\"queue\"><thead><tr><th><input type=\"checkbox\" id=\"select-all\" aria-label=\"select all\"></th>\
         <th>Id</th><th class=\"num\"><a href=\"{sort_url}\">{sort_label}</a></th><th>Sender</th><th>Recipients</th>\
         <th class=\"num\">Size</th><th>Status</th><th class=\"num\">Tries</th><th>Next</th><th>Last reply</th><th></th></tr></thead>\
         <tbody>{rows}</tbody></table></form>{pager}",
        filters = filter_form(q),
        csrf = csrf_field(csrf),
        back = esc(&q.url(q.page(), q.newest_first())),
        sort_url = esc(&sort_url),
        pager = pager(q, total),
    );
    page("Queue", Nav::Queue, csrf, &body, Some("queue.js"))
}

pub async fn list(
    State(state): State<UiState>,
    session: Session,
    Query(mut q): Query<ListQuery>,
) -> Html<String> {
    let (mut total, mut messages) = state
        .admin
        .queue
        .list(&q.filter())
        .await
        .unwrap_or_default();
    // A page past the last shows the last.
    let last = total.div_ceil(PAGE_SIZE).max(1);
    if q.page() > last {
        q.page = Some(last.to_string());
        (total, messages) = state
            .admin
            .queue
            .list(&q.filter())
            .await
            .unwrap_or_default();
    }
    let now_ms = to_unix_ms(state.admin.queue.now());
    Html(render(total, &messages, &q, now_ms, &session.csrf))
}

/// What a POST to /queue/action asks for, parsed from its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    pub csrf: String,
    pub action: String,
    pub ids: Vec<String>,
    pub confirmed: bool,
    pub back: String,
}

/// Reads the form: a per-row button (`row=ACTION:ID`) wins over the bulk action and the checkboxes.
pub fn parse_action(fields: &[(String, String)]) -> ActionRequest {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut request = ActionRequest {
        csrf: get("csrf").unwrap_or_default(),
        action: get("action").unwrap_or_default(),
        ids: fields
            .iter()
            .filter(|(n, _)| n == "id")
            .map(|(_, v)| v.clone())
            .collect(),
        confirmed: get("confirm").as_deref() == Some("yes"),
        back: redirect::local_or_fallback(get("back").as_deref()),
    };
    if let Some((action, id)) = get("row").as_deref().and_then(|r| r.split_once(':')) {
        request.action = action.to_string();
        request.ids = vec![id.to_string()];
    }
    request
}

/// The confirmation step for delete and bounce.
pub fn render_confirm(request: &ActionRequest, csrf: &str) -> String {
    let hidden: String = request
        .ids
        .iter()
        .map(|id| format!("<input type=\"hidden\" name=\"id\" value=\"{}\">", esc(id)))
        .collect();
    let listed: String = request
        .ids
        .iter()
        .map(|id| format!("<li class=\"mono\">{}</li>", esc(id)))
        .collect();
    let consequence = if request.action == "delete" {
        "They are removed from the queue for good: neither delivered nor returned to the sender."
    } else {
        "Each goes back to its sender now as a delivery failure report."
    };
    let body = format!(
        "<div class=\"card confirm\"><h1>{action} {n} message(s)?</h1><p>{consequence}</p><ul>{listed}</ul>\
         <form method=\"post\" action=\"/queue/action\">{csrf}{hidden}\
         <input type=\"hidden\" name=\"action\" value=\"{action}\"><input type=\"hidden\" name=\"confirm\" value=\"yes\">\
         <input type=\"hidden\" name=\"back\" value=\"{back}\">\
         <button type=\"submit\" class=\"danger\" id=\"confirm\">Yes, {action}</button> <a href=\"{back}\">Cancel</a></form></div>",
        action = esc(&request.action),
        n = request.ids.len(),
        csrf = csrf_field(csrf),
        back = esc(&request.back),
    );
    page("Confirm", Nav::Queue, csrf, &body, None)
}

pub async fn action(
    State(state): State<UiState>,
    session: Session,
    ClientIp(ip): ClientIp,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let request = parse_action(&fields);
    if !tokens_match(&session.csrf, &request.csrf) {
        return csrf_refused(&state, ADMIN_USER, ip, "/queue/action");
    }
    if !["flush", "hold", "release", "delete", "bounce"].contains(&request.action.as_str()) {
        return error_page(StatusCode::BAD_REQUEST, &session.csrf, "Unknown action.");
    }
    if request.ids.len() > MAX_BULK_IDS {
        let text = format!("At most {MAX_BULK_IDS} messages per action.");
        return error_page(StatusCode::PAYLOAD_TOO_LARGE, &session.csrf, &text);
    }
    let Some(ids) = request
        .ids
        .iter()
        .map(|id| queue_id(id))
        .collect::<Option<Vec<_>>>()
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            &session.csrf,
            "Malformed message id.",
        );
    };
    if ids.is_empty() {
        return error_page(
            StatusCode::BAD_REQUEST,
            &session.csrf,
            "No message selected.",
        );
    }
    if matches!(request.action.as_str(), "delete" | "bounce") && !request.confirmed {
        return Html(render_confirm(&request, &session.csrf)).into_response();
    }
    let failures = apply(&state, &request.action, &ids).await;
    let outcome = if failures.is_empty() {
        "ok".to_string()
    } else {
        format!("{} failed", failures.len())
    };
    backend::record(
        &state.admin,
        ADMIN_USER,
        ip,
        &request.action,
        &format!("{} ({outcome})", summarize_ids(&ids)),
    );
    if !failures.is_empty() {
        let shown = failures.len().min(SHOWN_FAILURES);
        let mut text = failures[..shown].join("\n");
        if failures.len() > shown {
            text.push_str(&format!("\n… and {} more", failures.len() - shown));
        }
        return error_page(StatusCode::CONFLICT, &session.csrf, &text);
    }
    // A deleted or bounced message has no page any more.
    let gone = matches!(request.action.as_str(), "delete" | "bounce")
        && request.back.starts_with("/queue/");
    let back = if gone {
        "/queue".to_string()
    } else {
        request.back
    };
    redirect::to(&back).into_response()
}

/// Runs `action` on every id; returns one line per failure.
async fn apply(state: &UiState, action: &str, ids: &[QueueId]) -> Vec<String> {
    let queue = &state.admin.queue;
    if action == "flush" {
        return match queue.flush(&FlushScope::Ids(ids.to_vec())).await {
            Ok(_) => Vec::new(),
            Err(e) => vec![e.to_string()],
        };
    }
    let mut failures = Vec::new();
    for id in ids {
        let result = match action {
            "hold" => queue.hold(*id).await,
            "release" => queue.release(*id).await,
            "delete" => queue.delete(*id).await,
            _ => queue.bounce(*id).await,
        };
        if let Err(e) = result {
            failures.push(format!("{id}: {e}"));
        }
    }
    failures
}
