//! Delivery workers (route, connect, then hand the connection to the sender's loop; the local
//! postmaster mailbox), the recovery probe, and the deferral of due mail while a destination is down.

use std::sync::Arc;

use tracing::{info, warn};

use super::outcome::{apply_batch, finish};
use super::runner::QueueContext;
use super::scheduler::{POSTMASTER, RecipientResult};
use super::sender::claim_with_message;
use crate::clock::to_unix_ms;
use crate::config::DomainConfig;
use crate::delivery::{Connection, RouteError};
use crate::envelope::Attempt;

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
        super::sender::send_all(&ctx, &dest, conn).await;
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
    while let Some((claim, message)) = claim_with_message(ctx, POSTMASTER, None) {
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
