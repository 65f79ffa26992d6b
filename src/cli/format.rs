//! Terminal output of the CLI: aligned tables, short ages (`3h12m`), sizes, and text from the queue
//! made safe for a terminal (senders and errors are attacker-controlled: no escape sequences get through).

use std::time::Duration;

use backupmx::config::format_duration;
use serde_json::Value;

/// Ages and waits to their two most significant units: `45s`, `12m5s`, `3h12m`, `2d7h`.
pub fn short_age(ms: u64) -> String {
    let unit = if ms < 3_600_000 {
        1_000
    } else if ms < 86_400_000 {
        60_000
    } else {
        3_600_000
    };
    let truncated = ms / unit * unit;
    if truncated == 0 {
        return "0s".into();
    }
    format_duration(Duration::from_millis(truncated))
}

/// Bytes as `512B`, `12.3K`, `4.0M`, `1.2G`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["K", "M", "G", "T"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1}{}", UNITS[unit])
}

/// Control characters (ESC, CR, ...) escaped as `\u{1b}`, so that the text cannot drive the terminal.
pub fn clean(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// At most `max` characters, with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Columns padded to their widest cell; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let last = cells.len().saturating_sub(1);
        let padded: Vec<String> = cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last {
                    c
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

fn text(v: &Value, key: &str) -> String {
    clean(v.get(key).and_then(Value::as_str).unwrap_or(""))
}

fn number(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

fn age_since(v: &Value, key: &str, now_ms: u64) -> String {
    number(v, key).map_or("-".into(), |t| short_age(now_ms.saturating_sub(t)))
}

fn due_in(v: &Value, key: &str, now_ms: u64) -> String {
    match number(v, key) {
        None => "-".into(),
        Some(t) if t <= now_ms => "now".into(),
        Some(t) => format!("in {}", short_age(t - now_ms)),
    }
}

/// `backupmx status`: one row per domain, then the totals.
pub fn status_table(domains: &Value, now_ms: u64) -> String {
    let empty = Vec::new();
    let list = domains
        .get("domains")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            let state = match age_since(d, "since_ms", now_ms).as_str() {
                "-" => text(d, "state"),
                since => format!("{} {since}", text(d, "state")),
            };
            vec![
                text(d, "domain"),
                state,
                number(d, "messages").unwrap_or(0).to_string(),
                human_bytes(number(d, "bytes").unwrap_or(0)),
                age_since(d, "oldest_received_at_ms", now_ms),
                due_in(d, "next_attempt_at_ms", now_ms),
                cut(&text(d, "detail"), 60),
            ]
        })
        .collect();
    let headers = [
        "DOMAIN", "PRIMARY", "MESSAGES", "BYTES", "OLDEST", "NEXT", "DETAIL",
    ];
    let totals = domains.get("totals").cloned().unwrap_or_default();
    format!(
        "{}\ntotal: {} messages, {}\n",
        table(&headers, &rows),
        number(&totals, "messages").unwrap_or(0),
        human_bytes(number(&totals, "bytes").unwrap_or(0))
    )
}

fn recipients_of(m: &Value) -> Vec<Value> {
    m.get("recipients")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// `backupmx queue list`.
pub fn queue_table(listing: &Value, now_ms: u64) -> String {
    let empty = Vec::new();
    let messages = listing
        .get("messages")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let rows: Vec<Vec<String>> = messages
        .iter()
        .map(|m| {
            let recipients = recipients_of(m);
            let first = recipients
                .first()
                .map(|r| text(r, "address"))
                .unwrap_or_default();
            let more = if recipients.len() > 1 {
                format!(" +{}", recipients.len() - 1)
            } else {
                String::new()
            };
            let sender = match text(m, "sender").as_str() {
                "" => "<>".to_string(),
                s => s.to_string(),
            };
            vec![
                text(m, "id"),
                age_since(m, "received_at_ms", now_ms),
                human_bytes(number(m, "size").unwrap_or(0)),
                text(m, "status"),
                number(m, "attempts").unwrap_or(0).to_string(),
                cut(&sender, 40),
                cut(&format!("{first}{more}"), 40),
                cut(&text(m, "last_error"), 60),
            ]
        })
        .collect();
    let headers = [
        "ID",
        "AGE",
        "SIZE",
        "STATUS",
        "TRIES",
        "SENDER",
        "RECIPIENTS",
        "LAST ERROR",
    ];
    let total = number(listing, "total").unwrap_or(0);
    format!(
        "{}\n{} of {total} messages\n",
        table(&headers, &rows),
        rows.len()
    )
}

/// `backupmx queue show ID`.
pub fn message_detail(m: &Value, now_ms: u64) -> String {
    let sender = match text(m, "sender").as_str() {
        "" => "<>".to_string(),
        s => s.to_string(),
    };
    let mut out = String::new();
    let fields = [
        ("id", text(m, "id")),
        ("status", text(m, "status")),
        ("sender", sender),
        ("size", human_bytes(number(m, "size").unwrap_or(0))),
        ("age", age_since(m, "received_at_ms", now_ms)),
        ("attempts", number(m, "attempts").unwrap_or(0).to_string()),
        ("next attempt", due_in(m, "next_attempt_at_ms", now_ms)),
        (
            "client",
            format!("{} ({})", text(m, "client_ip"), text(m, "helo")),
        ),
        ("body", text(m, "body_type")),
    ];
    for (name, value) in fields {
        // One space at least after the longest name ("next attempt:").
        out.push_str(&format!("{:<14}{value}\n", format!("{name}:")));
    }
    let recipients: Vec<Vec<String>> = recipients_of(m)
        .iter()
        .map(|r| vec![text(r, "address"), text(r, "status"), text(r, "reply")])
        .collect();
    out.push('\n');
    out.push_str(&table(&["RECIPIENT", "STATUS", "REPLY"], &recipients));
    let history: Vec<Vec<String>> = m
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|a| {
            vec![
                format!("{} ago", age_since(a, "at_ms", now_ms)),
                text(a, "host"),
                text(a, "result"),
            ]
        })
        .collect();
    if !history.is_empty() {
        out.push('\n');
        out.push_str(&table(&["WHEN", "HOST", "RESULT"], &history));
    }
    out
}

/// `GET /api/v1/quarantine` as text: one cleaned line per item, or a line saying there is none.
pub fn quarantine_list(answer: &Value) -> String {
    let items: Vec<String> = answer
        .get("items")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(clean).collect())
        .unwrap_or_default();
    if items.is_empty() {
        return "nothing quarantined\n".to_string();
    }
    let mut out = format!("{} item(s) quarantined at the last start:\n", items.len());
    for item in items {
        out.push_str(&format!("  {item}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ages_keep_two_units() {
        assert_eq!(short_age(0), "0s");
        assert_eq!(short_age(999), "0s");
        assert_eq!(short_age(45_000), "45s");
        assert_eq!(short_age(12 * 60_000 + 5_500), "12m5s");
        assert_eq!(short_age(3 * 3_600_000 + 12 * 60_000 + 59_000), "3h12m");
        assert_eq!(short_age(2 * 86_400_000 + 7 * 3_600_000 + 1), "2d7h");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(0), "0B");
        assert_eq!(human_bytes(1023), "1023B");
        assert_eq!(human_bytes(1536), "1.5K");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0M");
    }

    #[test]
    fn terminal_escapes_are_neutralised() {
        assert_eq!(clean("a\u{1b}[31mb\r\n"), "a\\u{1b}[31mb\\u{d}\\u{a}");
        assert_eq!(clean("héllo <x>"), "héllo <x>");
    }

    #[test]
    fn tables_are_aligned() {
        let out = table(
            &["A", "BB"],
            &[
                vec!["long".into(), "x".into()],
                vec!["s".into(), "y".into()],
            ],
        );
        assert_eq!(out, "A     BB\nlong  x\ns     y\n");
    }

    #[test]
    fn status_shows_each_domain_and_totals() {
        let now = 10 * 3_600_000;
        let domains = json!({
            "domains": [{"domain": "example.test", "state": "down", "since_ms": now - 3_600_000,
                         "messages": 2, "bytes": 2048, "oldest_received_at_ms": now - 3 * 3_600_000 - 720_000,
                         "next_attempt_at_ms": now + 30_000, "detail": "connection refused\u{1b}"}],
            "totals": {"messages": 2, "bytes": 2048}
        });
        let out = status_table(&domains, now);
        assert!(out.contains("example.test  down 1h"), "{out}");
        assert!(
            out.contains("3h12m") && out.contains("in 30s") && out.contains("2.0K"),
            "{out}"
        );
        assert!(!out.contains('\u{1b}'), "{out}");
        assert!(out.ends_with("total: 2 messages, 2.0K\n"), "{out}");
    }

    #[test]
    fn queue_listing_and_detail() {
        let m = json!({"id": "00000000000000AB", "sender": "", "size": 10, "status": "deferred", "attempts": 2,
                       "received_at_ms": 0, "next_attempt_at_ms": 355_000, "recipients": [{"address": "a@example.test", "status": "pending"},
                       {"address": "b@example.test", "status": "pending"}], "last_error": "421 busy",
                       "history": [{"at_ms": 0, "host": "mx [127.0.0.1]", "result": "421 busy"}]});
        let out = queue_table(&json!({"total": 1, "messages": [m.clone()]}), 60_000);
        assert!(
            out.contains("00000000000000AB  1m  ")
                && out.contains("<>")
                && out.contains("a@example.test +1"),
            "{out}"
        );
        assert!(out.ends_with("1 of 1 messages\n"));
        let detail = message_detail(&m, 60_000);
        assert!(
            detail.contains("sender:       <>") && detail.contains("b@example.test"),
            "{detail}"
        );
        assert!(detail.contains("next attempt: in 4m55s\n"), "{detail}");
        assert!(
            detail.contains("1m ago  mx [127.0.0.1]  421 busy"),
            "{detail}"
        );
    }

    #[test]
    fn quarantine_list_lines_or_nothing() {
        assert_eq!(
            quarantine_list(&json!({ "items": [] })),
            "nothing quarantined\n"
        );
        let text = quarantine_list(&json!({ "items": ["journal 1: damaged", "body \u{1b}[31m"] }));
        assert!(text.starts_with("2 item(s) quarantined"), "{text}");
        assert!(text.contains("  journal 1: damaged\n"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }
}
