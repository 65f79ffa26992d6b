//! Tests of pipelining claims: a message claimed behind the one its connection is still sending is
//! sent only if that one leaves the mailbox; a randomized run of pipelining connections checked
//! against a brute-force oracle never inverts a mailbox's order.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::sim::{
    DEST, Delivered, Pending, assert_drained, claim, finish_randomly, ins, maybe_arrive, q, t,
};
use super::{Claim, OrderBook, Outcome};

fn after(book: &mut OrderBook, prev: u64) -> Option<u64> {
    book.claim_after(DEST, q(prev), t(0)).map(|c| c.id.0)
}

fn release(book: &mut OrderBook, id: u64, outcomes: &[Outcome], due: SystemTime) -> bool {
    let outcomes = outcomes.iter().copied().enumerate().collect::<Vec<_>>();
    book.release(q(id), DEST, &outcomes, due)
}

#[test]
fn the_next_message_of_a_mailbox_is_chained_and_confirmed_once_its_elder_is_done() {
    let mut book = OrderBook::new();
    for id in 1..=3 {
        ins(&mut book, id, &["a@x.test"]);
    }
    assert_eq!(claim(&mut book), Some(1));
    assert_eq!(after(&mut book, 1), Some(2));
    assert_eq!(
        book.in_flight(DEST),
        1,
        "a chained claim is not counted yet"
    );
    assert!(book.is_in_flight(q(2)));
    assert_eq!(claim(&mut book), None);
    assert_eq!(after(&mut book, 1), None, "2 is already taken");
    assert!(release(&mut book, 1, &[Outcome::Done], t(0)));
    assert!(book.confirm(DEST, q(2)));
    assert_eq!(book.in_flight(DEST), 1);
    assert_eq!(after(&mut book, 2), Some(3));
    assert!(release(&mut book, 2, &[Outcome::Done], t(0)));
    assert!(book.confirm(DEST, q(3)));
    assert!(release(&mut book, 3, &[Outcome::Done], t(0)));
    assert!(book.is_empty());
    assert_eq!(book.in_flight(DEST), 0);
}

#[test]
fn a_deferred_elder_makes_the_chained_message_go_back_untried() {
    let mut book = OrderBook::new();
    ins(&mut book, 1, &["a@x.test"]);
    ins(&mut book, 2, &["a@x.test"]);
    assert_eq!(claim(&mut book), Some(1));
    assert_eq!(after(&mut book, 1), Some(2));
    assert!(!release(&mut book, 1, &[Outcome::Deferred], t(300)));
    assert!(
        !book.confirm(DEST, q(2)),
        "2 must not overtake the deferred 1"
    );
    assert!(!book.is_in_flight(q(2)));
    assert_eq!(book.in_flight(DEST), 0);
    assert_eq!(claim(&mut book), None);
    assert_eq!(book.claim_next(DEST, t(300), 10).map(|c| c.id.0), Some(1));
    assert!(release(&mut book, 1, &[Outcome::Done], t(300)));
    assert_eq!(claim(&mut book), Some(2), "2 keeps its own due time");
}

#[test]
fn a_partly_deferred_elder_holds_back_only_the_mailboxes_it_still_heads() {
    let mut book = OrderBook::new();
    ins(&mut book, 1, &["a@x.test", "b@x.test"]);
    ins(&mut book, 2, &["b@x.test"]);
    ins(&mut book, 3, &["c@x.test"]);
    assert_eq!(claim(&mut book), Some(1));
    assert_eq!(
        after(&mut book, 1),
        Some(2),
        "oldest of successor and ready"
    );
    assert!(!release(
        &mut book,
        1,
        &[Outcome::Done, Outcome::Deferred],
        t(60)
    ));
    assert!(!book.confirm(DEST, q(2)));
    assert_eq!(claim(&mut book), Some(3), "an unrelated message is free");
}

#[test]
fn a_message_waiting_for_two_elders_is_not_chained_behind_one() {
    let mut book = OrderBook::new();
    ins(&mut book, 1, &["a@x.test"]);
    ins(&mut book, 2, &["b@x.test"]);
    ins(&mut book, 3, &["a@x.test", "b@x.test"]);
    assert_eq!(claim(&mut book), Some(1));
    assert_eq!(claim(&mut book), Some(2));
    assert_eq!(after(&mut book, 1), None);
    assert!(release(&mut book, 2, &[Outcome::Done], t(0)));
    assert_eq!(after(&mut book, 1), Some(3));
}

#[test]
fn a_successor_not_due_yet_is_not_chained() {
    let mut book = OrderBook::new();
    ins(&mut book, 1, &["a@x.test"]);
    assert!(book.insert(q(2), DEST, [(0, "a@x.test")], t(100)));
    assert_eq!(claim(&mut book), Some(1));
    assert_eq!(after(&mut book, 1), None);
    assert_eq!(
        book.claim_after(DEST, q(1), t(100)).map(|c| c.id.0),
        Some(2)
    );
}

#[test]
fn chaining_ignores_the_connection_limit_and_unclaim_gives_back() {
    let mut book = OrderBook::new();
    ins(&mut book, 1, &["a@x.test"]);
    ins(&mut book, 2, &["b@x.test"]);
    assert_eq!(book.claim_next(DEST, t(0), 1).map(|c| c.id.0), Some(1));
    assert_eq!(book.claim_next(DEST, t(0), 1), None);
    assert_eq!(after(&mut book, 1), Some(2));
    book.unclaim(DEST, q(2));
    assert!(!book.is_in_flight(q(2)));
    assert_eq!(book.in_flight(DEST), 1);
    assert_eq!(after(&mut book, 1), Some(2));
    // Removed while chained (an admin deleted it): the count is untouched.
    book.remove(q(2));
    assert!(!book.confirm(DEST, q(2)));
    assert_eq!(book.in_flight(DEST), 1);
}

/// One delivery connection: the message it is sending and the one pipelined behind it.
struct Conn {
    current: Claim,
    chained: Option<Claim>,
}

/// Brute-force oracle: the queued messages and the ones claimed (in flight or chained).
#[derive(Default)]
struct Model {
    pending: Pending,
    taken: BTreeSet<u64>,
}

impl Model {
    /// Whether every older message sharing a mailbox with `id` is `except`.
    fn free_but(&self, id: u64, except: Option<u64>) -> bool {
        let (rcpts, _) = &self.pending[&id];
        rcpts.iter().all(|(_, m)| {
            self.pending
                .range(..id)
                .filter(|(other, _)| Some(**other) != except)
                .all(|(_, (r, _))| r.iter().all(|(_, o)| o != m))
        })
    }

    fn expected(&self, now: SystemTime, after: Option<u64>) -> Option<u64> {
        self.pending
            .iter()
            .filter(|(id, (_, due))| !self.taken.contains(id) && *due <= now)
            .map(|(id, _)| *id)
            .find(|id| self.free_but(*id, after))
    }
}

fn simulate(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mailboxes = ["a@x.test", "b@x.test", "c@X.test", "d@x.test"];
    let mut book = OrderBook::new();
    let mut model = Model::default();
    let mut delivered = Delivered::new();
    let (mut next_id, mut now) = (1u64, t(0));
    let mut conns: Vec<Conn> = Vec::new();
    let max_parallel = rng.random_range(1..=3);
    for step in 0..20_000 {
        let pending = &mut model.pending;
        maybe_arrive(
            &mut rng,
            &mut book,
            pending,
            &mut next_id,
            now,
            &mailboxes,
            2,
        );
        while conns.len() < max_parallel {
            let got = book.claim_next(DEST, now, max_parallel);
            let want = model.expected(now, None);
            assert_eq!(
                got.as_ref().map(|c| c.id.0),
                want,
                "seed {seed} step {step}"
            );
            let Some(current) = got else { break };
            model.taken.insert(current.id.0);
            conns.push(Conn {
                current,
                chained: None,
            });
        }
        if conns.is_empty() {
            now += Duration::from_secs(1);
            continue;
        }
        let pick = rng.random_range(0..conns.len());
        let conn = &mut conns[pick];
        if conn.chained.is_none() && rng.random_bool(0.5) {
            let prev = conn.current.id;
            let got = book.claim_after(DEST, prev, now);
            let want = model.expected(now, Some(prev.0));
            assert_eq!(
                got.as_ref().map(|c| c.id.0),
                want,
                "seed {seed} step {step}"
            );
            if let Some(c) = &got {
                model.taken.insert(c.id.0);
            }
            conn.chained = got;
            continue;
        }
        // The current message's outcome arrives, then the chained one is confirmed or dropped.
        let Conn { current, chained } = conns.swap_remove(pick);
        let model_parts = (&mut model.pending, &mut delivered);
        finish_randomly(&mut rng, &mut book, model_parts, &current, now, 0.7);
        model.taken.remove(&current.id.0);
        if let Some(next) = chained {
            let may = model.free_but(next.id.0, None);
            assert_eq!(book.confirm(DEST, next.id), may, "seed {seed} step {step}");
            if may {
                conns.push(Conn {
                    current: next,
                    chained: None,
                });
            } else {
                // The connection is dropped with the chained message unsent.
                model.taken.remove(&next.id.0);
            }
        }
        now += Duration::from_secs(1);
        if next_id > 200 && model.pending.is_empty() {
            break;
        }
    }
    assert_drained(seed, &book, &model.pending, &delivered);
}

#[test]
fn randomized_pipelining_connections_never_invert_and_always_finish() {
    for seed in 0..25 {
        simulate(seed);
    }
}
