//! The order book: the pure core that decides which queued message a destination's next connection may
//! take, so that per recipient mailbox messages reach the primary in arrival order while up to
//! `max_parallel` connections per destination deliver in parallel.
//!
//! Model. A *job* is one message's pending recipients for one destination (a message whose recipients
//! go to two primaries has two jobs). Each destination keeps, per mailbox, the ordered set of jobs that
//! still have a pending recipient in that mailbox. A job is *ready* when it is not in flight and it is the
//! head (oldest) of every mailbox it still has pending recipients in. Only ready jobs are claimed, so a
//! message is handed to delivery only once every older message for each of its mailboxes has left that
//! mailbox (delivered or failed for good). A deferred recipient keeps its message at the head of the
//! mailbox, so later messages for that mailbox wait behind it, on retries and flushes alike.
//!
//! Partial claims: a job is claimed whole or not at all (all its pending mailboxes must be heads). This
//! is the simplest rule that is obviously correct and keeps one SMTP transaction per message; its cost is
//! that a message for A and B waits for an older message for A even when B is free.
//!
//! Cost. Ready jobs sit in per-destination sets: `waiting` ordered by (due time, id) and `due` ordered by
//! id. [`OrderBook::claim_next`] moves the jobs whose time has come from `waiting` to `due` (each job
//! moves once per readiness) and takes the oldest due job: O(log n) amortised per claim. Readiness is
//! recomputed only for the jobs whose mailbox heads changed.

mod book;
#[cfg(test)]
mod tests;

pub use book::{Claim, OrderBook, Outcome};

/// The key of a recipient mailbox: the domain lower-cased, the local part kept as is (local parts may
/// be case-sensitive at the primary).
pub fn mailbox_key(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_ascii_lowercase()),
        None => address.to_owned(),
    }
}
