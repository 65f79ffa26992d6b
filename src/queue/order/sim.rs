//! Fixtures shared by the order book's tests: instants, ids, inserts and claims for one destination,
//! and the pieces of the randomized simulations (arrivals, random outcomes, the final checks).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use rand::rngs::StdRng;

use super::{Claim, OrderBook, Outcome, mailbox_key};
use crate::envelope::QueueId;

pub(super) const DEST: &str = "example.test";

pub(super) fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

pub(super) fn q(n: u64) -> QueueId {
    QueueId(n)
}

pub(super) fn ins(book: &mut OrderBook, id: u64, rcpts: &[&str]) {
    assert!(book.insert(q(id), DEST, rcpts.iter().copied().enumerate(), t(0)));
}

pub(super) fn claim(book: &mut OrderBook) -> Option<u64> {
    book.claim_next(DEST, t(0), 10).map(|c| c.id.0)
}

pub(super) fn done_all(book: &mut OrderBook, claim_id: u64, n: usize) -> bool {
    let outcomes = (0..n).map(|i| (i, Outcome::Done)).collect::<Vec<_>>();
    book.release(q(claim_id), DEST, &outcomes, t(0))
}

/// Per queued message: pending (recipient index, mailbox key) pairs and due time.
pub(super) type Pending = BTreeMap<u64, (Vec<(usize, String)>, SystemTime)>;
/// Per mailbox, the messages that left it as done, in that order.
pub(super) type Delivered = BTreeMap<String, Vec<u64>>;

/// With probability 0.3, and while ids up to 200 remain, message `next_id` arrives with 1 to
/// `max_rcpts` recipients in random `mailboxes`; it is filed in the book and in `pending`.
pub(super) fn maybe_arrive(
    rng: &mut StdRng,
    book: &mut OrderBook,
    pending: &mut Pending,
    next_id: &mut u64,
    now: SystemTime,
    mailboxes: &[&str],
    max_rcpts: usize,
) {
    if *next_id > 200 || !rng.random_bool(0.3) {
        return;
    }
    let n = rng.random_range(1..=max_rcpts);
    let rcpts = (0..n)
        .map(|i| (i, mailboxes[rng.random_range(0..mailboxes.len())]))
        .collect::<Vec<_>>();
    assert!(book.insert(q(*next_id), DEST, rcpts.iter().copied(), now));
    let keyed = rcpts.iter().map(|(i, m)| (*i, mailbox_key(m))).collect();
    pending.insert(*next_id, (keyed, now));
    *next_id += 1;
}

/// Ends `claim` with a random outcome per recipient (done with probability `done`), in the book and
/// in the model; the recipients done are appended to their mailbox in `delivered`.
pub(super) fn finish_randomly(
    rng: &mut StdRng,
    book: &mut OrderBook,
    (pending, delivered): (&mut Pending, &mut Delivered),
    claim: &Claim,
    now: SystemTime,
    done: f64,
) {
    let id = claim.id.0;
    let outcomes = claim
        .recipients
        .iter()
        .map(|i| match rng.random_bool(done) {
            true => (*i, Outcome::Done),
            false => (*i, Outcome::Deferred),
        })
        .collect::<Vec<_>>();
    let next_due = now + Duration::from_secs(rng.random_range(0..20));
    let finished = book.release(claim.id, DEST, &outcomes, next_due);
    let entry = pending.get_mut(&id).expect("claimed message is pending");
    for (index, outcome) in &outcomes {
        if *outcome == Outcome::Done {
            let at = entry.0.iter().position(|(i, _)| i == index).expect("index");
            delivered.entry(entry.0.remove(at).1).or_default().push(id);
        }
    }
    entry.1 = next_due;
    assert_eq!(finished, entry.0.is_empty());
    if finished {
        pending.remove(&id);
    }
}

/// Everything was delivered or bounced, and no mailbox saw its messages out of order.
pub(super) fn assert_drained(
    seed: u64,
    book: &OrderBook,
    pending: &Pending,
    delivered: &Delivered,
) {
    assert!(pending.is_empty(), "seed {seed}: not everything completed");
    assert!(book.is_empty());
    for (mailbox, ids) in delivered {
        assert!(
            ids.is_sorted(),
            "seed {seed}: inversion in {mailbox}: {ids:?}"
        );
    }
}
