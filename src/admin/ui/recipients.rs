//! The recipients page (issue 7): per domain its recipient policy, the cache's size (known-good /
//! known-bad) and last learning event; a look-up form for one address and, for a cached address, a
//! purge button (POST with the session's CSRF token, written to the audit log).

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::backend::{self, ADMIN_USER};
use super::format::timestamp;
use super::markup::{Nav, csrf_field, esc, page, url_component};
use super::session::{ClientIp, Session, tokens_match};
use super::{UiState, csrf_refused, redirect};
use crate::recipients::{DomainView, LookupView};

fn domain_rows(domains: &[DomainView]) -> String {
    let rows: String = domains
        .iter()
        .map(|d| {
            let mut policy = d.policy.to_string();
            if d.policy == "verify" {
                policy.push_str(&format!(" (unknown when down: {})", d.unknown_when_down));
            }
            if let Some(n) = d.list_entries {
                policy.push_str(&format!(" ({n} entries)"));
            }
            if d.monitoring {
                policy.push_str(", monitoring");
            }
            let learnt = d.last_learning.as_ref().map_or_else(
                || "—".to_string(),
                |e| format!("{} {} is {} ({})", timestamp(e.at_ms), e.address, e.known, e.source),
            );
            format!(
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                esc(&d.domain),
                esc(&policy),
                d.cache_good,
                d.cache_bad,
                esc(&learnt)
            )
        })
        .collect();
    if rows.is_empty() {
        "<tr><td colspan=\"5\" class=\"empty\">No domains.</td></tr>".to_string()
    } else {
        rows
    }
}

fn lookup_result(view: Option<&LookupView>, asked: &str, csrf: &str) -> String {
    let Some(v) = view else {
        return format!("<p class=\"error\">{} is not an address.</p>", esc(asked));
    };
    let mut out = format!(
        "<table id=\"lookup\"><tr><th>Address</th><td class=\"mono\">{}</td></tr>\
         <tr><th>Domain policy</th><td>{}</td></tr><tr><th>Known</th><td>{}</td></tr>",
        esc(&v.key),
        esc(v.policy),
        esc(v.state)
    );
    if let (Some(entry), Some(expires), Some(learned)) = (&v.entry, v.expires_ms, v.learned_ms) {
        out.push_str(&format!(
            "<tr><th>Cache entry</th><td class=\"mono\">{}</td></tr>\
             <tr><th>Learnt</th><td>{}</td></tr><tr><th>Expires</th><td>{}</td></tr></table>\
             <form method=\"post\" action=\"/recipients/purge\">{}\
             <input type=\"hidden\" name=\"address\" value=\"{}\">\
             <button type=\"submit\">Purge this entry</button></form>",
            esc(entry),
            esc(&timestamp(learned)),
            esc(&timestamp(expires)),
            csrf_field(csrf),
            esc(entry)
        ));
    } else {
        out.push_str("</table>");
    }
    out
}

/// The whole page; `lookup` is the address asked for and its answer, `notice` a line on top.
pub fn render(
    domains: &[DomainView],
    lookup: Option<(&str, Option<&LookupView>)>,
    notice: Option<&str>,
    csrf: &str,
) -> String {
    let notice = notice.map_or_else(String::new, |n| {
        format!("<p class=\"notice\">{}</p>", esc(n))
    });
    let asked = lookup.map_or("", |(a, _)| a);
    let result = lookup.map_or_else(String::new, |(a, v)| lookup_result(v, a, csrf));
    let body = format!(
        "<h1>Recipients</h1>{notice}<p class=\"hint\">Recipient validation per domain: policy, \
         cached answers of the primary (known-good / known-bad) and the last thing learnt.</p>\
         <table id=\"recipient-domains\"><thead><tr><th>Domain</th><th>Policy</th>\
         <th class=\"num\">Known good</th><th class=\"num\">Known bad</th><th>Last learnt</th></tr>\
         </thead><tbody>{rows}</tbody></table>\
         <h2>Look up an address</h2><form method=\"get\" action=\"/recipients\">\
         <input type=\"text\" name=\"address\" value=\"{asked}\" placeholder=\"user@example.com\">\
         <button type=\"submit\">Look up</button></form>{result}",
        rows = domain_rows(domains),
        asked = esc(asked),
    );
    page("Recipients", Nav::Recipients, csrf, &body, None)
}

pub async fn show(
    State(state): State<UiState>,
    session: Session,
    Query(query): Query<HashMap<String, String>>,
) -> Html<String> {
    let Some(service) = state.admin.recipients.as_ref() else {
        let notice = "Recipient validation is not running.";
        return Html(render(&[], None, Some(notice), &session.csrf));
    };
    let domains = service.domain_views();
    let asked = query
        .get("address")
        .map(|a| a.trim())
        .filter(|a| !a.is_empty());
    let view = asked.map(|a| service.lookup(a));
    let lookup = asked.map(|a| (a, view.as_ref().and_then(Option::as_ref)));
    let notice = query.get("purged").map(|a| format!("Purged {a}."));
    Html(render(&domains, lookup, notice.as_deref(), &session.csrf))
}

#[derive(Debug, Deserialize)]
pub struct PurgeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    address: String,
}

pub async fn purge(
    State(state): State<UiState>,
    session: Session,
    ClientIp(ip): ClientIp,
    Form(form): Form<PurgeForm>,
) -> Response {
    if !tokens_match(&session.csrf, &form.csrf) {
        return csrf_refused(&state, ADMIN_USER, ip, "/recipients/purge");
    }
    let removed = state
        .admin
        .recipients
        .as_ref()
        .and_then(|s| s.purge(&form.address))
        .unwrap_or(false);
    let detail = format!("address={} removed={removed}", form.address);
    backend::record(&state.admin, ADMIN_USER, ip, "recipients-purge", &detail);
    let address = url_component(&form.address);
    redirect::to(&format!("/recipients?address={address}&purged={address}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> DomainView {
        DomainView {
            domain: "example.test".into(),
            policy: "verify",
            unknown_when_down: "accept",
            monitoring: true,
            list_entries: None,
            cache_good: 3,
            cache_bad: 1,
            last_learning: None,
        }
    }

    #[test]
    fn page_shows_figures_and_escapes_the_address() {
        let view = LookupView {
            key: "<b>@example.test".into(),
            domain: "example.test".into(),
            policy: "verify",
            state: "bad",
            entry: Some("<b>@example.test".into()),
            expires_ms: Some(0),
            learned_ms: Some(0),
        };
        let html = render(
            &[domain()],
            Some(("<b>@example.test", Some(&view))),
            None,
            "tok",
        );
        assert!(html.contains("verify (unknown when down: accept), monitoring"));
        assert!(html.contains("<td class=\"num\">3</td><td class=\"num\">1</td>"));
        assert!(!html.contains("<b>@"));
        assert!(html.contains("&lt;b&gt;@example.test"));
        assert!(html.contains("action=\"/recipients/purge\""));
        assert!(html.contains("name=\"csrf\" value=\"tok\""));
    }

    #[test]
    fn an_unknown_address_has_no_purge_button() {
        let view = LookupView {
            key: "a@example.test".into(),
            domain: "example.test".into(),
            policy: "verify",
            state: "unknown",
            entry: None,
            expires_ms: None,
            learned_ms: None,
        };
        let html = render(
            &[domain()],
            Some(("a@example.test", Some(&view))),
            None,
            "tok",
        );
        assert!(!html.contains("/recipients/purge"));
        let html = render(&[], Some(("junk", None)), None, "tok");
        assert!(html.contains("is not an address"));
    }
}
