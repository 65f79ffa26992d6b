//! The Alerts page (issue 16): the recent alerts, newest first, each with what it said and every
//! webhook's delivery state (delivered, pending with its next try and last error, or given up),
//! and the webhooks' count. `backupmx alerts test` sends a test alert.

use axum::extract::State;
use axum::response::Html;

use super::UiState;
use super::format::timestamp;
use super::markup::{Nav, esc, page};
use super::session::Session;
use crate::alerts::{AlertView, DeliveryView};

/// Alerts shown.
const SHOWN: usize = 200;

fn delivery(d: &DeliveryView) -> String {
    let (class, state) = match d.state {
        "delivered" => ("ok", "delivered".to_string()),
        "pending" => (
            "warn",
            match d.next_at_ms {
                Some(at) => format!("pending, next try {}", timestamp(at)),
                None => "pending".to_string(),
            },
        ),
        _ => ("error", "given up".to_string()),
    };
    let error = d
        .last_error
        .as_deref()
        .map(|e| format!(" <span class=\"detail\">{}</span>", esc(e)))
        .unwrap_or_default();
    format!(
        "<li><span class=\"{class}\">{}</span> {} ({} attempt(s)){error}</li>",
        esc(&state),
        esc(&d.webhook),
        d.attempts,
    )
}

fn row(a: &AlertView) -> String {
    let deliveries = if a.deliveries.is_empty() {
        "<span class=\"hint\">no webhook wanted it</span>".to_string()
    } else {
        let items: String = a.deliveries.iter().map(delivery).collect();
        format!("<ul class=\"deliveries\">{items}</ul>")
    };
    let class = if a.state == "resolved" { "ok" } else { "warn" };
    format!(
        "<tr><td class=\"num\">{}</td><td class=\"nowrap\">{}</td><td>{}</td><td class=\"{class}\">{}</td>\
         <td>{}</td><td class=\"detail\">{}</td><td>{deliveries}</td></tr>",
        a.id,
        esc(&timestamp(a.at_ms)),
        esc(&a.event),
        esc(a.state),
        esc(a.subject.as_deref().unwrap_or("")),
        esc(&a.text),
    )
}

/// The page; `webhooks`: how many are configured, `pending`: deliveries waiting for a 2xx.
pub fn render(alerts: &[AlertView], webhooks: usize, pending: usize, csrf: &str) -> String {
    let rows: String = if alerts.is_empty() {
        "<tr><td colspan=\"7\" class=\"empty\">No alert yet.</td></tr>".to_string()
    } else {
        alerts.iter().map(row).collect()
    };
    let setup = if webhooks == 0 {
        "No <code>[[alert]]</code> webhook is configured: alerts are recorded here but sent nowhere."
            .to_string()
    } else {
        format!(
            "{webhooks} webhook(s) configured; {pending} delivery(ies) waiting for a 2xx answer. \
             <code>backupmx alerts test</code> sends a test alert through each."
        )
    };
    let body = format!(
        "<h1>Alerts</h1><p class=\"hint\">{setup} One alert per change of state, newest first.</p>\
         <table id=\"alerts\"><thead><tr><th class=\"num\">#</th><th>When</th><th>Event</th><th>State</th>\
         <th>About</th><th>Text</th><th>Delivery</th></tr></thead><tbody>{rows}</tbody></table>"
    );
    page("Alerts", Nav::Alerts, csrf, &body, None)
}

pub async fn show(State(state): State<UiState>, session: Session) -> Html<String> {
    let (alerts, webhooks, pending) = match &state.admin.alerts {
        Some(service) => (service.recent(SHOWN), service.webhooks(), service.pending()),
        None => (Vec::new(), 0, 0),
    };
    Html(render(&alerts, webhooks, pending, &session.csrf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(state: &'static str, deliveries: Vec<DeliveryView>) -> AlertView {
        AlertView {
            id: 3,
            event: "primary_down".into(),
            state,
            subject: Some("example.test".into()),
            text: "primary <down>".into(),
            at_ms: 0,
            details: Default::default(),
            deliveries,
        }
    }

    #[test]
    fn lists_alerts_with_their_delivery_state_escaped() {
        let pending = DeliveryView {
            webhook: "http://127.0.0.1:9/hook".into(),
            state: "pending",
            attempts: 2,
            delivered_at_ms: None,
            next_at_ms: Some(60_000),
            last_error: Some("connect: refused".into()),
        };
        let html = render(&[alert("firing", vec![pending])], 1, 1, "t");
        assert!(html.contains("id=\"alerts\""), "{html}");
        assert!(html.contains("primary &lt;down&gt;"), "{html}");
        assert!(html.contains("pending, next try"), "{html}");
        assert!(html.contains("(2 attempt(s))"), "{html}");
        assert!(html.contains("connect: refused"), "{html}");
        assert!(html.contains("aria-current=\"page\">Alerts"), "{html}");
    }

    #[test]
    fn says_when_nothing_is_configured() {
        let html = render(&[], 0, 0, "t");
        assert!(html.contains("No alert yet."), "{html}");
        assert!(html.contains("sent nowhere"), "{html}");
    }
}
