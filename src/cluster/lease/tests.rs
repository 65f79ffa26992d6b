//! The lease core's rules: validity counted from the sent instant, take-over detection, expiry, epochs,
//! and the acquire share.

use std::time::{Duration, Instant};

use super::*;

const LEASE: Duration = Duration::from_secs(15);

/// A lease table holding `grants` (destination, epoch), all requested at `t0`.
fn granted(t0: Instant, grants: &[(&str, u64)]) -> Leases {
    let mut leases = Leases::new(LEASE);
    for (destination, epoch) in grants {
        leases.acquired(destination, *epoch, t0);
    }
    leases
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn validity_runs_from_the_instant_the_request_was_sent_minus_the_margin() {
    let t0 = Instant::now();
    let leases = granted(t0, &[("a.test", 7)]);
    assert_eq!(leases.renew_interval(), s(3));
    assert_eq!(leases.may_deliver("a.test", t0 + s(11)), Some(7));
    assert_eq!(leases.may_deliver("a.test", t0 + s(12)), None);
    assert_eq!(leases.next_deadline(), Some(t0 + s(12)));
    assert_eq!(leases.may_deliver("b.test", t0), None);
}

#[test]
fn a_renewal_extends_only_the_leases_granted_with_the_same_epoch() {
    let t0 = Instant::now();
    let mut leases = granted(t0, &[("a.test", 1), ("b.test", 4), ("c.test", 9)]);
    let lost = leases.renewed(t0 + s(3), &[("a.test".into(), 1), ("b.test".into(), 5)]);
    assert_eq!(lost.destinations, vec!["b.test", "c.test"]);
    assert_eq!(leases.may_deliver("a.test", t0 + s(14)), Some(1));
    assert_eq!(leases.may_deliver("b.test", t0 + s(4)), None);
    assert_eq!(leases.len(), 1);
}

#[test]
fn a_late_answer_to_an_older_renewal_never_shortens_validity() {
    let t0 = Instant::now();
    let mut leases = granted(t0, &[("a.test", 1)]);
    leases.renewed(t0 + s(6), &[("a.test".into(), 1)]);
    leases.renewed(t0 + s(3), &[("a.test".into(), 1)]);
    assert_eq!(leases.may_deliver("a.test", t0 + s(17)), Some(1));
}

#[test]
fn failing_renewals_let_every_lease_run_out_and_expire_drops_them() {
    let t0 = Instant::now();
    let mut leases = granted(t0, &[("a.test", 1)]);
    leases.acquired("b.test", 1, t0 + s(2));
    assert!(leases.expire(t0 + s(11)).destinations.is_empty());
    assert_eq!(leases.expire(t0 + s(12)).destinations, vec!["a.test"]);
    assert_eq!(leases.expire(t0 + s(20)).destinations, vec!["b.test"]);
    assert!(leases.is_empty());
    assert_eq!(leases.next_deadline(), None);
}

#[test]
fn release_gives_everything_back() {
    let t0 = Instant::now();
    let mut leases = granted(t0, &[("b.test", 1), ("a.test", 1)]);
    assert_eq!(leases.release_all(), vec!["a.test", "b.test"]);
    assert_eq!(leases.may_deliver("a.test", t0), None);
}

#[test]
fn the_node_gives_up_before_the_database_lets_another_take_over() {
    // The database stamps expiry at (its receipt of the renewal) + lease; the node counts from the
    // earlier send instant and subtracts the margin: for every send/receipt delay the node's deadline
    // comes first, by at least the margin.
    let t0 = Instant::now();
    for delay_ms in [0u64, 1, 50, 900, 2_999] {
        let mut leases = Leases::new(LEASE);
        leases.acquired("a.test", 1, t0);
        let database_expiry = t0 + Duration::from_millis(delay_ms) + LEASE;
        let deadline = leases.next_deadline().expect("held");
        assert!(
            deadline + leases.margin() <= database_expiry,
            "delay {delay_ms} ms"
        );
    }
}

fn candidate(destination: &str, owner: Option<&str>, oldest_arrival: u64) -> Candidate {
    Candidate {
        destination: destination.into(),
        owner: owner.map(str::to_string),
        oldest_arrival,
        expires_in: owner.map(|_| Duration::from_secs(10)),
    }
}

#[test]
fn a_node_looks_again_when_another_nodes_lease_expires() {
    let expiring = |owner: &str, ms: u64| Candidate {
        expires_in: Some(Duration::from_millis(ms)),
        ..candidate(owner, Some(owner), 1)
    };
    let ms = Duration::from_millis;
    assert_eq!(takeover_wait("a", &[]), None);
    assert_eq!(takeover_wait("a", &[candidate("x", None, 1)]), None);
    // Its own leases are not waited for.
    assert_eq!(takeover_wait("a", &[expiring("a", 5)]), None);
    let candidates = [
        expiring("b", 7_000),
        expiring("c", 2_000),
        expiring("a", 10),
    ];
    assert_eq!(takeover_wait("a", &candidates), Some(ms(2_050)));
    // An expiry already reached (clock rounding) still waits a little.
    assert_eq!(takeover_wait("a", &[expiring("b", 0)]), Some(ms(50)));
}

#[test]
fn fair_share_is_an_even_split_plus_one() {
    assert_eq!(fair_share(0, 3), 1);
    assert_eq!(fair_share(1, 3), 2);
    assert_eq!(fair_share(9, 3), 4);
    assert_eq!(fair_share(10, 3), 5);
    assert_eq!(fair_share(10, 0), 11);
}

#[test]
fn a_node_takes_free_destinations_oldest_mail_first_up_to_its_share() {
    let candidates = vec![
        candidate("d.test", None, 40),
        candidate("a.test", Some("n2"), 10),
        candidate("c.test", None, 20),
        candidate("b.test", None, 30),
        candidate("e.test", Some("n1"), 5),
    ];
    // 5 destinations over 2 nodes: share 4; n1 holds one, so it may take three more.
    assert_eq!(
        to_acquire("n1", &candidates, 2),
        vec!["c.test", "b.test", "d.test"]
    );
    // Over 5 nodes the share is 2: n1 takes only the oldest free one.
    assert_eq!(to_acquire("n1", &candidates, 5), vec!["c.test"]);
}

#[test]
fn a_lone_node_takes_everything_and_a_full_node_takes_nothing() {
    let candidates: Vec<Candidate> = (0..6)
        .map(|i| candidate(&format!("d{i}.test"), None, i))
        .collect();
    assert_eq!(to_acquire("n1", &candidates, 1).len(), 6);
    // Holding its share of what has mail (4 of 6 over 2 nodes), a node takes nothing more.
    let owned: Vec<Candidate> = (0..6)
        .map(|i| candidate(&format!("d{i}.test"), (i < 4).then_some("n1"), i))
        .collect();
    assert!(to_acquire("n1", &owned, 2).is_empty());
}

#[test]
fn leases_on_drained_destinations_do_not_count() {
    // n1 still holds leases on two drained destinations (not candidates); the dead node's last
    // destination with mail is free: n1 takes it.
    let candidates = vec![candidate("d3.test", None, 7)];
    assert_eq!(to_acquire("n1", &candidates, 2), vec!["d3.test"]);
}
