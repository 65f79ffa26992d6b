//! Tests of the console's pure page builders: hostile mail data stays text, the figures shown, the
//! action form parsing, the preview.

use super::backend::AuditEntry;
use super::dashboard::{self, FlushQuery};
use super::message::{self, PREVIEW_CHARS, Preview, preview};
use super::queue::{self, ListQuery, parse_action};
use super::{audit, postmaster};
use crate::queue::api::{
    AgeBucket, AttemptView, DomainSummary, MessageDetail, MessageSummary, RecipientView,
};

const HOSTILE: &str = "<script>alert(1)</script>";
const NOW: u64 = 1_700_000_000_000;

/// No hostile markup gets through, and its escaped form is present.
fn assert_escaped(html: &str) {
    assert!(!html.contains(HOSTILE), "raw hostile text in:\n{html}");
    assert!(!html.contains("<script>"), "a <script> element in:\n{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped text missing in:\n{html}"
    );
}

fn domain(name: &str, state: &'static str, messages: usize) -> DomainSummary {
    let labels = ["5m", "10m", "older"];
    DomainSummary {
        domain: name.into(),
        messages,
        bytes: 3 * 1024,
        oldest_received_at_ms: Some(NOW - (3 * 3600 + 12 * 60) * 1000),
        state,
        removed: false,
        max_messages: None,
        max_bytes: None,
        since_ms: Some(NOW - 600_000),
        detail: Some(format!("connect: refused {HOSTILE}")),
        next_attempt_at_ms: Some(NOW + 12_000),
        age_histogram: labels
            .iter()
            .enumerate()
            .map(|(i, label)| AgeBucket { label, count: i })
            .collect(),
        claimed_by: Some(format!("node-{HOSTILE}")),
    }
}

fn summary(sender: &str) -> MessageSummary {
    MessageSummary {
        id: "00000000000000A1".into(),
        sender: sender.into(),
        recipients: vec![RecipientView {
            address: format!("{HOSTILE}@example.test"),
            destination: "example.test".into(),
            status: "pending",
            reply: Some(format!("451 {HOSTILE}")),
        }],
        size: 2048,
        received_at_ms: NOW - 90_000,
        attempts: 2,
        next_attempt_at_ms: Some(NOW + 30_000),
        last_error: Some(format!("421 {HOSTILE}")),
        held: false,
        status: "deferred",
        accepted_by: format!("node-{HOSTILE}"),
        claimed_by: None,
    }
}

#[test]
fn dashboard_shows_state_ages_histogram_and_escapes() {
    let view = dashboard::view(
        &[
            domain("example.test", "down", 3),
            domain("other.test", "up", 0),
        ],
        NOW,
    );
    assert_eq!(view.total_messages, 3);
    assert_eq!(view.total_histogram, vec![0, 2, 4]);
    assert_eq!(view.domains[0].oldest, "3h12m");
    assert_eq!(view.domains[0].next_attempt, "in 12s");
    assert!(view.domains[0].state_text.starts_with("since "));
    assert!(view.domains[0].state_text.ends_with("(10m ago)"));
    let html = dashboard::render(&view, "tok", &FlushQuery::default());
    assert_escaped(&html);
    assert!(html.contains("<tr data-domain=\"example.test\">"));
    assert!(html.contains("badge state-down"));
    assert!(html.contains("id=\"flush-all\""));
    assert!(html.contains("<input type=\"hidden\" name=\"domain\" value=\"example.test\">"));
    assert!(html.contains("<script src=\"/static/dashboard.js\" defer></script>"));
    assert!(!html.contains("flush-progress"));
}

#[test]
fn dashboard_counts_what_the_sender_checks_refused() {
    let mut view = dashboard::view(&[domain("example.test", "up", 0)], NOW);
    let html = dashboard::render(&view, "tok", &FlushQuery::default());
    assert!(
        !html.contains("Sender checks since start"),
        "no section without the checks"
    );
    view.refused = vec![
        crate::checks::RefusedCount {
            check: "dnsbl",
            what: "clients",
            count: 3,
        },
        crate::checks::RefusedCount {
            check: "spf",
            what: "messages",
            count: 2,
        },
    ];
    let html = dashboard::render(&view, "tok", &FlushQuery::default());
    assert!(html.contains("<span id=\"refused-dnsbl\">3</span> clients refused by DNSBL"));
    assert!(html.contains("<span id=\"refused-spf\">2</span> messages refused by SPF"));
}

#[test]
fn dashboard_shows_a_removed_domain_draining_and_usage_against_its_quota() {
    let mut removed = domain("gone.test", "down", 3);
    removed.removed = true;
    let mut limited = domain("quota.test", "up", 3);
    limited.max_messages = Some(500);
    limited.max_bytes = Some(10 * 1024 * 1024);
    let view = dashboard::view(&[removed, limited], NOW);
    assert!(
        view.domains[0]
            .state_text
            .starts_with("removed, draining; since "),
        "{}",
        view.domains[0].state_text
    );
    assert_eq!(view.domains[0].quota, "");
    assert_eq!(
        view.domains[1].quota,
        "3 of 500 messages; 3.0 KiB of 10.0 MiB"
    );
    let html = dashboard::render(&view, "tok", &FlushQuery::default());
    assert!(html.contains("data-field=\"quota\">3 of 500 messages; 3.0 KiB of 10.0 MiB</div>"));
    assert!(!html.contains("provisioned</span>"));
}

#[test]
fn dashboard_marks_a_provisioned_domain() {
    let mut view = dashboard::view(
        &[domain("shop.test", "up", 0), domain("file.test", "up", 0)],
        NOW,
    );
    view.domains[0].origin = "api";
    view.domains[1].origin = "config";
    let html = dashboard::render(&view, "tok", &FlushQuery::default());
    assert_eq!(html.matches(">provisioned</span>").count(), 1, "{html}");
    let shop = html.find("data-domain=\"shop.test\"").unwrap();
    let file = html.find("data-domain=\"file.test\"").unwrap();
    let badge = html.find(">provisioned</span>").unwrap();
    assert!(shop < badge && badge < file, "{html}");
}

#[test]
fn dashboard_flush_banner_counts_down() {
    let view = dashboard::view(&[domain("example.test", "up", 2)], NOW);
    let query = FlushQuery {
        flush: Some("example.test".into()),
        n: Some(5),
    };
    let html = dashboard::render(&view, "tok", &query);
    assert!(html.contains("<span id=\"flush-remaining\">2</span> remaining of 5"));
    assert!(html.contains("<progress max=\"5\" value=\"3\">"));
    let hostile = FlushQuery {
        flush: Some(HOSTILE.into()),
        n: Some(1),
    };
    assert_escaped(&dashboard::render(&view, "tok", &hostile));
}

#[test]
fn dashboard_badges_name_the_failing_readiness_checks() {
    use crate::readiness::{Check, Readiness, Status};
    let mut view = dashboard::view(
        &[
            domain("example.test", "up", 0),
            domain("other.test", "up", 0),
        ],
        NOW,
    );
    let broken = Readiness::new(
        "example.test",
        vec![
            Check::new("mx", Status::Ok, "fine"),
            Check::new("certificate", Status::Warn, "expires soon"),
            Check::new(
                "mta_sts",
                Status::Fail,
                "mode enforce: <mx2> matches no mx line",
            ),
        ],
    );
    dashboard::set_readiness(&mut view.domains[0], &broken);
    let html = dashboard::render(&view, "tok", &FlushQuery::default());
    assert!(
        html.contains("<span class=\"badge readiness-broken\" data-field=\"readiness_text\" \
                       title=\"mta_sts: mode enforce: &lt;mx2&gt; matches no mx line\">broken: mta_sts</span>"),
        "{html}"
    );
    assert!(html.contains("badge readiness-unchecked"), "{html}");
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["domains"][0]["readiness"], "broken");
    assert_eq!(json["domains"][0]["readiness_text"], "broken: mta_sts");
    assert_eq!(json["domains"][1]["readiness_text"], "not checked yet");
}

#[test]
fn dashboard_json_carries_the_same_figures() {
    let view = dashboard::view(&[domain("example.test", "misconfigured", 1)], NOW);
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["domains"][0]["state"], "misconfigured");
    assert_eq!(json["domains"][0]["messages"], 1);
    assert_eq!(json["histogram_labels"][2], "older");
}

#[test]
fn queue_list_escapes_and_links() {
    let q = ListQuery {
        domain: Some("example.test".into()),
        sender: Some(HOSTILE.into()),
        ..Default::default()
    };
    let html = queue::render(1, &[summary(HOSTILE)], &q, NOW, "tok");
    assert_escaped(&html);
    assert!(html.contains("href=\"/queue/00000000000000A1\""));
    assert!(html.contains("name=\"row\" value=\"hold:00000000000000A1\""));
    assert!(html.contains("<td class=\"num\">1m</td>"));
    assert!(html.contains("page 1 of 1 · 1 messages"));
    // The sort link keeps the filters, URL-encoded.
    assert!(html.contains("/queue?domain=example.test&amp;sender=%3Cscript%3Ealert%281%29%3C%2Fscript%3E&amp;sort=newest"));
}

#[test]
fn queue_list_pages() {
    let q = ListQuery {
        page: Some("2".into()),
        ..Default::default()
    };
    let filter = q.filter();
    assert_eq!(
        (filter.offset, filter.limit),
        (queue::PAGE_SIZE, queue::PAGE_SIZE)
    );
    let html = queue::render(120, &[], &q, NOW, "tok");
    assert!(html.contains("page 2 of 3"));
    assert!(html.contains("href=\"/queue\" rel=\"prev\""));
    assert!(html.contains("href=\"/queue?page=3\" rel=\"next\""));
    assert!(html.contains("No message matches."));
}

#[test]
fn page_numbers_are_bounded_never_wrapped() {
    let offset = |page: &str| {
        ListQuery {
            page: Some(page.into()),
            ..Default::default()
        }
        .filter()
        .offset
    };
    let last = (queue::MAX_PAGE - 1) * queue::PAGE_SIZE;
    assert_eq!(offset("9223372036854775809"), last);
    assert_eq!(offset("99999999999999999999999"), last);
    assert_eq!(offset("0"), 0);
    assert_eq!(offset("-3"), 0);
    assert_eq!(offset("x"), 0);
    assert_eq!(offset("3"), 2 * queue::PAGE_SIZE);
}

#[test]
fn action_forms_are_parsed() {
    let fields = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    };
    let bulk = parse_action(&fields(&[
        ("csrf", "t"),
        ("action", "hold"),
        ("id", "A1"),
        ("id", "B2"),
        ("back", "/queue?page=2"),
    ]));
    assert_eq!(bulk.action, "hold");
    assert_eq!(bulk.ids, vec!["A1", "B2"]);
    assert_eq!(bulk.back, "/queue?page=2");
    assert!(!bulk.confirmed);
    let row = parse_action(&fields(&[
        ("csrf", "t"),
        ("id", "A1"),
        ("row", "delete:C3"),
        ("confirm", "yes"),
    ]));
    assert_eq!(
        (row.action.as_str(), row.ids.clone(), row.confirmed),
        ("delete", vec!["C3".to_string()], true)
    );
    for evil in ["https://evil.test/", "//evil.test/", "/\\evil.test"] {
        assert_eq!(parse_action(&fields(&[("back", evil)])).back, "/queue");
    }
}

#[test]
fn confirmation_repeats_the_ids_and_escapes() {
    let request = parse_action(&[
        ("action".into(), "delete".into()),
        ("id".into(), HOSTILE.into()),
    ]);
    let html = queue::render_confirm(&request, "tok");
    assert_escaped(&html);
    assert!(html.contains("<input type=\"hidden\" name=\"confirm\" value=\"yes\">"));
    assert!(html.contains("removed from the queue for good"));
}

fn detail() -> MessageDetail {
    MessageDetail {
        summary: summary("sender@sender.test"),
        client_ip: "192.0.2.7".into(),
        helo: HOSTILE.into(),
        body_type: "8BITMIME",
        smtputf8: false,
        envid: None,
        history: vec![AttemptView {
            at_ms: NOW - 60_000,
            host: "mx1.example.test".into(),
            result: format!("451 4.3.0 {HOSTILE}"),
        }],
        checks: [("spf", "softfail"), ("dkim", "none"), ("dnsbl", "pass")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn message_page_shows_everything_as_text() {
    let raw = format!(
        "Subject: {HOSTILE}\r\nFrom: a@b.test\r\n\r\n<html><body>{HOSTILE}</body></html>\r\n"
    );
    let p = preview(raw.as_bytes(), false);
    assert_eq!(p.headers, format!("Subject: {HOSTILE}\r\nFrom: a@b.test"));
    assert!(p.text.contains(HOSTILE));
    let html = message::render(&detail(), &p, NOW, "tok");
    assert!(html.contains("dnsbl=pass spf=softfail dkim=none"), "{html}");
    assert_escaped(&html);
    assert!(!html.contains("<html><body>"));
    assert!(html.contains("mx1.example.test"));
    assert!(html.contains("href=\"/queue/00000000000000A1/eml\""));
    assert!(html.contains("<input type=\"hidden\" name=\"csrf\" value=\"tok\">"));
}

#[test]
fn preview_decodes_mime_text_and_truncates() {
    let raw = b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 au lait\r\n";
    assert_eq!(preview(raw, false).text.trim_end(), "Café au lait");
    let long = format!("Subject: long\n\n{}", "x".repeat(PREVIEW_CHARS + 10));
    let p = preview(long.as_bytes(), false);
    assert!(p.truncated);
    assert_eq!(p.text.chars().count(), PREVIEW_CHARS);
    let no_body = preview(b"Subject: only headers", true);
    assert_eq!(
        no_body,
        Preview {
            headers: "Subject: only headers".into(),
            subject: None,
            text: String::new(),
            truncated: true,
            note: None,
        }
    );
}

#[test]
fn encoded_subjects_are_decoded_and_still_escaped() {
    // "<b>Grüße</b>" in RFC 2047 base64.
    let raw = b"Subject: =?UTF-8?B?PGI+R3LDvMOfZTwvYj4=?=\r\n\r\nhi\r\n";
    let p = preview(raw, false);
    assert_eq!(p.subject.as_deref(), Some("<b>Grüße</b>"));
    let html = postmaster::render_message("B2", &p, "tok");
    assert!(html.contains("&lt;b&gt;Grüße&lt;/b&gt;"), "{html}");
    assert!(!html.contains("<b>Grü"));
}

#[test]
fn an_html_only_preview_says_why() {
    let html_only = b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b></p>\r\n";
    let p = preview(html_only, false);
    assert_eq!(p.note, Some(message::HTML_ONLY_NOTE));
    assert!(
        p.text.contains("Hello") && !p.text.contains("<b>"),
        "{}",
        p.text
    );
    let empty = b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<img src=\"cid:x\">\r\n";
    let p = preview(empty, false);
    assert_eq!(p.note, Some(message::HTML_EMPTY_NOTE));
    assert!(postmaster::render_message("B2", &p, "tok").contains("id=\"preview-note\""));
    let plain = preview(b"Subject: x\r\n\r\nplain\r\n", false);
    assert_eq!(plain.note, None);
}

#[test]
fn postmaster_and_audit_pages_escape() {
    let entry = postmaster::MailboxEntry {
        id: "00000000000000B2".into(),
        size: 10,
        from: HOSTILE.into(),
        subject: HOSTILE.into(),
    };
    assert_escaped(&postmaster::render_list(&[entry], "tok"));
    assert_escaped(&postmaster::render_message(
        "B2",
        &preview(format!("Subject: {HOSTILE}\n\nhi").as_bytes(), false),
        "tok",
    ));
    let row = AuditEntry {
        at_ms: NOW,
        who: "login-failed".into(),
        from_ip: "127.0.0.1".into(),
        action: "login".into(),
        detail: HOSTILE.into(),
        node: None,
    };
    let rows = [row];
    let html = audit::render(&rows, &rows, "tok");
    assert_escaped(&html);
    assert!(html.contains("<tr class=\"warn\">"));
}
