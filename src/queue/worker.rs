//! Delivery workers (one SMTP connection carrying message after message to one destination), the
//! recovery probe, and the deferral of due mail while a destination is down.

use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tracing::{info, warn};

use super::order::Claim;
use super::outcome::{Recorder, apply_batch, decide, finish};
use super::runner::QueueContext;
use super::scheduler::{POSTMASTER, RecipientResult};
use crate::clock::to_unix_ms;
use crate::config::DomainConfig;
use crate::delivery::{Connection, Message, RecipientOutcome, RouteError};
use crate::envelope::Attempt;

/// More `Received:` headers than this means the message is looping (RFC 5321 §6.3).
pub const MAX_HOPS: usize = 50;
/// How much of a body is read to count its `Received:` headers.
const HEADER_PEEK: usize = 64 * 1024;

/// The domain settings for a destination: the configured domain, or a plain MX route (DSNs to senders).
fn domain_config(ctx: &QueueContext, dest: &str) -> DomainConfig {
    ctx.config
        .domains
        .iter()
        .find(|d| d.name == dest)
        .cloned()
        .unwrap_or(DomainConfig {
            name: dest.to_string(),
            subdomains: false,
            primary: None,
            tls: Default::default(),
        })
}

/// One delivery connection for `dest`: route, connect, then send claimable messages until none is
/// left or the connection breaks.
pub async fn deliver(ctx: Arc<QueueContext>, dest: String) {
    if dest == POSTMASTER {
        deliver_local(&ctx).await;
    } else if let Some(conn) = connect(&ctx, &dest).await {
        send_all(&ctx, &dest, conn).await;
    }
    ctx.scheduler().worker_stopped(&dest);
    ctx.wake.notify_one();
}

async fn connect(ctx: &QueueContext, dest: &str) -> Option<Connection> {
    let domain = domain_config(ctx, dest);
    let hosts = match ctx.deliverer.resolve(&domain).await {
        Ok(hosts) => hosts,
        Err(e) => {
            route_failed(ctx, dest, &e);
            return None;
        }
    };
    match ctx.deliverer.connect_for(&domain, &hosts).await {
        Ok(conn) => {
            let recovered = ctx.scheduler().mark_up(dest, ctx.clock.now());
            if recovered {
                info!(
                    destination = dest,
                    host = conn.host(),
                    "destination is back; flushing its queue"
                );
            }
            ctx.wake.notify_one();
            Some(conn)
        }
        Err(e) => {
            warn!(destination = dest, error = %e, "cannot reach any host");
            if e.is_unreachable() {
                ctx.scheduler()
                    .mark_unreachable(dest, e.to_string(), ctx.clock.now());
            } else {
                // It answers but refuses us (e.g. 5xx to EHLO): due mail is deferred with that reply.
                let reply = e.to_reply().to_one_line();
                defer_due(ctx, dest, &reply).await;
            }
            None
        }
    }
}

fn route_failed(ctx: &QueueContext, dest: &str, e: &RouteError) {
    let now = ctx.clock.now();
    match e {
        RouteError::Misconfigured(reason) => {
            warn!(destination = dest, %reason, "destination misconfigured; mail stays queued");
            ctx.scheduler()
                .mark_misconfigured(dest, reason.to_string(), now);
        }
        RouteError::Dns(err) => {
            warn!(destination = dest, error = %err, "DNS look-up failed");
            ctx.scheduler().mark_unreachable(dest, e.to_string(), now);
        }
    }
}

/// Results are made durable in the background while the next message is already being sent: the
/// connection does not wait for an fsync per message. A crash in between can only repeat a delivery,
/// never lose one.
async fn send_all(ctx: &Arc<QueueContext>, dest: &str, mut conn: Connection) {
    let host = format!("{} [{}]", conn.host(), conn.peer());
    let recorder = Recorder::start(ctx.clone());
    while !ctx.shutting_down() {
        let now = ctx.clock.now();
        let Some((claim, message)) = claim_with_message(ctx, dest, now) else {
            break;
        };
        let results = match open_checked(ctx, &message).await {
            Err(result) => claim
                .recipients
                .iter()
                .map(|i| (*i, result.clone()))
                .collect(),
            Ok(body) => {
                let msg = Message {
                    envelope: &message.envelope,
                    recipients: &claim.recipients,
                    size: message.size,
                };
                let started = std::time::Instant::now();
                let report = conn.send(&msg, body).await;
                metrics::histogram!("backupmx_delivery_attempt_duration_seconds")
                    .record(started.elapsed().as_secs_f64());
                let results: Vec<_> = report
                    .recipients
                    .into_iter()
                    .map(|(i, o)| (i, result_of(o)))
                    .collect();
                if !report.reusable {
                    let consequences = decide(ctx, dest, &claim, &message, &results, &host);
                    recorder.record(message, consequences).await;
                    recorder.finish().await;
                    return;
                }
                results
            }
        };
        let consequences = decide(ctx, dest, &claim, &message, &results, &host);
        recorder.record(message, consequences).await;
    }
    conn.quit().await;
    recorder.finish().await;
}

/// The next message a connection to `dest` may send, with a copy of its state.
fn claim_with_message(
    ctx: &QueueContext,
    dest: &str,
    now: std::time::SystemTime,
) -> Option<(Claim, crate::spool::StoredMessage)> {
    let mut sched = ctx.scheduler();
    let claim = sched.claim(dest, now)?;
    let message = sched.message(claim.id).cloned()?;
    Some((claim, message))
}

/// Opens the body, refusing a looping message (too many Received headers) with 5.4.6.
async fn open_checked(
    ctx: &QueueContext,
    message: &crate::spool::StoredMessage,
) -> Result<impl tokio::io::AsyncRead + Unpin + use<>, RecipientResult> {
    let mut body = ctx.spool.open_body(message.id).await.map_err(|e| {
        RecipientResult::Deferred(format!(
            "451 4.3.0 local error reading the queued message: {e}"
        ))
    })?;
    let mut head = Vec::with_capacity(HEADER_PEEK.min(message.size as usize));
    (&mut body)
        .take(HEADER_PEEK as u64)
        .read_to_end(&mut head)
        .await
        .map_err(|e| RecipientResult::Deferred(format!("451 4.3.0 local read error: {e}")))?;
    if count_received(&head) > MAX_HOPS {
        return Err(RecipientResult::Failed {
            reply: format!(
                "554 5.4.6 too many hops (more than {MAX_HOPS} Received headers): mail loop"
            ),
            status: "5.4.6".into(),
        });
    }
    Ok(std::io::Cursor::new(head).chain(body))
}

/// Counts `Received:` header fields in the header block at the start of `message`.
pub fn count_received(message: &[u8]) -> usize {
    let mut count = 0;
    for line in message.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"received:") {
            count += 1;
        }
    }
    count
}

fn result_of(outcome: RecipientOutcome) -> RecipientResult {
    match outcome {
        RecipientOutcome::Delivered(r) => RecipientResult::Delivered(r.reply.to_one_line()),
        RecipientOutcome::Deferred(r) => RecipientResult::Deferred(r.reply.to_one_line()),
        RecipientOutcome::Failed(r) => RecipientResult::Failed {
            status: r
                .reply
                .enhanced
                .map_or_else(|| "5.0.0".to_string(), |e| e.to_string()),
            reply: r.reply.to_one_line(),
        },
    }
}

/// Defers every due message of `dest` with `reason`, without connecting. All of them are recorded in
/// one spool update (one group commit), not one fsync each.
async fn defer_due(ctx: &QueueContext, dest: &str, reason: &str) {
    let now = ctx.clock.now();
    let at_ms = to_unix_ms(now);
    let mut finished = Vec::new();
    {
        let mut sched = ctx.scheduler();
        while let Some(claim) = sched.claim_for_deferral(dest, now) {
            let Some(message) = sched.message(claim.id).cloned() else {
                continue;
            };
            let results: Vec<_> = claim
                .recipients
                .iter()
                .map(|i| (*i, RecipientResult::Deferred(reason.to_string())))
                .collect();
            let attempt = Attempt {
                at_ms,
                host: "(not connected)".into(),
                result: reason.to_string(),
            };
            metrics::counter!("backupmx_deferred_total").increment(results.len() as u64);
            let consequences = sched.finish(dest, &claim, &results, attempt, now);
            finished.push((message, consequences));
        }
    }
    if finished.is_empty() {
        return;
    }
    info!(
        destination = dest,
        messages = finished.len(),
        reason,
        "deferred without connecting"
    );
    apply_batch(ctx, finished).await;
}

/// Defers due mail of a destination that is unreachable or misconfigured (it is probed separately).
pub async fn defer_while_down(ctx: Arc<QueueContext>, dest: String) {
    let reason = {
        let sched = ctx.scheduler();
        match sched.destination(&dest).map(|d| d.health.clone()) {
            Some(super::scheduler::Health::Unreachable { error, .. }) => {
                format!("451 4.4.1 destination unreachable: {error}")
            }
            Some(super::scheduler::Health::Misconfigured { reason, .. }) => {
                format!("451 4.4.4 destination misconfigured: {reason}")
            }
            _ => return,
        }
    };
    ctx.scheduler().worker_started(&dest);
    defer_due(&ctx, &dest, &reason).await;
    ctx.scheduler().worker_stopped(&dest);
}

/// Recovery probe: re-resolve the route and try a cheap SMTP hello. Up → the queue is flushed at once.
pub async fn probe(ctx: Arc<QueueContext>, dest: String) {
    let domain = domain_config(&ctx, &dest);
    match ctx.deliverer.resolve(&domain).await {
        Err(e) => route_failed(&ctx, &dest, &e),
        Ok(hosts) => match ctx.deliverer.probe_first(&hosts).await {
            Ok(addr) => {
                if ctx.scheduler().mark_up(&dest, ctx.clock.now()) {
                    info!(destination = %dest, %addr, "destination answers again; flushing its queue");
                }
            }
            Err(e) if e.is_unreachable() => {
                ctx.scheduler()
                    .mark_unreachable(&dest, e.to_string(), ctx.clock.now());
            }
            // It answers SMTP, if not happily: normal delivery (with its backoff) takes over.
            Err(_) => {
                ctx.scheduler().mark_up(&dest, ctx.clock.now());
            }
        },
    }
    ctx.scheduler().probe_done(&dest);
    ctx.wake.notify_one();
}

/// The local postmaster mailbox: copy, then mark delivered.
async fn deliver_local(ctx: &QueueContext) {
    loop {
        let now = ctx.clock.now();
        let Some((claim, message)) = claim_with_message(ctx, POSTMASTER, now) else {
            break;
        };
        let result = match ctx.spool.deliver_to_postmaster(claim.id).await {
            Ok(()) => RecipientResult::Delivered("250 2.0.0 kept in the postmaster mailbox".into()),
            Err(e) => RecipientResult::Deferred(format!("451 4.3.0 postmaster mailbox: {e}")),
        };
        let results: Vec<_> = claim
            .recipients
            .iter()
            .map(|i| (*i, result.clone()))
            .collect();
        finish(
            ctx,
            POSTMASTER,
            &claim,
            &message,
            &results,
            "postmaster mailbox",
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::count_received;

    #[test]
    fn counts_received_headers_in_the_header_block_only() {
        let msg =
            b"Received: a\r\nreceived: b\r\nSubject: x\r\nRECEIVED:c\r\n\r\nReceived: body\r\n";
        assert_eq!(count_received(msg), 3);
        assert_eq!(count_received(b""), 0);
    }
}
