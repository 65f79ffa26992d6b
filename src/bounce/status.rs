//! The `message/delivery-status` body (RFC 3464 §2.2, §2.3): per-message and per-recipient fields,
//! always 7-bit and one field per line, whatever the remote server or the client sent us.

use std::fmt::Write as _;
use std::time::SystemTime;

use mail_builder::headers::date::Date;

use super::{Action, DsnInput, RecipientReport};
use crate::clock::{from_unix_ms, to_unix_ms};
use crate::envelope::Recipient;

/// Longest field value kept (RFC 5322 lines stay far below 998 octets).
const MAX_FIELD: usize = 900;

/// RFC 5322 date-time (UTC).
pub(super) fn rfc822_date(at: SystemTime) -> String {
    Date::new((to_unix_ms(at) / 1000) as i64).to_rfc822()
}

/// A field value made safe: control characters become spaces, non-ASCII becomes `?`, runs of blanks
/// collapse, and the length is capped. Nothing a remote server sends can start a new field or part.
pub(super) fn printable_ascii(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_FIELD));
    for c in value.chars() {
        let c = match c {
            ' '..='~' => c,
            c if c.is_control() => ' ',
            _ => '?',
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        if out.len() >= MAX_FIELD {
            break;
        }
        out.push(c);
    }
    out.trim_end().to_owned()
}

/// `rfc822; addr` for ASCII addresses, else RFC 6533 `utf-8; addr` with `\x{HEX}` escapes so the part
/// stays 7-bit.
pub(super) fn typed_address(address: &str) -> String {
    if address.chars().all(|c| matches!(c, ' '..='~')) {
        return format!("rfc822; {address}");
    }
    let mut out = String::from("utf-8; ");
    for c in address.chars() {
        match c {
            '!'..='~' if !matches!(c, '+' | '=' | '\\') => out.push(c),
            _ => {
                let _ = write!(out, "\\x{{{:X}}}", c as u32);
            }
        }
    }
    out
}

/// ORCPT is kept as `type;address`; an untyped value is taken as rfc822.
fn original_recipient(orcpt: &str) -> String {
    match orcpt.split_once(';') {
        Some((kind, address)) => {
            format!(
                "{}; {}",
                printable_ascii(kind.trim()),
                printable_ascii(address.trim())
            )
        }
        None => format!("rfc822; {}", printable_ascii(orcpt.trim())),
    }
}

/// `smtp; <reply>` when the text is an SMTP reply (starts with a 3-digit code), else our own
/// diagnostic type for network, DNS and queue reasons.
fn diagnostic_code(diagnostic: &str) -> String {
    let text = printable_ascii(diagnostic);
    let is_reply = text.len() >= 3
        && text.as_bytes()[..3].iter().all(u8::is_ascii_digit)
        && text
            .as_bytes()
            .get(3)
            .is_none_or(|b| matches!(b, b' ' | b'-'));
    let kind = if is_reply { "smtp" } else { "X-Backupmx" };
    format!("{kind}; {text}")
}

fn field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
}

fn per_message_fields(input: &DsnInput<'_>, out: &mut String) {
    let envelope = input.envelope;
    field(
        out,
        "Reporting-MTA",
        &format!("dns; {}", printable_ascii(input.reporting_mta)),
    );
    if let Some(envid) = envelope.envid.as_deref() {
        field(out, "Original-Envelope-Id", &printable_ascii(envid));
    }
    let helo = printable_ascii(&envelope.helo);
    if !helo.is_empty() {
        let from = format!("dns; {helo} ({})", envelope.client_ip);
        field(out, "Received-From-MTA", &from);
    }
    let arrival = from_unix_ms(envelope.received_at_ms);
    field(out, "Arrival-Date", &rfc822_date(arrival));
}

fn per_recipient_fields(
    input: &DsnInput<'_>,
    report: &RecipientReport,
    recipient: &Recipient,
    out: &mut String,
) {
    if let Some(orcpt) = recipient.orcpt.as_deref() {
        field(out, "Original-Recipient", &original_recipient(orcpt));
    }
    field(out, "Final-Recipient", &typed_address(&recipient.address));
    field(out, "Action", report.action.as_str());
    field(out, "Status", &report.status.to_string());
    if let Some(host) = report.remote_mta.as_deref() {
        field(
            out,
            "Remote-MTA",
            &format!("dns; {}", printable_ascii(host)),
        );
    }
    if let Some(diagnostic) = report.diagnostic.as_deref() {
        field(out, "Diagnostic-Code", &diagnostic_code(diagnostic));
    }
    if let Some(at) = report.last_attempt {
        field(out, "Last-Attempt-Date", &rfc822_date(at));
    }
    if report.action == Action::Delayed
        && let Some(until) = input.will_retry_until
    {
        field(out, "Will-Retry-Until", &rfc822_date(until));
    }
}

/// The whole delivery-status body: the per-message block, then one block per recipient, each block
/// preceded by an empty line.
pub(super) fn delivery_status(
    input: &DsnInput<'_>,
    wanted: &[(&RecipientReport, &Recipient)],
) -> String {
    let mut out = String::new();
    per_message_fields(input, &mut out);
    for (report, recipient) in wanted {
        out.push_str("\r\n");
        per_recipient_fields(input, report, recipient, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_neutralises_injection() {
        assert_eq!(
            printable_ascii("550 no\r\nAction: delivered"),
            "550 no Action: delivered"
        );
        assert_eq!(printable_ascii("  caf\u{e9}\t ok  "), "caf? ok");
        assert_eq!(printable_ascii(&"x".repeat(5000)).len(), MAX_FIELD);
    }

    #[test]
    fn addresses_are_typed() {
        assert_eq!(typed_address("a@b.test"), "rfc822; a@b.test");
        assert_eq!(
            typed_address("j\u{f6}rg+x@b.test"),
            "utf-8; j\\x{F6}rg\\x{2B}x@b.test"
        );
    }

    #[test]
    fn diagnostic_type_follows_the_text() {
        assert_eq!(diagnostic_code("550 5.1.1 no"), "smtp; 550 5.1.1 no");
        assert_eq!(diagnostic_code("421"), "smtp; 421");
        assert_eq!(diagnostic_code("4219 x"), "X-Backupmx; 4219 x");
        assert_eq!(diagnostic_code("timeout"), "X-Backupmx; timeout");
    }

    #[test]
    fn orcpt_keeps_its_type() {
        assert_eq!(original_recipient("rfc822;a@b.test"), "rfc822; a@b.test");
        assert_eq!(original_recipient("a@b.test"), "rfc822; a@b.test");
    }
}
