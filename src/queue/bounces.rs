//! The shell around the pure DSN builder: reads what the DSN needs from the spool, queues the DSN as
//! a new message from `<>` to the original sender, and hands it to the scheduler.

use std::net::{IpAddr, Ipv4Addr};
use std::time::SystemTime;

use tokio::io::AsyncReadExt;
use tracing::{info, warn};

use super::context::QueueContext;
use super::scheduler::BounceOrder;
use crate::bounce::{self, Action, Dsn, DsnInput, OriginalMessage, RecipientReport};
use crate::clock::{from_unix_ms, to_unix_ms};
use crate::envelope::{Envelope, Recipient, RecipientStatus, Route};
use crate::spool::StoredMessage;
use backupmx_smtp::EnhancedCode;

fn parse_status(text: &str, delayed: bool) -> EnhancedCode {
    let mut parts = text.split('.').map(|p| p.parse::<u16>().ok());
    match (
        parts.next().flatten(),
        parts.next().flatten(),
        parts.next().flatten(),
    ) {
        (Some(c @ (4 | 5)), Some(s), Some(d)) => EnhancedCode(c as u8, s, d),
        _ if delayed => EnhancedCode(4, 0, 0),
        _ => EnhancedCode(5, 0, 0),
    }
}

/// Builds and queues the DSN for `order`. Failures are logged: the original's own state still moves on.
pub async fn send_dsn(ctx: &QueueContext, message: &StoredMessage, order: &BounceOrder) {
    let envelope = &message.envelope;
    if envelope.is_null_sender() && !order.delayed {
        keep_double_bounce(ctx, message).await;
        return;
    }
    let action = if order.delayed {
        Action::Delayed
    } else {
        Action::Failed
    };
    let now = ctx.now();
    let reports = reports_of(order, action, now);
    if !anyone_to_notify(envelope, &reports, action) {
        return;
    }
    let full = bounce::returns_full_body(envelope, message.size as usize, action);
    let original = match read_original(ctx, message, full).await {
        Ok(bytes) => bytes,
        Err(e) => {
            warn!(id = %message.id, error = %e, "cannot read the original for a DSN; sending headers we have");
            Vec::new()
        }
    };
    let writer = ctx.store().body_writer();
    let input = DsnInput {
        reporting_mta: ctx.hostname(),
        envelope,
        reports: &reports,
        original: if full {
            OriginalMessage::Full(&original)
        } else {
            OriginalMessage::HeadersOnly(&original)
        },
        now,
        will_retry_until: Some(from_unix_ms(envelope.received_at_ms) + ctx.max_lifetime()),
        seed: writer.id().0,
    };
    let dsn = match bounce::build_dsn(&input) {
        Ok(Some(dsn)) => dsn,
        Ok(None) => return,
        Err(e) => {
            warn!(id = %message.id, error = %e, "cannot build a DSN");
            return;
        }
    };
    let Some(dsn_envelope) = envelope_of(&dsn, ctx.hostname(), now) else {
        warn!(id = %message.id, sender = %dsn.recipient, "sender has no domain; DSN not sent");
        return;
    };
    let mut writer = writer;
    if let Err(e) = writer.write(&dsn.message).await {
        warn!(id = %message.id, error = %e, "cannot spool a DSN");
        return;
    }
    match ctx.store().commit(dsn_envelope, writer).await {
        Ok(stored) => {
            info!(id = %message.id, dsn = %stored.id, to = %dsn.recipient, ?action, "DSN queued");
            ctx.submit(stored);
            ctx.wake();
        }
        Err(e) => warn!(id = %message.id, error = %e, "cannot spool a DSN"),
    }
}

/// One report per recipient the order names, as of `now`.
fn reports_of(order: &BounceOrder, action: Action, now: SystemTime) -> Vec<RecipientReport> {
    order
        .recipients
        .iter()
        .map(|(index, status, diagnostic, remote)| RecipientReport {
            index: *index,
            action,
            status: parse_status(status, order.delayed),
            remote_mta: remote.clone(),
            diagnostic: Some(diagnostic.clone()),
            last_attempt: Some(now),
        })
        .collect()
}

/// Whether any reported recipient asked to be told (NOTIFY, or the default for `action`).
fn anyone_to_notify(envelope: &Envelope, reports: &[RecipientReport], action: Action) -> bool {
    reports.iter().any(|r| {
        envelope
            .recipients
            .get(r.index)
            .is_some_and(|rcpt| bounce::should_notify(envelope, rcpt, action))
    })
}

/// The DSN's own envelope: from `<>` to the original sender, relayed by MX to the sender's domain;
/// `None` when the sender address has no domain.
fn envelope_of(dsn: &Dsn, hostname: &str, now: SystemTime) -> Option<Envelope> {
    let (_, domain) = dsn.recipient.rsplit_once('@')?;
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    Some(Envelope {
        sender: String::new(),
        recipients: vec![Recipient {
            address: dsn.recipient.clone(),
            route: Route::Relay { domain },
            notify: None,
            orcpt: None,
            status: RecipientStatus::Pending,
        }],
        body_type: dsn.body_type,
        smtputf8: dsn.smtputf8,
        ret: None,
        envid: None,
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        helo: hostname.to_string(),
        received_at_ms: to_unix_ms(now),
        auth: None,
    })
}

/// A message from `<>` (a bounce) that failed for good cannot be returned to anyone: it goes to the
/// local postmaster mailbox, where the console shows it, instead of vanishing.
async fn keep_double_bounce(ctx: &QueueContext, message: &StoredMessage) {
    match ctx.store().keep_for_postmaster(message.id).await {
        Ok(()) => info!(id = %message.id, "undeliverable bounce kept in the postmaster mailbox"),
        Err(e) => {
            warn!(id = %message.id, error = %e, "cannot keep a double bounce for the postmaster")
        }
    }
}

/// The original as the DSN returns it: whole, or its header block only.
async fn read_original(
    ctx: &QueueContext,
    message: &StoredMessage,
    full: bool,
) -> Result<Vec<u8>, crate::spool::SpoolError> {
    let mut body = ctx.store().open_body(message.id).await?;
    let limit = if full {
        bounce::MAX_RETURNED_BODY as u64
    } else {
        256 * 1024
    };
    let mut bytes = Vec::new();
    (&mut body).take(limit).read_to_end(&mut bytes).await?;
    if !full && let Some(end) = find_header_end(&bytes) {
        bytes.truncate(end);
    }
    Ok(bytes)
}

fn find_header_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
}
