//! The audit log page: administrator actions (newest first), and apart from them the failures —
//! failed and locked logins, refused CSRF tokens — folded into one row per kind and address with a
//! count, so that a flood of failures cannot push the actions out of view.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Html;

use super::UiState;
use super::backend::{self, AuditEntry, Kind};
use super::format::timestamp;
use super::markup::{Nav, esc, page};
use super::session::Session;

/// How many actions the page shows (and how many recent failures it folds).
const SHOWN: usize = 500;

/// One entry's row, shared by both tables so their columns cannot drift apart: `tr_attrs` goes into
/// the `<tr>` tag, and a folded failure adds its count after the time.
fn entry_row(tr_attrs: &str, count: Option<usize>, r: &AuditEntry) -> String {
    let count = count
        .map(|n| format!("<td class=\"num\">{n}</td>"))
        .unwrap_or_default();
    format!(
        "<tr{tr_attrs}><td class=\"nowrap\">{}</td>{count}<td>{}</td><td>{}</td><td>{}</td><td class=\"detail\">{}</td></tr>",
        esc(&timestamp(r.at_ms)),
        esc(&r.who),
        esc(&r.from_ip),
        esc(&r.action),
        esc(&r.detail)
    )
}

fn action_rows(rows: &[AuditEntry]) -> String {
    if rows.is_empty() {
        return "<tr><td colspan=\"5\" class=\"empty\">Nothing yet.</td></tr>".to_string();
    }
    rows.iter().map(|r| entry_row("", None, r)).collect()
}

/// One row per (who, action, address): how many, the latest time and detail.
fn failure_rows(failures: &[AuditEntry]) -> String {
    let mut folded: BTreeMap<(&str, &str, &str), (usize, &AuditEntry)> = BTreeMap::new();
    // Newest first: the first entry seen of a group is its latest.
    for f in failures {
        folded
            .entry((f.who.as_str(), f.action.as_str(), f.from_ip.as_str()))
            .and_modify(|(n, _)| *n += 1)
            .or_insert((1, f));
    }
    if folded.is_empty() {
        return "<tr><td colspan=\"6\" class=\"empty\">None.</td></tr>".to_string();
    }
    let mut groups: Vec<(usize, &AuditEntry)> = folded.into_values().collect();
    groups.sort_by_key(|(_, latest)| std::cmp::Reverse(latest.at_ms));
    groups
        .iter()
        .map(|(count, r)| entry_row(" class=\"warn\"", Some(*count), r))
        .collect()
}

/// The page: `actions` and `failures` newest first.
pub fn render(actions: &[AuditEntry], failures: &[AuditEntry], csrf: &str) -> String {
    let body = format!(
        "<h1>Audit log</h1><p class=\"hint\">Logins and administrator actions, newest first.</p>\
         <table id=\"audit\"><thead><tr><th>When</th><th>Who</th><th>From</th><th>Action</th><th>Detail</th></tr></thead><tbody>{}</tbody></table>\
         <h2>Failures</h2><p class=\"hint\">Failed and locked logins and refused security tokens among the latest {SHOWN}, one row per kind and address (the latest time and detail).</p>\
         <table id=\"audit-failures\"><thead><tr><th>Latest</th><th class=\"num\">Count</th><th>Who</th><th>From</th><th>Action</th><th>Latest detail</th></tr></thead><tbody>{}</tbody></table>",
        action_rows(actions),
        failure_rows(failures),
    );
    page("Audit log", Nav::Audit, csrf, &body, None)
}

pub async fn show(State(state): State<UiState>, session: Session) -> Html<String> {
    let actions = backend::recent(&state.admin, Kind::Actions, SHOWN).await;
    let failures = backend::recent(&state.admin, Kind::Failures, SHOWN).await;
    Html(render(&actions, &failures, &session.csrf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_ms: u64, who: &str, ip: &str, action: &str) -> AuditEntry {
        AuditEntry {
            at_ms,
            who: who.into(),
            from_ip: ip.into(),
            action: action.into(),
            detail: format!("d{at_ms}"),
            node: None,
        }
    }

    #[test]
    fn failures_are_folded_per_kind_and_address() {
        let failures = vec![
            entry(9, "login-failed", "10.0.0.1", "login"),
            entry(8, "login-failed", "10.0.0.2", "login"),
            entry(7, "login-failed", "10.0.0.1", "login"),
            entry(6, "login-locked", "10.0.0.1", "login"),
        ];
        let actions = vec![entry(5, "admin", "10.0.0.1", "hold")];
        let html = render(&actions, &failures, "tok");
        let folded = &html[html.find("audit-failures").unwrap()..];
        assert_eq!(folded.matches("<tr class=\"warn\">").count(), 3);
        assert!(folded.contains("<td class=\"num\">2</td><td>login-failed</td><td>10.0.0.1</td>"));
        assert!(
            folded.contains("d9") && !folded.contains("d7"),
            "the latest detail"
        );
        assert!(html.contains("<td>hold</td>"));
    }
}
