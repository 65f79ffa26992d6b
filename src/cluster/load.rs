//! What the owner of a destination reads: its pending mail newer than what it already has, in arrival
//! order and in bounded pages, with every recipient's state and the attempts so far; and the
//! notifications that say new mail was committed.

use std::collections::HashMap;

use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, GenericClient};
use tracing::warn;

use super::commit::ARRIVALS_CHANNEL;
use super::db::{DbError, open, redacted};
use super::events::{ADMIN_CHANNEL, AdminEvent, Event};
use super::health::{HEALTH_CHANNEL, HealthNotice};
use super::verdicts::{RECIPIENTS_CHANNEL, parse_notification};

/// One recipient as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecipient {
    pub index: u16,
    pub destination: String,
    /// 0 pending, 1 delivered, 2 failed.
    pub status: i16,
    pub reply: Option<String>,
    pub at_ms: Option<u64>,
}

/// One message with pending mail for the destination asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub id: u64,
    pub arrival: u64,
    pub accepted_by: String,
    pub envelope: Vec<u8>,
    pub held: bool,
    pub size: u64,
    pub recipients: Vec<StoredRecipient>,
    /// (at_ms, host, result), oldest first.
    pub attempts: Vec<(u64, String, String)>,
}

impl Loaded {
    /// A message from a row whose first six columns are `id, arrival, accepted_by, envelope, held,
    /// size` (its recipients and attempts come from [`fill_details`]).
    pub fn from_row(r: &tokio_postgres::Row) -> Loaded {
        Loaded {
            id: r.get::<_, i64>(0) as u64,
            arrival: r.get::<_, i64>(1) as u64,
            accepted_by: r.get(2),
            envelope: r.get(3),
            held: r.get(4),
            size: r.get::<_, i64>(5) as u64,
            recipients: Vec::new(),
            attempts: Vec::new(),
        }
    }
}

/// Up to `limit` messages with a pending recipient for `destination` and an arrival after `after`,
/// oldest first. Three statements; the last two pipelined.
pub async fn pending_for<C: GenericClient>(
    client: &C,
    destination: &str,
    after: u64,
    limit: i64,
) -> Result<Vec<Loaded>, tokio_postgres::Error> {
    let after = after as i64;
    let rows = client
        .query(
            "SELECT m.id, m.arrival, m.accepted_by, m.envelope, m.held, m.size
             FROM messages m
             WHERE m.arrival > $2
               AND EXISTS (SELECT 1 FROM recipients r
                           WHERE r.message_id = m.id AND r.destination = $1 AND r.status = 0)
             ORDER BY m.arrival LIMIT $3",
            &[&destination, &after, &limit],
        )
        .await?;
    let mut loaded: Vec<Loaded> = rows.iter().map(Loaded::from_row).collect();
    fill_details(client, &mut loaded).await?;
    Ok(loaded)
}

/// Fills in every message's recipients and attempts (two queries, pipelined).
pub async fn fill_details<C: GenericClient>(
    client: &C,
    loaded: &mut [Loaded],
) -> Result<(), tokio_postgres::Error> {
    let ids: Vec<i64> = loaded.iter().map(|m| m.id as i64).collect();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&ids];
    // The two reads are independent: no ordering is needed between them.
    let (recipients, attempts) = tokio::try_join!(
        client.query(
            "SELECT message_id, idx, destination, status, reply, at_ms FROM recipients
             WHERE message_id = ANY($1) ORDER BY message_id, idx",
            &params,
        ),
        client.query(
            "SELECT message_id, at_ms, host, result FROM attempts
             WHERE message_id = ANY($1) ORDER BY message_id, id",
            &params,
        ),
    )?;
    let position: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    for r in recipients {
        if let Some(&i) = position.get(&r.get::<_, i64>(0)) {
            loaded[i].recipients.push(StoredRecipient {
                index: r.get::<_, i16>(1) as u16,
                destination: r.get(2),
                status: r.get(3),
                reply: r.get(4),
                at_ms: r.get::<_, Option<i64>>(5).map(|v| v as u64),
            });
        }
    }
    for a in attempts {
        if let Some(&i) = position.get(&a.get::<_, i64>(0)) {
            loaded[i]
                .attempts
                .push((a.get::<_, i64>(1) as u64, a.get(2), a.get(3)));
        }
    }
    Ok(())
}

/// A connection that listens for committed mail, admin actions, recipient-cache and health changes. The channel closes when the
/// connection ends, and the caller's poll timer covers that until it reconnects.
pub async fn listen_arrivals(
    url: &str,
    password: Option<&str>,
) -> Result<(Client, mpsc::Receiver<Event>), DbError> {
    let (client, mut connection) = open(url, password).await?;
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) if n.channel() == ADMIN_CHANNEL => {
                    match AdminEvent::parse(n.payload()) {
                        Some(event) => {
                            if tx.send(Event::Admin(event)).await.is_err() {
                                break;
                            }
                        }
                        None => warn!(payload = n.payload(), "unknown admin notification"),
                    }
                }
                Some(Ok(AsyncMessage::Notification(n))) if n.channel() == RECIPIENTS_CHANNEL => {
                    match parse_notification(n.payload()) {
                        Some((node, change)) => {
                            let node = node.to_string();
                            if tx.send(Event::Recipients { node, change }).await.is_err() {
                                break;
                            }
                        }
                        None => warn!(
                            payload = n.payload(),
                            "unknown recipient-cache notification"
                        ),
                    }
                }
                Some(Ok(AsyncMessage::Notification(n))) if n.channel() == HEALTH_CHANNEL => {
                    match HealthNotice::parse(n.payload()) {
                        Some(notice) => {
                            if tx.send(Event::Health(notice)).await.is_err() {
                                break;
                            }
                        }
                        None => warn!(payload = n.payload(), "unknown health notification"),
                    }
                }
                Some(Ok(AsyncMessage::Notification(_))) => {
                    // A full channel already holds wake-ups: the owner reads everything anyway.
                    let _ = tx.try_send(Event::Arrival);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    warn!(error = %e, "PostgreSQL listening connection ended");
                    break;
                }
                None => break,
            }
        }
    });
    client
        .batch_execute(&format!(
            "LISTEN {ARRIVALS_CHANNEL}; LISTEN {ADMIN_CHANNEL}; LISTEN {RECIPIENTS_CHANNEL}; \
             LISTEN {HEALTH_CHANNEL}"
        ))
        .await
        .map_err(|source| DbError::Connect {
            target: redacted(url),
            source,
        })?;
    Ok((client, rx))
}

/// Tells every node about an admin action.
pub async fn announce<C: GenericClient>(
    client: &C,
    event: &AdminEvent,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "SELECT pg_notify($1, $2)",
            &[&ADMIN_CHANNEL, &event.payload()],
        )
        .await
        .map(|_| ())
}
