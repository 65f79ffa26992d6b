//! Pure: an alert as one webhook's request: the body in its format (our JSON, Slack's
//! `{"text": ...}`, ntfy's plain text with `Title`, `Priority` and `Tags`), the content type, extra
//! headers, and the `X-Backupmx-Signature: sha256=<hex>` HMAC of the exact body when a secret is set.

use ring::hmac;
use serde_json::json;

use super::event::Alert;
use crate::config::{AlertFormat, Webhook};

/// The header carrying the body's HMAC-SHA256 (`sha256=` and lower-case hex).
pub const SIGNATURE_HEADER: &str = "X-Backupmx-Signature";
/// The header naming the event (every format), so a receiver can route without parsing.
pub const EVENT_HEADER: &str = "X-Backupmx-Event";

/// A request ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

/// `hostname`: ours, so a receiver fed by several backup MXes knows which one speaks.
pub fn request(alert: &Alert, webhook: &Webhook, hostname: &str) -> Request {
    let (body, content_type, mut headers) = match webhook.format {
        AlertFormat::Json => (json_body(alert, hostname), "application/json", Vec::new()),
        AlertFormat::Slack => (slack_body(alert, hostname), "application/json", Vec::new()),
        AlertFormat::Ntfy => (
            alert.text.clone().into_bytes(),
            "text/plain; charset=utf-8",
            ntfy_headers(alert, hostname),
        ),
    };
    headers.insert(0, ("Content-Type".into(), content_type.into()));
    headers.push((EVENT_HEADER.into(), alert.event.clone()));
    if let Some(secret) = &webhook.secret {
        headers.push((SIGNATURE_HEADER.into(), signature(secret.expose(), &body)));
    }
    headers.extend(webhook.headers.iter().cloned());
    Request { body, headers }
}

/// `sha256=<hex>` of HMAC-SHA256(`secret`, `body`).
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn json_body(alert: &Alert, hostname: &str) -> Vec<u8> {
    let value = json!({
        "id": alert.id,
        "event": alert.event,
        "state": alert.state(),
        "host": hostname,
        "subject": alert.subject,
        "text": alert.text,
        "at_ms": alert.at_ms,
        "details": alert.details,
    });
    value.to_string().into_bytes()
}

/// Slack's incoming webhooks take `{"text": ...}` (mrkdwn); the first line says who and what.
fn slack_body(alert: &Alert, hostname: &str) -> Vec<u8> {
    let mark = if alert.resolved {
        "[resolved]"
    } else {
        "[alert]"
    };
    let text = format!("{mark} *{}* on {hostname}: {}", alert.event, alert.text);
    json!({ "text": text }).to_string().into_bytes()
}

/// ntfy (docs.ntfy.sh/publish): `Title`, `Priority` (1 to 5 or a name) and `Tags` (comma-separated,
/// emoji short codes) as headers; header values kept to printable ASCII.
fn ntfy_headers(alert: &Alert, hostname: &str) -> Vec<(String, String)> {
    let subject = alert
        .subject
        .as_deref()
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    let title = format!(
        "backupmx {hostname}: {}{subject}{}",
        alert.event,
        if alert.resolved { " (resolved)" } else { "" }
    );
    let (priority, tag) = match (alert.event.as_str(), alert.resolved) {
        (_, true) | ("primary_up" | "primary_drained" | "test", _) => {
            ("default", "white_check_mark")
        }
        ("primary_down" | "disk_space" | "node_lost", false) => ("urgent", "rotating_light"),
        _ => ("high", "warning"),
    };
    vec![
        ("Title".into(), ascii(&title)),
        ("Priority".into(), priority.into()),
        ("Tags".into(), format!("{tag},backupmx")),
    ]
}

fn ascii(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::parse_webhook_url;

    fn alert() -> Alert {
        Alert {
            id: 7,
            event: "primary_down".into(),
            resolved: false,
            subject: Some("example.test".into()),
            text: "primary of example.test unreachable for 5m".into(),
            at_ms: 1_000,
            details: BTreeMap::from([("queued".to_string(), json!(3))]),
        }
    }

    fn webhook(format: AlertFormat, secret: Option<&str>) -> Webhook {
        let toml = format!(
            "[[alert]]\nurl = \"http://127.0.0.1:9/\"\n{}\n[[domain]]\nname = \"a.test\"\n",
            secret
                .map(|s| format!("secret = \"{s}\""))
                .unwrap_or_default()
        );
        let config = crate::config::Config::from_toml_str(&toml, "t.toml").unwrap();
        let mut hook = config.alerts.webhooks[0].clone();
        hook.format = format;
        hook.url = parse_webhook_url("http://127.0.0.1:9/").unwrap();
        hook
    }

    fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn json_carries_everything() {
        let request = request(&alert(), &webhook(AlertFormat::Json, None), "mx2.test");
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["event"], "primary_down");
        assert_eq!(body["state"], "firing");
        assert_eq!(body["subject"], "example.test");
        assert_eq!(body["host"], "mx2.test");
        assert_eq!(body["details"]["queued"], 3);
        assert_eq!(header(&request, "Content-Type"), Some("application/json"));
        assert_eq!(header(&request, SIGNATURE_HEADER), None);
    }

    #[test]
    fn slack_is_a_text_object() {
        let request = request(&alert(), &webhook(AlertFormat::Slack, None), "mx2.test");
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body.as_object().unwrap().len(), 1);
        assert_eq!(
            body["text"],
            "[alert] *primary_down* on mx2.test: primary of example.test unreachable for 5m"
        );
    }

    #[test]
    fn ntfy_is_plain_text_with_title_priority_and_tags() {
        let request = request(&alert(), &webhook(AlertFormat::Ntfy, None), "mx2.test");
        assert_eq!(request.body, alert().text.as_bytes());
        assert_eq!(
            header(&request, "Title"),
            Some("backupmx mx2.test: primary_down example.test")
        );
        assert_eq!(header(&request, "Priority"), Some("urgent"));
        assert_eq!(header(&request, "Tags"), Some("rotating_light,backupmx"));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let secret = "0123456789abcdef";
        let request = request(&alert(), &webhook(AlertFormat::Json, Some(secret)), "h");
        assert_eq!(
            header(&request, SIGNATURE_HEADER),
            Some(signature(secret, &request.body).as_str())
        );
    }
}
