//! The dashboard: per destination, what waits and why (primary state, ages, qshape-like histogram),
//! with Flush buttons; `/ui/domains.json` feeds its self-update (static/dashboard.js).

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Json, Response};
use serde::{Deserialize, Serialize};

use super::backend::{self, ADMIN_USER};
use super::format::{age_at, bytes, due_in, timestamp};
use super::markup::{Nav, csrf_field, esc, page, url_component};
use super::session::{ClientIp, Session, tokens_match};
use super::{UiState, csrf_refused, redirect};
use crate::clock::to_unix_ms;
use crate::queue::api::{DomainSummary, FlushScope};

/// One destination's line, formatted for display (the page and the JSON share it).
#[derive(Debug, Clone, Serialize)]
pub struct DomainRow {
    pub domain: String,
    pub messages: usize,
    pub bytes: String,
    pub oldest: String,
    /// `up`, `down`, `misconfigured` or `unknown`.
    pub state: &'static str,
    pub state_text: String,
    /// The last error or the misconfiguration's reason.
    pub detail: String,
    pub next_attempt: String,
    pub histogram: Vec<usize>,
    /// `ready`, `warning`, `broken`, or `unchecked` (issue 17's readiness).
    pub readiness: &'static str,
    /// The badge's text: the verdict and the checks that fail (or warn), e.g. `broken: mta_sts`.
    pub readiness_text: String,
    /// Those checks' details, for the badge's tooltip.
    pub readiness_detail: String,
    /// Usage against the domain's quota ("3 of 500 messages; 1.2 KiB of 10.0 MiB"), or empty.
    pub quota: String,
    /// `api` for a domain provisioned through the API, `config` for the file's, empty otherwise
    /// (filled by the handlers; a "provisioned" badge for `api`).
    pub origin: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct DashboardView {
    pub domains: Vec<DomainRow>,
    pub total_messages: usize,
    pub total_bytes: String,
    pub histogram_labels: Vec<&'static str>,
    pub total_histogram: Vec<usize>,
    pub updated: String,
    /// What recovery set aside at the last start (filled by the handlers, empty in [`view`]).
    pub quarantined: Vec<String>,
    /// Clients and messages the sender checks refused since start (filled by the handlers).
    pub refused: Vec<crate::checks::RefusedCount>,
    /// The cluster's nodes (filled by the handlers; empty on a single node).
    pub nodes: Vec<super::nodes::NodeRow>,
}

fn state_text(d: &DomainSummary, now_ms: u64) -> String {
    let text = health_text(d, now_ms);
    if d.removed {
        format!("removed, draining; {text}")
    } else {
        text
    }
}

fn health_text(d: &DomainSummary, now_ms: u64) -> String {
    match (d.state, d.since_ms) {
        ("unknown", _) if d.messages == 0 => "nothing queued".to_string(),
        ("down" | "misconfigured", Some(since)) => {
            format!("since {} ({} ago)", timestamp(since), age_at(now_ms, since))
        }
        ("unknown", _) => "not tried yet".to_string(),
        (state, _) => state.to_string(),
    }
}

/// Usage against `[[domain]] max_messages` / `max_bytes`, when the domain has a quota.
fn quota_text(d: &DomainSummary) -> String {
    let mut parts = Vec::new();
    if let Some(max) = d.max_messages {
        parts.push(format!("{} of {max} messages", d.messages));
    }
    if let Some(max) = d.max_bytes {
        parts.push(format!("{} of {}", bytes(d.bytes), bytes(max)));
    }
    parts.join("; ")
}

/// The dashboard's figures at `now_ms`.
pub fn view(domains: &[DomainSummary], now_ms: u64) -> DashboardView {
    let buckets = domains.first().map_or(0, |d| d.age_histogram.len());
    let mut total_histogram = vec![0; buckets];
    let rows: Vec<DomainRow> = domains
        .iter()
        .map(|d| {
            for (total, bucket) in total_histogram.iter_mut().zip(&d.age_histogram) {
                *total += bucket.count;
            }
            DomainRow {
                domain: d.domain.clone(),
                messages: d.messages,
                bytes: bytes(d.bytes),
                oldest: d
                    .oldest_received_at_ms
                    .map(|t| age_at(now_ms, t))
                    .unwrap_or_else(|| "–".into()),
                state: d.state,
                state_text: state_text(d, now_ms),
                detail: d.detail.clone().unwrap_or_default(),
                next_attempt: d
                    .next_attempt_at_ms
                    .map(|t| due_in(now_ms, t))
                    .unwrap_or_else(|| "–".into()),
                histogram: d.age_histogram.iter().map(|b| b.count).collect(),
                readiness: "unchecked",
                readiness_text: "not checked yet".into(),
                readiness_detail: String::new(),
                quota: quota_text(d),
                origin: "",
            }
        })
        .collect();
    DashboardView {
        total_messages: domains.iter().map(|d| d.messages).sum(),
        total_bytes: bytes(domains.iter().map(|d| d.bytes).sum()),
        histogram_labels: domains
            .first()
            .map(|d| d.age_histogram.iter().map(|b| b.label).collect())
            .unwrap_or_default(),
        total_histogram,
        domains: rows,
        updated: timestamp(now_ms),
        quarantined: Vec::new(),
        refused: Vec::new(),
        nodes: Vec::new(),
    }
}

/// A flush in progress, shown above the tables: `scope` is a domain or `all`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct FlushQuery {
    pub flush: Option<String>,
    pub n: Option<usize>,
}

fn flush_banner(query: &FlushQuery, view: &DashboardView) -> String {
    let (Some(scope), Some(started)) = (&query.flush, query.n) else {
        return String::new();
    };
    let remaining = if scope == "all" {
        view.total_messages
    } else {
        view.domains
            .iter()
            .find(|d| d.domain == *scope)
            .map_or(0, |d| d.messages)
    };
    let what = if scope == "all" {
        "all domains".to_string()
    } else {
        scope.clone()
    };
    format!(
        "<div class=\"notice\" id=\"flush-progress\" data-scope=\"{scope}\" data-start=\"{started}\">\
         Flushing {what}: <progress max=\"{started}\" value=\"{done}\"></progress> \
         <span id=\"flush-remaining\">{remaining}</span> remaining of {started} \
         <span id=\"flush-status\"></span></div>",
        scope = esc(scope),
        what = esc(&what),
        done = started.saturating_sub(remaining),
    )
}

fn flush_form(csrf: &str, domain: Option<&str>) -> String {
    let (field, id, label) = match domain {
        Some(d) => (
            format!(
                "<input type=\"hidden\" name=\"domain\" value=\"{}\">",
                esc(d)
            ),
            "",
            "Flush",
        ),
        None => (String::new(), " id=\"flush-all\"", "Flush all"),
    };
    format!(
        "<form method=\"post\" action=\"/flush\" class=\"inline\">{}{field}\
         <button type=\"submit\" class=\"flush\"{id}>{label}</button></form>",
        csrf_field(csrf)
    )
}

fn domain_rows(view: &DashboardView, csrf: &str) -> String {
    let mut rows = String::new();
    for d in &view.domains {
        let queue_link = format!("/queue?domain={}", url_component(&d.domain));
        rows.push_str(&format!(
            "<tr data-domain=\"{domain}\"><th scope=\"row\"><a href=\"{link}\">{domain}</a> \
             {provisioned}<span class=\"badge readiness-{readiness}\" data-field=\"readiness_text\" title=\"{readiness_detail}\">{readiness_text}</span></th>\
             <td class=\"num\" data-field=\"messages\">{messages}<div class=\"detail\" data-field=\"quota\">{quota}</div></td><td class=\"num\" data-field=\"bytes\">{bytes}</td>\
             <td class=\"num\" data-field=\"oldest\">{oldest}</td>\
             <td><span class=\"badge state-{state}\" data-field=\"state\">{state}</span> \
             <span data-field=\"state_text\">{state_text}</span><div class=\"detail\" data-field=\"detail\">{detail}</div></td>\
             <td data-field=\"next_attempt\">{next}</td><td>{flush}</td></tr>",
            domain = esc(&d.domain),
            link = esc(&queue_link),
            messages = d.messages,
            quota = esc(&d.quota),
            bytes = esc(&d.bytes),
            oldest = esc(&d.oldest),
            state = esc(d.state),
            state_text = esc(&d.state_text),
            detail = esc(&d.detail),
            next = esc(&d.next_attempt),
            flush = flush_form(csrf, Some(&d.domain)),
            readiness = esc(d.readiness),
            readiness_text = esc(&d.readiness_text),
            readiness_detail = esc(&d.readiness_detail),
            provisioned = if d.origin == "api" {
                "<span class=\"badge origin-api\" data-field=\"origin\" \
                 title=\"added through the provisioning API (backupmx domains)\">provisioned</span> "
            } else {
                ""
            },
        ));
    }
    rows
}

fn histogram_table(view: &DashboardView) -> String {
    let cells = |counts: &[usize]| {
        counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let zero = if *c == 0 { " zero" } else { "" };
                format!("<td class=\"num{zero}\" data-bucket=\"{i}\">{c}</td>")
            })
            .collect::<String>()
    };
    let head: String = view
        .histogram_labels
        .iter()
        .map(|l| format!("<th class=\"num\">{}</th>", esc(l)))
        .collect();
    let mut rows = String::new();
    for d in &view.domains {
        rows.push_str(&format!(
            "<tr data-domain=\"{}\"><th scope=\"row\">{}</th><td class=\"num\" data-field=\"messages\">{}</td>{}</tr>",
            esc(&d.domain),
            esc(&d.domain),
            d.messages,
            cells(&d.histogram)
        ));
    }
    format!(
        "<h2>Queue shape <span class=\"hint\">messages by age, as qshape counts them</span></h2>\
         <table class=\"shape\" id=\"shape\"><thead><tr><th>Domain</th><th class=\"num\">Total</th>{head}</tr></thead>\
         <tbody>{rows}</tbody><tfoot><tr data-domain=\"\"><th scope=\"row\">Total</th>\
         <td class=\"num\" data-field=\"messages\">{total}</td>{totals}</tr></tfoot></table>",
        total = view.total_messages,
        totals = cells(&view.total_histogram),
    )
}

/// The whole dashboard page.
pub fn render(view: &DashboardView, csrf: &str, query: &FlushQuery) -> String {
    let body = format!(
        "<div class=\"title-row\"><h1>Dashboard</h1><span class=\"live\" id=\"updated\">updated {updated}</span>{flush_all}</div>\
         {banner}\
         <section class=\"totals\"><div class=\"figure\"><span id=\"total-messages\">{total}</span> messages queued</div>\
         <div class=\"figure\"><span id=\"total-bytes\">{total_bytes}</span> in the spool</div></section>\
         <table class=\"domains\" id=\"domains\"><thead><tr><th>Domain</th><th class=\"num\">Messages</th>\
         <th class=\"num\">Size</th><th class=\"num\">Oldest</th><th>Primary</th><th>Next attempt</th><th></th></tr></thead>\
         <tbody>{rows}</tbody></table>{nodes}{histogram}{refused}{quarantine}",
        updated = esc(&view.updated),
        flush_all = flush_form(csrf, None),
        banner = flush_banner(query, view),
        total = view.total_messages,
        total_bytes = esc(&view.total_bytes),
        rows = domain_rows(view, csrf),
        histogram = histogram_table(view),
        refused = refused_section(&view.refused),
        quarantine = super::quarantine::section(&view.quarantined),
        nodes = super::nodes::section(&view.nodes),
    );
    page(
        "Dashboard",
        Nav::Dashboard,
        csrf,
        &body,
        Some("dashboard.js"),
    )
}

/// "Refused by the sender checks since start": one figure per check.
fn refused_section(refused: &[crate::checks::RefusedCount]) -> String {
    if refused.is_empty() {
        return String::new();
    }
    let figures: String = refused
        .iter()
        .map(|r| {
            let label = match r.check {
                "dnsbl" => "clients refused by DNSBL",
                "spf" => "messages refused by SPF",
                "dmarc" => "messages refused by DMARC",
                _ => "messages deferred (temporary DNS errors)",
            };
            format!(
                "<div class=\"figure\"><span id=\"refused-{check}\">{count}</span> {label}</div>",
                check = r.check,
                count = r.count
            )
        })
        .collect();
    format!("<h2>Sender checks since start</h2><section class=\"totals\">{figures}</section>")
}

async fn current_view(state: &UiState) -> DashboardView {
    let now_ms = to_unix_ms(state.admin.queue.now());
    // The shared queue's database unreachable: the dashboard still renders, with no domain lines.
    let domains = state.admin.queue.domains().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "dashboard: queue view unavailable");
        Vec::new()
    });
    let mut view = view(&domains, now_ms);
    view.quarantined = state.admin.queue.quarantined();
    if let Some(checks) = &state.admin.checks {
        view.refused = checks.refused_counts();
    }
    let config = state.admin.live.get();
    for row in &mut view.domains {
        row.origin = crate::admin::api_domains::origin(&config, &row.domain).unwrap_or_default();
    }
    if let Some(readiness) = &state.admin.readiness {
        for row in &mut view.domains {
            if let Some(latest) = readiness.latest(&row.domain) {
                set_readiness(row, &latest);
            }
        }
    }
    if let Ok(Some(nodes)) = state.admin.queue.cluster_nodes().await {
        view.nodes = nodes
            .into_iter()
            .map(|n| super::nodes::NodeRow {
                name: n.name,
                alive: n.alive,
                heartbeat_age_s: n.heartbeat_age_s,
                claims: n.claims,
            })
            .collect();
    }
    view
}

/// The row's readiness badge: the verdict, and the checks that make it so.
pub fn set_readiness(row: &mut DomainRow, latest: &crate::readiness::Readiness) {
    let worst = latest.worst_checks();
    row.readiness = latest.verdict.as_str();
    row.readiness_text = if worst.is_empty() {
        latest.verdict.as_str().to_owned()
    } else {
        format!("{}: {}", latest.verdict.as_str(), worst.join(", "))
    };
    row.readiness_detail = latest
        .checks
        .iter()
        .filter(|c| worst.contains(&c.name))
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect::<Vec<_>>()
        .join("\n");
}

pub async fn show(
    State(state): State<UiState>,
    session: Session,
    Query(query): Query<FlushQuery>,
) -> Html<String> {
    Html(render(&current_view(&state).await, &session.csrf, &query))
}

pub async fn json(State(state): State<UiState>, _session: Session) -> Json<DashboardView> {
    Json(current_view(&state).await)
}

#[derive(Debug, Deserialize)]
pub struct FlushForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    domain: Option<String>,
}

pub async fn flush(
    State(state): State<UiState>,
    session: Session,
    ClientIp(ip): ClientIp,
    Form(form): Form<FlushForm>,
) -> Response {
    if !tokens_match(&session.csrf, &form.csrf) {
        return csrf_refused(&state, ADMIN_USER, ip, "/flush");
    }
    let domain = form
        .domain
        .map(|d| d.trim().trim_end_matches('.').to_lowercase())
        .filter(|d| !d.is_empty());
    let (scope, label) = match &domain {
        Some(d) => (FlushScope::Domain(d.clone()), d.clone()),
        None => (FlushScope::All, "all".to_string()),
    };
    // Progress counts down from what waits now, whether or not each message was already due.
    let before: usize = state
        .admin
        .queue
        .domains()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|d| domain.as_ref().is_none_or(|name| d.domain == *name))
        .map(|d| d.messages)
        .sum();
    let n = state.admin.queue.flush(&scope).await.unwrap_or(0);
    backend::record(
        &state.admin,
        ADMIN_USER,
        ip,
        "flush",
        &format!("{label}: {n} messages"),
    );
    redirect::to(&format!(
        "/?flush={}&n={}",
        url_component(&label),
        before.max(n)
    ))
    .into_response()
}
