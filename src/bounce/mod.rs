//! Bounce building: pure construction of RFC 3464 delivery status notifications (no I/O).
//!
//! [`build_dsn`] turns an envelope, per-recipient reports and the original message into a
//! `multipart/report; report-type=delivery-status` message with three parts: a human-readable
//! `text/plain`, a 7-bit `message/delivery-status`, and the original as `message/rfc822` (full) or
//! `text/rfc822-headers` (RET=HDRS, delay warnings, messages over [`MAX_RETURNED_BODY`], or BINARYMIME
//! bodies that could not travel in a 7/8-bit DSN). [`should_notify`] applies RFC 3461 NOTIFY and the
//! "never bounce a bounce" rule. The DSN is sent from `<>` to the original sender.

mod message;
mod status;
#[cfg(test)]
mod tests;
mod text;

use std::time::SystemTime;

use backupmx_smtp::EnhancedCode;

use crate::envelope::{BodyType, Envelope, Recipient, Ret};

/// Largest original (in bytes) returned in full; bigger ones come back as headers only, like Postfix's
/// `bounce_size_limit` (50 KB there; 100 KiB here, enough for ordinary text mail).
pub const MAX_RETURNED_BODY: usize = 100 * 1024;

/// The Action field of one recipient's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Permanently failed (5xx, or expired in the queue).
    Failed,
    /// Still queued after the delay-warning time; will be retried.
    Delayed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
        }
    }
}

/// What happened to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientReport {
    /// Index into the envelope's recipients.
    pub index: usize,
    pub action: Action,
    /// RFC 3463 status: 5.x.x for failed, 4.x.x for delayed.
    pub status: EnhancedCode,
    /// The host that gave the reply, when one did.
    pub remote_mta: Option<String>,
    /// The remote reply (`550 5.1.1 No such user`) or our own reason (`delivery time expired`).
    pub diagnostic: Option<String>,
    pub last_attempt: Option<SystemTime>,
}

/// The original message as the spool can give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginalMessage<'a> {
    /// The whole message (headers and body), as spooled.
    Full(&'a [u8]),
    /// Only the header block (the shell need not read a big body: see [`returns_full_body`]).
    HeadersOnly(&'a [u8]),
}

/// Everything a DSN is built from; no field is read from the environment.
#[derive(Debug, Clone, Copy)]
pub struct DsnInput<'a> {
    /// Our host name: `Reporting-MTA` and the `MAILER-DAEMON@` address.
    pub reporting_mta: &'a str,
    pub envelope: &'a Envelope,
    pub reports: &'a [RecipientReport],
    pub original: OriginalMessage<'a>,
    pub now: SystemTime,
    /// `Will-Retry-Until` for delayed recipients (arrival + maximum queue lifetime).
    pub will_retry_until: Option<SystemTime>,
    /// Makes the Message-ID and the MIME boundary unique yet reproducible (e.g. the new queue id).
    pub seed: u64,
}

/// A built DSN with the envelope it must be queued with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// Always empty: a DSN is sent from the null reverse path `<>`.
    pub sender: String,
    /// The original envelope sender.
    pub recipient: String,
    pub message: Vec<u8>,
    /// `EightBitMime` when the returned original carries 8-bit bytes.
    pub body_type: BodyType,
    /// True when the recipient address or the returned content needs SMTPUTF8.
    pub smtputf8: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BounceError {
    #[error("report for recipient #{0}, but the envelope has no such recipient")]
    NoSuchRecipient(usize),
}

impl BounceError {
    /// Building a DSN is internal: a failure is our bug, reported as a local error.
    pub fn reply_code(&self) -> u16 {
        451
    }
    pub fn enhanced_code(&self) -> EnhancedCode {
        EnhancedCode(4, 3, 0)
    }
    pub fn is_temporary(&self) -> bool {
        true
    }
}

/// Whether the sender wants (and may get) a DSN with `action` for this recipient: never for a `<>`
/// sender; NOTIFY=NEVER means none; when NOTIFY was given, only the listed conditions; without NOTIFY,
/// failures and delays are both reported (RFC 3461 §4.1 default; delay warnings can be turned off in
/// config).
pub fn should_notify(envelope: &Envelope, recipient: &Recipient, action: Action) -> bool {
    if envelope.is_null_sender() {
        return false;
    }
    match (recipient.notify, action) {
        (None, _) => true,
        (Some(notify), Action::Failed) => notify.failure,
        (Some(notify), Action::Delayed) => notify.delay,
    }
}

/// [`should_notify`] for a permanent failure.
pub fn should_bounce(envelope: &Envelope, recipient: &Recipient) -> bool {
    should_notify(envelope, recipient, Action::Failed)
}

/// Whether a DSN for this envelope would include the full original of `size` bytes, so the shell knows
/// whether to read the body. Delay warnings always return headers only.
pub fn returns_full_body(envelope: &Envelope, size: usize, action: Action) -> bool {
    action == Action::Failed
        && envelope.ret != Some(Ret::Headers)
        && envelope.body_type != BodyType::BinaryMime
        && size <= MAX_RETURNED_BODY
}

/// Builds the DSN for the reports the sender asked for. `Ok(None)` when there is nothing to send (a `<>`
/// sender, or NOTIFY excludes every report).
pub fn build_dsn(input: &DsnInput<'_>) -> Result<Option<Dsn>, BounceError> {
    let envelope = input.envelope;
    let mut wanted = Vec::with_capacity(input.reports.len());
    for report in input.reports {
        let recipient = envelope
            .recipients
            .get(report.index)
            .ok_or(BounceError::NoSuchRecipient(report.index))?;
        if should_notify(envelope, recipient, report.action) {
            wanted.push((report, recipient));
        }
    }
    if wanted.is_empty() {
        return Ok(None);
    }
    Ok(Some(message::assemble(input, &wanted)))
}
