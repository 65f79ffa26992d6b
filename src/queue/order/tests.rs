//! Tests of the order book: the rules one by one, a randomized multi-worker simulation checked against a
//! brute-force oracle, and a 100,000-message run.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::sim::{
    DEST, Delivered, Pending, assert_drained, claim, done_all, finish_randomly, ins, maybe_arrive,
    q, t,
};
use super::{Claim, OrderBook, Outcome, mailbox_key};

#[test]
fn mailbox_key_lowercases_only_the_domain() {
    assert_eq!(mailbox_key("Bob@Example.TEST"), "Bob@example.test");
    assert_eq!(mailbox_key("\"a@b\"@X.test"), "\"a@b\"@x.test");
    assert_eq!(mailbox_key("postmaster"), "postmaster");
}

#[test]
fn one_mailbox_is_served_strictly_in_order() {
    let mut book = OrderBook::new();
    for id in 1..=3 {
        ins(&mut book, id, &["a@example.test"]);
    }
    assert_eq!(claim(&mut book), Some(1));
    assert_eq!(claim(&mut book), None, "2 must wait while 1 is in flight");
    assert!(done_all(&mut book, 1, 1));
    assert_eq!(claim(&mut book), Some(2));
    assert!(done_all(&mut book, 2, 1));
    assert_eq!(claim(&mut book), Some(3));
    assert!(done_all(&mut book, 3, 1));
    assert!(book.is_empty());
}

#[test]
fn the_rank_not_the_id_decides_the_order() {
    // A cluster ranks by commit order: node B's message (the smaller id, its clock behind) was
    // committed after node A's.
    let mut book = OrderBook::new();
    let late_clock = q(1);
    let early_clock = q(2);
    assert!(book.insert_ranked(early_clock, 10, DEST, [(0, "a@example.test")], t(0)));
    assert!(book.insert_ranked(late_clock, 11, DEST, [(0, "a@example.test")], t(0)));
    assert!(book.insert_ranked(q(3), 12, DEST, [(0, "b@example.test")], t(0)));
    assert_eq!(claim(&mut book), Some(2), "rank 10 first");
    assert_eq!(
        claim(&mut book),
        Some(3),
        "another mailbox goes in parallel"
    );
    assert_eq!(claim(&mut book), None, "rank 11 waits for rank 10");
    assert!(done_all(&mut book, 2, 1));
    assert_eq!(claim(&mut book), Some(1));
    // Chained claims follow the rank too.
    let mut book = OrderBook::new();
    assert!(book.insert_ranked(q(9), 1, DEST, [(0, "a@example.test")], t(0)));
    assert!(book.insert_ranked(q(5), 2, DEST, [(0, "a@example.test")], t(0)));
    assert!(book.insert_ranked(q(7), 3, DEST, [(0, "a@example.test")], t(0)));
    let first = book.claim_next(DEST, t(0), 1).map(|c| c.id);
    assert_eq!(first, Some(q(9)));
    let next = book.claim_after(DEST, q(9), t(0)).map(|c| c.id);
    assert_eq!(next, Some(q(5)));
}

#[test]
fn different_mailboxes_go_in_parallel_oldest_first_up_to_the_limit() {
    let mut book = OrderBook::new();
    for (id, rcpt) in [
        (1, "a@x.test"),
        (2, "b@x.test"),
        (3, "c@x.test"),
        (4, "d@x.test"),
    ] {
        ins(&mut book, id, &[rcpt]);
    }
    let claimed = (0..4)
        .filter_map(|_| book.claim_next(DEST, t(0), 3))
        .map(|c| c.id.0);
    assert_eq!(claimed.collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(book.in_flight(DEST), 3);
    assert!(done_all(&mut book, 2, 1));
    assert_eq!(book.claim_next(DEST, t(0), 3).map(|c| c.id.0), Some(4));
}

#[test]
fn a_deferred_message_keeps_later_ones_waiting_until_it_is_done() {
    let mut book = OrderBook::new();
    ins(&mut book, 1, &["a@x.test"]);
    ins(&mut book, 2, &["a@x.test"]);
    assert_eq!(claim(&mut book), Some(1));
    assert!(!book.release(q(1), DEST, &[(0, Outcome::Deferred)], t(300)));
    assert_eq!(book.claim_next(DEST, t(299), 10), None);
    assert_eq!(book.next_due_at(DEST), Some(t(300)));
    assert_eq!(book.claim_next(DEST, t(300), 10).map(|c| c.id.0), Some(1));
    // Recipients missing from the outcomes stay pending too.
    assert!(!book.release(q(1), DEST, &[], t(400)));
    book.flush(DEST, t(10));
    assert_eq!(book.claim_next(DEST, t(10), 10).map(|c| c.id.0), Some(1));
    assert!(done_all(&mut book, 1, 1));
    assert_eq!(claim(&mut book), Some(2));
}

#[test]
fn a_message_is_claimed_whole_only_when_it_heads_all_its_mailboxes() {
    let mut book = OrderBook::new();
    ins(&mut book, 1, &["a@x.test"]);
    ins(&mut book, 2, &["a@x.test", "b@x.test"]);
    ins(&mut book, 3, &["b@x.test"]);
    ins(&mut book, 4, &["c@x.test"]);
    assert_eq!(claim(&mut book), Some(1));
    // 2 waits behind 1 (mailbox a); 3 waits behind 2 (mailbox b); 4 is free.
    assert_eq!(claim(&mut book), Some(4));
    assert_eq!(claim(&mut book), None);
    assert!(done_all(&mut book, 1, 1));
    let two = book.claim_next(DEST, t(0), 10).unwrap();
    assert_eq!(
        two,
        Claim {
            id: q(2),
            recipients: vec![0, 1]
        }
    );
    assert_eq!(claim(&mut book), None);
    // a delivered, b deferred: 2 still heads b, so 3 keeps waiting.
    assert!(!book.release(
        q(2),
        DEST,
        &[(0, Outcome::Done), (1, Outcome::Deferred)],
        t(0)
    ));
    assert_eq!(
        book.claim_next(DEST, t(0), 10),
        Some(Claim {
            id: q(2),
            recipients: vec![1]
        })
    );
    assert!(book.release(q(2), DEST, &[(1, Outcome::Done)], t(0)));
    assert_eq!(claim(&mut book), Some(3));
}

#[test]
fn recipients_of_one_mailbox_are_grouped_case_insensitively_by_domain() {
    let mut book = OrderBook::new();
    ins(&mut book, 1, &["Bob@Example.TEST", "Bob@example.test"]);
    ins(&mut book, 2, &["Bob@EXAMPLE.test"]);
    ins(&mut book, 3, &["bob@example.test"]);
    assert_eq!(
        book.claim_next(DEST, t(0), 10),
        Some(Claim {
            id: q(1),
            recipients: vec![0, 1]
        })
    );
    // "bob" is another mailbox (local parts are kept as is), "Bob" waits.
    assert_eq!(claim(&mut book), Some(3));
    assert!(!book.release(q(1), DEST, &[(0, Outcome::Done)], t(0)));
    assert_eq!(
        book.claim_next(DEST, t(0), 10),
        Some(Claim {
            id: q(1),
            recipients: vec![1]
        })
    );
    assert!(book.release(q(1), DEST, &[(1, Outcome::Done)], t(0)));
    assert_eq!(claim(&mut book), Some(2));
}

#[test]
fn remove_frees_the_mailboxes_it_headed() {
    let mut book = OrderBook::new();
    ins(&mut book, 1, &["a@x.test"]);
    ins(&mut book, 2, &["a@x.test"]);
    assert_eq!(claim(&mut book), Some(1));
    book.remove(q(1));
    assert_eq!(book.in_flight(DEST), 0);
    assert!(!book.contains(q(1)));
    assert_eq!(claim(&mut book), Some(2));
}

#[test]
fn flush_makes_everything_due_but_keeps_the_order() {
    let mut book = OrderBook::new();
    book.insert(q(1), DEST, [(0, "a@x.test")], t(1000));
    book.insert(q(2), DEST, [(0, "a@x.test")], t(0));
    book.insert(q(3), DEST, [(0, "b@x.test")], t(2000));
    assert_eq!(
        book.claim_next(DEST, t(5), 10),
        None,
        "2 is due but waits behind 1"
    );
    book.flush(DEST, t(5));
    assert_eq!(book.claim_next(DEST, t(5), 10).map(|c| c.id.0), Some(1));
    assert_eq!(book.claim_next(DEST, t(5), 10).map(|c| c.id.0), Some(3));
    assert_eq!(book.claim_next(DEST, t(5), 10), None);
}

#[test]
fn set_due_moves_a_single_message() {
    let mut book = OrderBook::new();
    book.insert(q(1), DEST, [(0, "a@x.test")], t(1000));
    book.set_due(q(1), t(3));
    assert_eq!(book.claim_next(DEST, t(3), 10).map(|c| c.id.0), Some(1));
}

#[test]
fn an_older_message_inserted_late_takes_the_head_back() {
    let mut book = OrderBook::new();
    ins(&mut book, 5, &["a@x.test"]);
    ins(&mut book, 3, &["a@x.test"]);
    assert_eq!(claim(&mut book), Some(3));
    assert_eq!(claim(&mut book), None);
    assert!(
        !book.insert(q(3), DEST, [(0, "a@x.test")], t(0)),
        "duplicates are refused"
    );
    assert!(!book.insert(q(9), DEST, Vec::<(usize, &str)>::new(), t(0)));
}

#[test]
fn destinations_are_independent() {
    let mut book = OrderBook::new();
    book.insert(q(1), "one.test", [(0, "a@one.test")], t(0));
    book.insert(q(1), "two.test", [(1, "b@two.test")], t(0));
    book.insert(q(2), "two.test", [(0, "b@two.test")], t(0));
    assert_eq!(
        book.claim_next("two.test", t(0), 4),
        Some(Claim {
            id: q(1),
            recipients: vec![1]
        })
    );
    assert_eq!(
        book.claim_next("one.test", t(0), 4),
        Some(Claim {
            id: q(1),
            recipients: vec![0]
        })
    );
    assert!(book.release(q(1), "two.test", &[(1, Outcome::Done)], t(0)));
    assert!(book.contains(q(1)), "still pending for one.test");
    assert_eq!(
        book.claim_next("two.test", t(0), 4).map(|c| c.id.0),
        Some(2)
    );
    book.remove(q(1));
    assert!(!book.contains(q(1)));
    assert_eq!(book.destinations().collect::<Vec<_>>(), vec!["two.test"]);
}

/// A brute-force model of the queue used as an oracle.
#[derive(Default)]
struct Model {
    pending: Pending,
    in_flight: BTreeSet<u64>,
    delivered: Delivered,
}

impl Model {
    fn heads_all(&self, id: u64) -> bool {
        let (rcpts, _) = &self.pending[&id];
        rcpts.iter().all(|(_, m)| {
            let older = self
                .pending
                .range(..id)
                .any(|(_, (r, _))| r.iter().any(|(_, o)| o == m));
            !older
        })
    }

    fn expected_claim(&self, now: SystemTime) -> Option<u64> {
        self.pending
            .iter()
            .filter(|(id, (_, due))| !self.in_flight.contains(id) && *due <= now)
            .map(|(id, _)| *id)
            .find(|id| self.heads_all(*id))
    }
}

fn simulate(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mailboxes = ["a@x.test", "b@x.test", "c@X.test", "d@x.test", "e@x.test"];
    let mut book = OrderBook::new();
    let mut model = Model::default();
    let mut next_id = 1u64;
    let mut now = t(0);
    let mut claims: Vec<Claim> = Vec::new();
    let max_parallel = rng.random_range(1..=4);
    for step in 0..20_000 {
        let pending = &mut model.pending;
        maybe_arrive(
            &mut rng,
            &mut book,
            pending,
            &mut next_id,
            now,
            &mailboxes,
            3,
        );
        if rng.random_bool(0.02) {
            book.flush(DEST, now);
            model
                .pending
                .values_mut()
                .for_each(|(_, due)| *due = (*due).min(now));
        }
        while claims.len() < max_parallel {
            let expected = model.expected_claim(now);
            let got = book.claim_next(DEST, now, max_parallel);
            assert_eq!(
                got.as_ref().map(|c| c.id.0),
                expected,
                "seed {seed} step {step}"
            );
            let Some(claim) = got else { break };
            let mut want = model.pending[&claim.id.0]
                .0
                .iter()
                .map(|(i, _)| *i)
                .collect::<Vec<_>>();
            want.sort_unstable();
            assert_eq!(claim.recipients, want);
            model.in_flight.insert(claim.id.0);
            claims.push(claim);
        }
        if !claims.is_empty() && rng.random_bool(0.5) {
            let claim = claims.swap_remove(rng.random_range(0..claims.len()));
            let model_parts = (&mut model.pending, &mut model.delivered);
            finish_randomly(&mut rng, &mut book, model_parts, &claim, now, 0.6);
            model.in_flight.remove(&claim.id.0);
        }
        now += Duration::from_secs(1);
        if next_id > 200 && model.pending.is_empty() {
            break;
        }
    }
    assert_drained(seed, &book, &model.pending, &model.delivered);
}

#[test]
fn randomized_workers_never_invert_and_always_finish() {
    for seed in 0..25 {
        simulate(seed);
    }
}

#[test]
fn a_hundred_thousand_messages_drain_quickly() {
    let mut book = OrderBook::new();
    let n = 100_000u64;
    for id in 0..n {
        let rcpt = format!("user{}@x.test", id % 50);
        assert!(book.insert(q(id), DEST, [(0, rcpt)], t(id)));
    }
    let started = std::time::Instant::now();
    let mut claimed = Vec::new();
    let mut last_per_mailbox = vec![None; 50];
    while !book.is_empty() {
        while let Some(claim) = book.claim_next(DEST, t(n), 4) {
            claimed.push(claim.id);
        }
        // Complete the oldest claim first, as a fast connection would.
        claimed.sort();
        let id = claimed.remove(0);
        let slot = &mut last_per_mailbox[(id.0 % 50) as usize];
        assert!(slot.is_none_or(|last| last < id));
        *slot = Some(id);
        book.release(id, DEST, &[(0, Outcome::Done)], t(n));
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
