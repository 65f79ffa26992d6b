//! Delivery workers (route, connect, then hand the connection to the sender's loop; the local
//! postmaster mailbox), the recovery probe, and the deferral of due mail while a destination is down.

use std::sync::Arc;

use tracing::{info, warn};

use super::context::QueueContext;
use super::outcome::{apply, apply_batch, decide};
use super::scheduler::{POSTMASTER, RecipientResult};
use crate::delivery::{Connection, RouteError};

/// One delivery connection for `dest`: route, connect, then send claimable messages until none is
/// left or the connection breaks.
pub async fn deliver(ctx: Arc<QueueContext>, dest: String) {
    if dest == POSTMASTER {
        deliver_local(&ctx).await;
    } else if let Some(conn) = connect(&ctx, &dest).await {
        super::sender::send_all(&ctx, &dest, conn).await;
    }
    ctx.worker_stopped(&dest);
    ctx.wake();
}

async fn connect(ctx: &QueueContext, dest: &str) -> Option<Connection> {
    let domain = ctx.domain_settings(dest);
    let hosts = match ctx.deliverer().resolve(&domain).await {
        Ok(hosts) => hosts,
        Err(e) => {
            route_failed(ctx, dest, &e);
            return None;
        }
    };
    match ctx.deliverer().connect_for(&domain, &hosts).await {
        Ok(conn) => {
            let recovered = ctx.mark_up(dest);
            if recovered {
                info!(
                    destination = dest,
                    host = conn.host(),
                    "destination is back; flushing its queue"
                );
            }
            ctx.wake();
            Some(conn)
        }
        Err(e) => {
            warn!(destination = dest, error = %e, "cannot reach any host");
            if e.is_unreachable() {
                ctx.mark_unreachable(dest, e.to_string());
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
    match e {
        RouteError::Misconfigured(reason) => {
            warn!(destination = dest, %reason, "destination misconfigured; mail stays queued");
            ctx.mark_misconfigured(dest, reason.to_string());
        }
        RouteError::Dns(err) => {
            warn!(destination = dest, error = %err, "DNS look-up failed");
            ctx.mark_unreachable(dest, e.to_string());
        }
    }
}

/// Defers every due message of `dest` with `reason`, without connecting. All of them are recorded in
/// one spool update (one group commit), not one fsync each.
async fn defer_due(ctx: &QueueContext, dest: &str, reason: &str) {
    let finished = ctx.defer_all_due(dest, reason);
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
    let Some(reason) = ctx.down_reply(&dest) else {
        return;
    };
    ctx.worker_started(&dest);
    defer_due(&ctx, &dest, &reason).await;
    ctx.worker_stopped(&dest);
}

/// Recovery probe: re-resolve the route and try a cheap SMTP hello. Up → the queue is flushed at once.
pub async fn probe(ctx: Arc<QueueContext>, dest: String) {
    let domain = ctx.domain_settings(&dest);
    match ctx.deliverer().resolve(&domain).await {
        Err(e) => route_failed(&ctx, &dest, &e),
        Ok(hosts) => match ctx.deliverer().probe_first(&hosts).await {
            Ok(addr) => {
                if ctx.mark_up(&dest) {
                    info!(destination = %dest, %addr, "destination answers again; flushing its queue");
                }
            }
            Err(e) if e.is_unreachable() => ctx.mark_unreachable(&dest, e.to_string()),
            // It answers SMTP, if not happily: normal delivery (with its backoff) takes over.
            Err(_) => {
                ctx.mark_up(&dest);
            }
        },
    }
    ctx.probe_done(&dest);
    ctx.wake();
}

/// The local postmaster mailbox: copy, then mark delivered.
async fn deliver_local(ctx: &QueueContext) {
    while let Some((claim, message)) = ctx.claim(POSTMASTER, None) {
        let result = match ctx.store().keep_for_postmaster(claim.id).await {
            Ok(()) => RecipientResult::Delivered("250 2.0.0 kept in the postmaster mailbox".into()),
            Err(e) => RecipientResult::Deferred(format!("451 4.3.0 postmaster mailbox: {e}")),
        };
        let results: Vec<_> = claim
            .recipients
            .iter()
            .map(|i| (*i, result.clone()))
            .collect();
        let host = "postmaster mailbox";
        let consequences = decide(ctx, POSTMASTER, &claim, &message, &results, host);
        apply(ctx, &message, consequences).await;
    }
}
