//! What the queue's cluster loop asks of the shared queue: the heartbeat with the renewal of this
//! node's leases, the destinations with mail and their owners, taking free ones, loading a
//! destination's pending mail in arrival order, giving everything back at shutdown, and the
//! notifications of new mail. The decisions (which to take, when a lease is no longer trusted) are
//! the pure `cluster::lease` core's; this is only the SQL's shell.

use std::time::Instant;

use tokio::sync::mpsc;

use super::PgSpool;
use super::convert::stored_message;
use crate::cluster::events::Event;
use crate::cluster::lease::Candidate;
use crate::cluster::{lease_store, load, nodes};
use crate::spool::{SpoolError, StoredMessage};

fn unavailable(e: impl std::fmt::Display) -> SpoolError {
    SpoolError::Unavailable(e.to_string())
}

/// The answer to one heartbeat.
#[derive(Debug)]
pub struct ClaimRound {
    /// When the renewal was sent (this node's validity is counted from here).
    pub sent_at: Instant,
    /// Leases still this node's, with their epochs.
    pub held: Vec<(String, u64)>,
    /// Destinations with pending mail, with their live owners.
    pub candidates: Vec<Candidate>,
    /// Nodes whose heartbeat is within their lease.
    pub live_nodes: usize,
    /// False when another process now runs under this node's name.
    pub still_registered: bool,
}

/// The listening connection and its wake-ups (the connection lives as long as this).
pub struct Arrivals {
    _client: tokio_postgres::Client,
    rx: mpsc::Receiver<Event>,
}

impl Arrivals {
    /// The next event; `None` once the connection has ended.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }
}

/// A message loaded for a destination this node owns, with its arrival number.
pub struct Loaded {
    pub arrival: u64,
    pub message: StoredMessage,
}

impl PgSpool {
    /// Heartbeat, renewal and the candidates, on one pooled connection.
    pub async fn heartbeat(&self) -> Result<ClaimRound, SpoolError> {
        let client = self.client().await?;
        let sent_at = Instant::now();
        let (still_registered, renewal) = tokio::try_join!(
            nodes::heartbeat(&**client, &self.node, self.process),
            lease_store::renew(&**client, &self.node, self.lease),
        )
        .map_err(unavailable)?;
        let (candidates, nodes) =
            tokio::try_join!(lease_store::candidates(&**client), nodes::list(&**client),)
                .map_err(unavailable)?;
        Ok(ClaimRound {
            sent_at,
            held: renewal.held,
            candidates,
            live_nodes: nodes.iter().filter(|n| n.alive).count().max(1),
            still_registered,
        })
    }

    /// Takes those of `destinations` that are free; returns the granted ones with their epochs and
    /// when the request was sent.
    pub async fn acquire(
        &self,
        destinations: &[String],
    ) -> Result<(Instant, Vec<(String, u64)>), SpoolError> {
        let client = self.client().await?;
        let sent_at = Instant::now();
        let granted = lease_store::acquire(&**client, &self.node, destinations, self.lease)
            .await
            .map_err(unavailable)?;
        Ok((sent_at, granted))
    }

    /// Up to `limit` messages with pending mail for `destination` that arrived after `after`, in
    /// arrival order, as this node's queue holds them (`mine` says which destinations it owns).
    pub async fn load_pending(
        &self,
        destination: &str,
        after: u64,
        limit: i64,
        mine: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<Loaded>, SpoolError> {
        let client = self.client().await?;
        let rows = load::pending_for(&**client, destination, after, limit)
            .await
            .map_err(unavailable)?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                stored_message(row, mine).map(|message| Loaded {
                    arrival: row.arrival,
                    message,
                })
            })
            .collect())
    }

    /// Gives every lease of this node back (orderly shutdown, after the last result was recorded).
    pub async fn release(&self) -> Result<u64, SpoolError> {
        let client = self.client().await?;
        lease_store::release(&**client, &self.node)
            .await
            .map_err(unavailable)
    }

    /// A wake-up each time any node commits new mail; `next` ends with the connection.
    pub async fn arrivals(&self) -> Result<Arrivals, SpoolError> {
        let (client, rx) = load::listen_arrivals(&self.url, self.password.as_deref())
            .await
            .map_err(unavailable)?;
        Ok(Arrivals {
            _client: client,
            rx,
        })
    }
}
