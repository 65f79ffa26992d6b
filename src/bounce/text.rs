//! The human-readable first part of a DSN: what happened, to which recipients, and what the remote
//! server said.

use std::fmt::Write as _;

use super::status::{printable_ascii, rfc822_date};
use super::{Action, DsnInput, RecipientReport};
use crate::envelope::Recipient;

const FAILED_INTRO: &str = "\
Your message could not be delivered to one or more of its recipients.
This is a permanent error; the mail system has given up on the recipients
listed below. The original message is attached.";

const DELAYED_INTRO: &str = "\
Your message has not yet been delivered to one or more of its recipients.
The mail system is still trying; you do not need to send it again.";

/// Lines for one recipient: the address, then what the remote said (or our own reason).
fn recipient_lines(report: &RecipientReport, recipient: &Recipient, out: &mut String) {
    // Addresses are shown as received: this part is text/plain, so markup in them is inert.
    let _ = writeln!(out, "<{}>:", recipient.address.replace(['\r', '\n'], " "));
    let said = report.diagnostic.as_deref().map(printable_ascii);
    match (report.remote_mta.as_deref(), said) {
        (Some(host), Some(said)) => {
            let _ = writeln!(out, "    host {} said: {said}", printable_ascii(host));
        }
        (None, Some(said)) => {
            let _ = writeln!(out, "    {said}");
        }
        (Some(host), None) => {
            let _ = writeln!(out, "    while talking to host {}", printable_ascii(host));
        }
        (None, None) => {
            let _ = writeln!(out, "    status {}", report.status);
        }
    }
}

fn section(
    title: &str,
    action: Action,
    wanted: &[(&RecipientReport, &Recipient)],
    out: &mut String,
) {
    let mut matching = wanted.iter().filter(|(r, _)| r.action == action).peekable();
    if matching.peek().is_none() {
        return;
    }
    let _ = writeln!(out, "\n{title}\n");
    for (report, recipient) in matching {
        recipient_lines(report, recipient, out);
    }
}

/// The text/plain body, CRLF line ends.
pub(super) fn human_readable(
    input: &DsnInput<'_>,
    wanted: &[(&RecipientReport, &Recipient)],
) -> String {
    let host = printable_ascii(input.reporting_mta);
    let failed = wanted.iter().any(|(r, _)| r.action == Action::Failed);
    let delayed = wanted.iter().any(|(r, _)| r.action == Action::Delayed);
    let mut out = format!("This is the mail system at host {host}.\n\n");
    out.push_str(if failed { FAILED_INTRO } else { DELAYED_INTRO });
    out.push('\n');
    if delayed && let Some(until) = input.will_retry_until {
        let _ = writeln!(
            out,
            "\nDelivery will be retried until {}.",
            rfc822_date(until)
        );
    }
    section(
        "Delivery to these recipients failed:",
        Action::Failed,
        wanted,
        &mut out,
    );
    section(
        "Delivery to these recipients is delayed:",
        Action::Delayed,
        wanted,
        &mut out,
    );
    out.push_str("\nIf you need help, contact your postmaster and include this report.\n");
    out.replace('\n', "\r\n")
}
