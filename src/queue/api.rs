//! The queue API for the admin layer (console, JSON API, CLI, metrics): read-only views of the queue
//! and the actions an administrator may take. Everything goes through the scheduler and the spool API,
//! never onto files; flushing uses the same mechanism as ETRN.

use std::sync::Arc;
use std::time::SystemTime;

/// The admin layer names flush scopes through this module, like everything else of the queue.
pub use super::FlushScope;
use super::context::QueueContext;
use super::scheduler::{AdminRefusal, Health, Scheduler};
use crate::clock::to_unix_ms;
pub use crate::cluster::audit::Action as AuditAction;
use crate::envelope::{Attempt, QueueId, RecipientStatus, Route};
use crate::spool::{BodyReader, SpoolError, StoredMessage};
pub use cluster::SharedAudit;
pub use health::{DestinationFacts, DestinationHealth, QueueFacts};
use views::AGE_BUCKETS;
pub use views::{
    AgeBucket, AttemptView, DomainSummary, ListFilter, MessageDetail, MessageSummary, RecipientView,
};

/// Why an action failed; the API maps each to an HTTP status and a stable code.
#[derive(Debug, thiserror::Error)]
pub enum QueueApiError {
    #[error("unknown message {0}")]
    UnknownId(QueueId),
    #[error("message {0} is being delivered right now; try again in a moment")]
    InFlight(QueueId),
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

impl QueueApiError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            QueueApiError::UnknownId(_) => "unknown_id",
            QueueApiError::InFlight(_) => "in_flight",
            QueueApiError::Spool(_) => "spool_error",
        }
    }
}

/// Handle for the admin layer. Cheap to clone.
#[derive(Clone)]
pub struct QueueApi {
    ctx: Arc<QueueContext>,
}

fn destination_of(route: &Route) -> String {
    route.destination().to_string()
}

fn recipient_view(r: &crate::envelope::Recipient) -> RecipientView {
    let (status, reply) = match &r.status {
        RecipientStatus::Pending => ("pending", None),
        RecipientStatus::Delivered { reply, .. } => ("delivered", Some(reply.clone())),
        RecipientStatus::Failed { reply, .. } => ("failed", Some(reply.clone())),
    };
    RecipientView {
        address: r.address.clone(),
        destination: destination_of(&r.route),
        status,
        reply,
    }
}

impl QueueApi {
    pub fn new(ctx: Arc<QueueContext>) -> QueueApi {
        QueueApi { ctx }
    }

    fn summary(&self, sched: &Scheduler, m: &StoredMessage) -> MessageSummary {
        let misconfigured = m.envelope.pending().any(|(_, r)| {
            matches!(
                sched
                    .destination(&destination_of(&r.route))
                    .map(|d| &d.health),
                Some(Health::Misconfigured { .. })
            )
        });
        let status = if m.held {
            "held"
        } else if sched.is_in_flight(m.id) {
            "sending"
        } else if misconfigured {
            "misconfigured"
        } else if m.attempts.is_empty() {
            "queued"
        } else {
            "deferred"
        };
        let node = self.ctx.node().to_string();
        let claimed_by = m.envelope.pending().next().map(|_| node.clone());
        summary_of(m, status, sched.due_at(m.id), node, claimed_by)
    }

    /// The messages matching `filter`, oldest first (or newest first), paged; with the total count.
    /// In a cluster: the whole cluster's queue, from the shared database.
    pub async fn list(
        &self,
        filter: &ListFilter,
    ) -> Result<(usize, Vec<MessageSummary>), QueueApiError> {
        match self.ctx.store().shared() {
            Some(shared) => self.cluster_list(shared, filter).await,
            None => Ok(self.local_list(filter)),
        }
    }

    fn local_list(&self, filter: &ListFilter) -> (usize, Vec<MessageSummary>) {
        let lower = |s: &Option<String>| s.as_ref().map(|v| v.to_lowercase());
        let (sender, recipient) = (lower(&filter.sender), lower(&filter.recipient));
        let mut matching: Vec<MessageSummary> = self.ctx.view(|sched| {
            sched
                .messages()
                .filter(|m| {
                    filter.domain.as_ref().is_none_or(|d| {
                        m.envelope
                            .pending()
                            .any(|(_, r)| destination_of(&r.route) == *d)
                    }) && sender
                        .as_ref()
                        .is_none_or(|s| m.envelope.sender.to_lowercase().contains(s))
                        && recipient.as_ref().is_none_or(|s| {
                            m.envelope
                                .recipients
                                .iter()
                                .any(|r| r.address.to_lowercase().contains(s))
                        })
                })
                .map(|m| self.summary(sched, m))
                .filter(|s| filter.status.as_ref().is_none_or(|st| s.status == st))
                .collect()
        });
        matching.sort_by(|a, b| a.id.cmp(&b.id));
        if filter.newest_first {
            matching.reverse();
        }
        let total = matching.len();
        let limit = if filter.limit == 0 {
            usize::MAX
        } else {
            filter.limit
        };
        (
            total,
            matching
                .into_iter()
                .skip(filter.offset)
                .take(limit)
                .collect(),
        )
    }

    /// One message (wherever it was accepted, in a cluster); `None` when it is not queued.
    pub async fn get(&self, id: QueueId) -> Result<Option<MessageDetail>, QueueApiError> {
        match self.ctx.store().shared() {
            Some(shared) => self.cluster_get(shared, id).await,
            None => Ok(self
                .ctx
                .view(|sched| Some(self.detail(sched, sched.message(id)?)))),
        }
    }

    fn detail(&self, sched: &Scheduler, m: &StoredMessage) -> MessageDetail {
        detail_of(self.summary(sched, m), m)
    }

    /// Per destination (every configured domain, plus any other with mail waiting); in a cluster,
    /// the whole cluster's mail.
    pub async fn domains(&self) -> Result<Vec<DomainSummary>, QueueApiError> {
        match self.ctx.store().shared() {
            Some(shared) => self.cluster_domains(shared).await,
            None => Ok(self.local_domains()),
        }
    }
}

/// The summary fields every view computes the same way; `status`, the next attempt and the nodes
/// are the caller's (the local scheduler's, or the shared queue's).
fn summary_of(
    m: &StoredMessage,
    status: &'static str,
    next_attempt: Option<SystemTime>,
    accepted_by: String,
    claimed_by: Option<String>,
) -> MessageSummary {
    let tried = || {
        m.attempts
            .iter()
            .filter(|a| a.result != crate::envelope::DELAY_WARNING_SENT)
    };
    MessageSummary {
        id: m.id.to_string(),
        sender: m.envelope.sender.clone(),
        recipients: m.envelope.recipients.iter().map(recipient_view).collect(),
        size: m.size,
        received_at_ms: m.envelope.received_at_ms,
        attempts: tried().count(),
        next_attempt_at_ms: next_attempt.map(to_unix_ms),
        last_error: tried().next_back().map(|a| a.result.clone()),
        held: m.held,
        status,
        accepted_by,
        claimed_by,
    }
}

/// A message's detail view around its summary.
fn detail_of(summary: MessageSummary, m: &StoredMessage) -> MessageDetail {
    let history = m.attempts.iter().map(|a: &Attempt| AttemptView {
        at_ms: a.at_ms,
        host: a.host.clone(),
        result: a.result.clone(),
    });
    {
        MessageDetail {
            summary,
            client_ip: m.envelope.client_ip.to_string(),
            helo: m.envelope.helo.clone(),
            body_type: match m.envelope.body_type {
                crate::envelope::BodyType::SevenBit => "7BIT",
                crate::envelope::BodyType::EightBitMime => "8BITMIME",
                crate::envelope::BodyType::BinaryMime => "BINARYMIME",
            },
            smtputf8: m.envelope.smtputf8,
            envid: m.envelope.envid.clone(),
            history: history.collect(),
            checks: m
                .envelope
                .auth
                .iter()
                .flat_map(|auth| auth.results.iter().cloned())
                .collect(),
        }
    }
}

impl QueueApi {
    fn local_domains(&self) -> Vec<DomainSummary> {
        let now_ms = to_unix_ms(self.ctx.now());
        let table = self.ctx.domain_table();
        let mut names: Vec<String> = table.active.iter().map(|d| d.name.clone()).collect();
        self.ctx.view(|sched| {
            for (name, _) in sched.destinations() {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
            names
                .into_iter()
                .map(|name| {
                    let removed = table.is_draining(&name);
                    let limits = table
                        .find(&name)
                        .map(|d| d.limits.clone())
                        .unwrap_or_default();
                    DomainSummary {
                        removed,
                        max_messages: limits.max_messages,
                        max_bytes: limits.max_bytes,
                        ..domain_summary(sched, name, now_ms)
                    }
                })
                .collect()
        })
    }

    /// Attempts the matching messages now (the same entry point as ETRN). Returns how many; in a
    /// cluster every node flushes what it holds, and the count is the cluster's.
    pub async fn flush(&self, scope: &FlushScope) -> Result<usize, QueueApiError> {
        let n = self.ctx.flush(scope);
        self.ctx.wake();
        match self.ctx.store().shared() {
            Some(shared) => self.cluster_flush(shared, scope).await,
            None => Ok(n),
        }
    }

    pub async fn hold(&self, id: QueueId) -> Result<(), QueueApiError> {
        self.set_held(id, true).await
    }

    pub async fn release(&self, id: QueueId) -> Result<(), QueueApiError> {
        self.set_held(id, false).await
    }

    async fn set_held(&self, id: QueueId, held: bool) -> Result<(), QueueApiError> {
        if let Some(shared) = self.ctx.store().shared() {
            return self.cluster_set_held(shared, id, held).await;
        }
        let update = self.ctx.set_held(id, held).map_err(|e| refusal(e, id))?;
        self.ctx.store().record(vec![update]).await?;
        self.ctx.wake();
        Ok(())
    }

    pub async fn delete(&self, id: QueueId) -> Result<(), QueueApiError> {
        if let Some(shared) = self.ctx.store().shared() {
            return self.cluster_delete(shared, id).await;
        }
        let update = self.ctx.delete(id).map_err(|e| refusal(e, id))?;
        self.ctx.store().record(vec![update]).await?;
        Ok(())
    }

    /// Returns the message to its sender now (a DSN, unless the sender is `<>`).
    pub async fn bounce(&self, id: QueueId) -> Result<(), QueueApiError> {
        if let Some(shared) = self.ctx.store().shared()
            && self.ctx.view(|sched| sched.message(id).is_none())
        {
            // Another node owns its destination: that node returns it (it holds the message's state).
            return self.cluster_bounce(shared, id).await;
        }
        let (message, consequences) = self
            .ctx
            .bounce_now(id, "550 5.0.0 returned to the sender by the administrator")
            .map_err(|e| refusal(e, id))?;
        super::outcome::apply(&self.ctx, &message, consequences).await;
        Ok(())
    }

    /// The stored message (Received header included), e.g. for an .eml download or a preview.
    pub async fn body(&self, id: QueueId) -> Result<BodyReader, QueueApiError> {
        if self.ctx.store().shared().is_none() && self.ctx.view(|sched| sched.message(id).is_none())
        {
            return Err(QueueApiError::UnknownId(id));
        }
        Ok(self.ctx.store().open_body(id).await?)
    }

    /// The local postmaster mailbox: (id, size), oldest first.
    pub async fn postmaster_list(&self) -> Result<Vec<(QueueId, u64)>, QueueApiError> {
        Ok(self.ctx.store().postmaster_list().await?)
    }

    pub async fn postmaster_read(&self, id: QueueId) -> Result<Vec<u8>, QueueApiError> {
        match self.ctx.store().postmaster_read(id).await {
            Err(SpoolError::UnknownId(_)) => Err(QueueApiError::UnknownId(id)),
            other => Ok(other?),
        }
    }

    /// What recovery quarantined at start (one line each).
    pub fn quarantined(&self) -> Vec<String> {
        self.ctx.store().quarantined()
    }

    /// Totals for metrics: queued messages and bytes (the cluster's, in a cluster).
    pub async fn totals(&self) -> Result<(usize, u64), QueueApiError> {
        if let Some(shared) = self.ctx.store().shared() {
            return self.cluster_totals(shared).await;
        }
        Ok(self
            .ctx
            .view(|sched| (sched.len(), sched.messages().map(|m| m.size).sum())))
    }

    pub fn now(&self) -> SystemTime {
        self.ctx.now()
    }
}

fn refusal(e: AdminRefusal, id: QueueId) -> QueueApiError {
    match e {
        AdminRefusal::UnknownId => QueueApiError::UnknownId(id),
        AdminRefusal::InFlight => QueueApiError::InFlight(id),
    }
}

mod cluster;
mod health;
mod views;

/// A destination's line with no mail and no known health.
fn domain_summary_empty(name: String) -> DomainSummary {
    DomainSummary {
        domain: name.clone(),
        messages: 0,
        bytes: 0,
        oldest_received_at_ms: None,
        state: "unknown",
        removed: false,
        max_messages: None,
        max_bytes: None,
        since_ms: None,
        detail: None,
        next_attempt_at_ms: None,
        age_histogram: AGE_BUCKETS
            .iter()
            .map(|(_, label)| AgeBucket { label, count: 0 })
            .collect(),
        claimed_by: None,
    }
}

/// One destination's line of the dashboard: its mail (count, bytes, oldest, age histogram, next
/// attempt) and its health.
fn domain_summary(sched: &Scheduler, name: String, now_ms: u64) -> DomainSummary {
    let mut s = domain_summary_empty(name.clone());
    for m in sched.messages() {
        if !m
            .envelope
            .pending()
            .any(|(_, r)| destination_of(&r.route) == name)
        {
            continue;
        }
        s.messages += 1;
        s.bytes += m.size;
        let received = m.envelope.received_at_ms;
        s.oldest_received_at_ms = Some(
            s.oldest_received_at_ms
                .map_or(received, |o| o.min(received)),
        );
        let age_min = now_ms.saturating_sub(received) / 60_000;
        let bucket = AGE_BUCKETS
            .iter()
            .position(|(max, _)| age_min < *max)
            .unwrap_or(AGE_BUCKETS.len() - 1);
        s.age_histogram[bucket].count += 1;
        if let Some(due) = sched.due_at(m.id).map(to_unix_ms) {
            s.next_attempt_at_ms = Some(s.next_attempt_at_ms.map_or(due, |n| n.min(due)));
        }
    }
    if let Some(health) = sched.destination(&name).map(|d| &d.health) {
        s.state = health.label();
        if let Health::Unreachable {
            since_ms,
            error: detail,
        }
        | Health::Misconfigured {
            since_ms,
            reason: detail,
        } = health
        {
            s.since_ms = Some(*since_ms);
            s.detail = Some(detail.clone());
        }
    }
    s
}
