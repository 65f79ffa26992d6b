//! The queue API in a cluster (issue 13): views read the shared database, so any node's console, API,
//! CLI and metrics show the whole cluster's queue, with the node that accepted each message and the
//! node delivering it; actions change the rows and tell every node (NOTIFY), whose scheduler applies
//! them to what it holds. A bounce is done by the node owning the message's destination.

use std::collections::HashMap;
use std::sync::Arc;

use super::views::{AGE_BUCKETS, AgeBucket};
use super::{
    DomainSummary, FlushScope, ListFilter, MessageDetail, MessageSummary, QueueApi, QueueApiError,
    detail_of, summary_of,
};
use crate::clock::to_unix_ms;
use crate::cluster::events::AdminEvent;
use crate::cluster::nodes::NodeView;
use crate::cluster::{health, load, nodes, view};
use crate::envelope::QueueId;
use crate::spool::postgres::{PgSpool, decode_listed};
use crate::spool::{SpoolError, StoredMessage};

fn unavailable(e: tokio_postgres::Error) -> QueueApiError {
    QueueApiError::Spool(SpoolError::Unavailable(e.to_string()))
}

impl QueueApi {
    pub(super) async fn cluster_list(
        &self,
        shared: &Arc<PgSpool>,
        filter: &ListFilter,
    ) -> Result<(usize, Vec<MessageSummary>), QueueApiError> {
        let lower = |s: &Option<String>| s.as_ref().map(|v| v.to_lowercase());
        let query = view::Filter {
            destination: filter.domain.clone(),
            sender: lower(&filter.sender),
            recipient: lower(&filter.recipient),
            status: filter.status.clone(),
            newest_first: filter.newest_first,
            offset: i64::try_from(filter.offset).unwrap_or(i64::MAX),
            limit: match filter.limit {
                0 => i64::MAX,
                n => i64::try_from(n).unwrap_or(i64::MAX),
            },
        };
        let client = shared.client().await?;
        let (total, rows) = view::list(&**client, &query).await.map_err(unavailable)?;
        let summaries = rows
            .iter()
            .filter_map(|row| Some(self.cluster_summary(row, &decode_listed(&row.message)?)))
            .collect();
        Ok((total, summaries))
    }

    pub(super) async fn cluster_get(
        &self,
        shared: &Arc<PgSpool>,
        id: QueueId,
    ) -> Result<Option<MessageDetail>, QueueApiError> {
        let client = shared.client().await?;
        let Some(row) = view::one(&**client, id.0).await.map_err(unavailable)? else {
            return Ok(None);
        };
        Ok(decode_listed(&row.message)
            .map(|message| detail_of(self.cluster_summary(&row, &message), &message)))
    }

    /// A listed message's summary: its state from the database, and from this node's scheduler
    /// when this node delivers it (in flight, next attempt).
    fn cluster_summary(&self, row: &view::Listed, m: &StoredMessage) -> MessageSummary {
        let (sending, due) = self
            .ctx
            .view(|sched| (sched.is_in_flight(m.id), sched.due_at(m.id)));
        let tried = m
            .attempts
            .iter()
            .any(|a| a.result != crate::envelope::DELAY_WARNING_SENT);
        let status = if m.held {
            "held"
        } else if sending {
            "sending"
        } else if !tried {
            "queued"
        } else {
            "deferred"
        };
        summary_of(
            m,
            status,
            due,
            row.message.accepted_by.clone(),
            row.claimed_by.clone(),
        )
    }

    pub(super) async fn cluster_domains(
        &self,
        shared: &Arc<PgSpool>,
    ) -> Result<Vec<DomainSummary>, QueueApiError> {
        let client = shared.client().await?;
        let totals = view::destinations(&**client).await.map_err(unavailable)?;
        let seen: HashMap<String, health::SeenHealth> = health::read_all(&**client)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|h| (h.destination.clone(), h))
            .collect();
        let now_ms = to_unix_ms(self.ctx.now());
        // Health is known where the destination is delivered: this node's own view for what it
        // delivers, the delivering node's (shared through the database) for the rest.
        let mut local: Vec<DomainSummary> = self.local_domains();
        let mut out = Vec::new();
        let mut names: Vec<String> = self
            .ctx
            .domain_table()
            .active
            .iter()
            .map(|d| d.name.clone())
            .collect();
        for t in &totals {
            if !names.contains(&t.destination) {
                names.push(t.destination.clone());
            }
        }
        for name in names {
            let mut s = match local.iter().position(|d| d.domain == name) {
                Some(i) => local.swap_remove(i),
                None => super::domain_summary_empty(name.clone()),
            };
            s.messages = 0;
            s.bytes = 0;
            s.oldest_received_at_ms = None;
            s.claimed_by = None;
            s.age_histogram = AGE_BUCKETS
                .iter()
                .map(|(_, label)| AgeBucket { label, count: 0 })
                .collect();
            if let Some(t) = totals.iter().find(|t| t.destination == name) {
                s.messages = usize::try_from(t.messages).unwrap_or(usize::MAX);
                s.bytes = t.bytes;
                s.oldest_received_at_ms = t.oldest_received_at_ms;
                s.claimed_by = t.claimed_by.clone();
                for received in &t.received_at_ms {
                    let age_min = now_ms.saturating_sub(*received) / 60_000;
                    let bucket = AGE_BUCKETS
                        .iter()
                        .position(|(max, _)| age_min < *max)
                        .unwrap_or(AGE_BUCKETS.len() - 1);
                    s.age_histogram[bucket].count += 1;
                }
            }
            let delivered_here = s.claimed_by.as_deref() == Some(shared.node());
            if let Some(h) = seen.get(&name)
                && !delivered_here
            {
                s.state = h.state.label();
                s.since_ms = h.since_ms;
                s.detail = h.detail.clone();
            }
            out.push(s);
        }
        Ok(out)
    }

    pub(super) async fn cluster_totals(
        &self,
        shared: &Arc<PgSpool>,
    ) -> Result<(usize, u64), QueueApiError> {
        let client = shared.client().await?;
        let (messages, bytes) = view::totals(&**client).await.map_err(unavailable)?;
        Ok((usize::try_from(messages).unwrap_or(usize::MAX), bytes))
    }

    pub(super) async fn cluster_flush(
        &self,
        shared: &Arc<PgSpool>,
        scope: &FlushScope,
    ) -> Result<usize, QueueApiError> {
        let client = shared.client().await?;
        let (event, filter) = match scope {
            FlushScope::All => (AdminEvent::FlushAll, view::Filter::default()),
            FlushScope::Domain(d) => (
                AdminEvent::FlushDomain(d.clone()),
                view::Filter {
                    destination: Some(d.clone()),
                    ..view::Filter::default()
                },
            ),
            FlushScope::Ids(ids) => {
                load::announce(&**client, &AdminEvent::FlushIds(ids.clone()))
                    .await
                    .map_err(unavailable)?;
                let mut n = 0;
                for id in ids {
                    n += usize::from(
                        view::one(&**client, id.0)
                            .await
                            .map_err(unavailable)?
                            .is_some(),
                    );
                }
                return Ok(n);
            }
        };
        load::announce(&**client, &event)
            .await
            .map_err(unavailable)?;
        // One row carries the total.
        let filter = view::Filter { limit: 1, ..filter };
        let (total, _) = view::list(&**client, &filter).await.map_err(unavailable)?;
        Ok(total)
    }

    pub(super) async fn cluster_set_held(
        &self,
        shared: &Arc<PgSpool>,
        id: QueueId,
        held: bool,
    ) -> Result<(), QueueApiError> {
        let client = shared.client().await?;
        if !view::set_held(&**client, id.0, held)
            .await
            .map_err(unavailable)?
        {
            return Err(QueueApiError::UnknownId(id));
        }
        let event = if held {
            AdminEvent::Hold(id)
        } else {
            AdminEvent::Release(id)
        };
        load::announce(&**client, &event).await.map_err(unavailable)
    }

    pub(super) async fn cluster_delete(
        &self,
        shared: &Arc<PgSpool>,
        id: QueueId,
    ) -> Result<(), QueueApiError> {
        let client = shared.client().await?;
        if !view::delete(&**client, id.0).await.map_err(unavailable)? {
            return Err(QueueApiError::UnknownId(id));
        }
        load::announce(&**client, &AdminEvent::Delete(id))
            .await
            .map_err(unavailable)
    }

    pub(super) async fn cluster_bounce(
        &self,
        shared: &Arc<PgSpool>,
        id: QueueId,
    ) -> Result<(), QueueApiError> {
        let client = shared.client().await?;
        if view::one(&**client, id.0)
            .await
            .map_err(unavailable)?
            .is_none()
        {
            return Err(QueueApiError::UnknownId(id));
        }
        load::announce(&**client, &AdminEvent::Bounce(id))
            .await
            .map_err(unavailable)
    }

    /// The cluster's nodes (`GET /api/v1/cluster`); `None` on a single node with its local spool.
    pub async fn cluster_nodes(&self) -> Result<Option<Vec<NodeView>>, QueueApiError> {
        let Some(shared) = self.ctx.store().shared() else {
            return Ok(None);
        };
        let client = shared.client().await?;
        Ok(Some(nodes::list(&**client).await.map_err(unavailable)?))
    }
}

/// The cluster's shared audit log, as the admin layer writes and reads it.
#[derive(Clone)]
pub struct SharedAudit {
    shared: Arc<PgSpool>,
}

impl SharedAudit {
    /// Stores an action in the background (the request that caused it does not wait; a failure is
    /// logged, and the node's own log has the entry anyway).
    pub fn append(&self, action: crate::cluster::audit::Action) {
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let stored = async {
                let client = shared.client().await?;
                crate::cluster::audit::append(&**client, &action)
                    .await
                    .map_err(|e| SpoolError::Unavailable(e.to_string()))
            };
            if let Err(error) = stored.await {
                tracing::warn!(%error, "cannot store the action in the shared audit log");
            }
        });
    }

    /// The `n` newest actions of the whole cluster, newest first.
    pub async fn recent(
        &self,
        n: usize,
    ) -> Result<Vec<crate::cluster::audit::Action>, QueueApiError> {
        let client = self.shared.client().await?;
        crate::cluster::audit::recent(&**client, i64::try_from(n).unwrap_or(i64::MAX))
            .await
            .map_err(unavailable)
    }
}

impl QueueApi {
    /// The shared audit log, in a cluster.
    pub fn shared_audit(&self) -> Option<SharedAudit> {
        self.ctx.store().shared().map(|shared| SharedAudit {
            shared: shared.clone(),
        })
    }

    /// This node's name (`[cluster] node`).
    pub fn node(&self) -> &str {
        self.ctx.node()
    }
}
