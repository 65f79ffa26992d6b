//! Tests of the scheduler's destinations and queue operations: order across and within mailboxes,
//! health (unreachable, probes, misconfigured), flushes, held messages, recovery, limits.

use super::tests::{
    A, B, DAY, HOUR, MIN, attempt, attempt_all, claimed, finish_all, is_remove, later, ms, msg, ok,
    sched, t,
};
use super::*;
use crate::envelope::{Attempt, RecipientStatus};

#[test]
fn a_later_message_for_the_same_mailbox_waits_behind_a_deferred_one_even_after_flush() {
    let mut s = sched(4);
    s.insert(msg(1, 0, &["x@a.test"]), t(0));
    s.insert(msg(2, 1, &["x@a.test", "z@a.test"]), t(1));
    assert_eq!(claimed(&mut s, A, 1), Some(1));
    assert_eq!(claimed(&mut s, A, 1), None, "2 waits while 1 is in flight");
    let c1 = Claim {
        id: QueueId(1),
        recipients: vec![0],
    };
    finish_all(&mut s, A, &c1, 2, later());
    assert_eq!(claimed(&mut s, A, 3), None, "2 waits while 1 is deferred");
    for scope in [
        FlushScope::All,
        FlushScope::Domain(A.into()),
        FlushScope::Ids(vec![QueueId(2)]),
    ] {
        s.flush(&scope, t(3));
        let first = claimed(&mut s, A, 3);
        assert_eq!(claimed(&mut s, A, 3), None, "2 must not overtake 1");
        if first.is_none() {
            continue; // a flush of ids [2] does not make 1 due
        }
        assert_eq!(first, Some(1));
        let c1 = Claim {
            id: QueueId(1),
            recipients: vec![0],
        };
        s.finish(A, &c1, &[], attempt(3, "none"), t(3));
    }
    // Once 1 is delivered, 2 goes.
    s.flush(&FlushScope::Ids(vec![QueueId(1)]), t(4));
    attempt_all(&mut s, A, 4, ok());
    assert_eq!(claimed(&mut s, A, 4), Some(2));
}

#[test]
fn across_mailboxes_the_oldest_goes_first() {
    let mut s = sched(1);
    for (id, rcpt) in [(3, "c@a.test"), (1, "a@a.test"), (2, "b@a.test")] {
        s.insert(msg(id, id, &[rcpt]), t(10));
    }
    for id in 1..=3 {
        assert_eq!(claimed(&mut s, A, 10), Some(id));
        assert_eq!(claimed(&mut s, A, 10), None, "max_parallel = 1");
        let claim = Claim {
            id: QueueId(id),
            recipients: vec![0],
        };
        finish_all(&mut s, A, &claim, 10, ok());
    }
}

#[test]
fn postmaster_recipients_go_to_the_postmaster_destination() {
    let mut s = sched(4);
    s.insert(msg(1, 0, &["postmaster", "x@a.test"]), t(0));
    assert_eq!(
        s.wanted_workers(t(0)),
        vec![POSTMASTER.to_string(), A.to_string()]
    );
    let claim = s.claim(POSTMASTER, t(0)).unwrap();
    assert_eq!(claim.recipients, vec![0]);
    let c = finish_all(&mut s, POSTMASTER, &claim, 0, ok());
    assert!(!c.updates.iter().any(is_remove), "x@a.test is pending");
    assert_eq!(claimed(&mut s, POSTMASTER, 0), None);
    let c = attempt_all(&mut s, A, 0, ok());
    assert!(c.updates.iter().any(is_remove));
}

#[test]
fn unreachable_destination_is_deferred_and_probed_every_interval() {
    let mut s = sched(4);
    s.insert(msg(1, 0, &["x@a.test"]), t(0));
    s.mark_unreachable(A, "connection refused".into(), t(0));
    assert!(matches!(
        &s.destination(A).unwrap().health,
        Health::Unreachable { since_ms, error } if *since_ms == ms(0) && error == "connection refused"
    ));
    assert!(s.wanted_workers(t(0)).is_empty());
    assert_eq!(s.due_while_down(t(0)), vec![A.to_string()]);
    // The run loop defers the due mail without connecting.
    s.worker_started(A);
    assert!(s.due_while_down(t(0)).is_empty(), "one deferral at a time");
    let claim = s.claim_for_deferral(A, t(0)).unwrap();
    finish_all(&mut s, A, &claim, 0, later());
    s.worker_stopped(A);
    assert!(s.due_while_down(t(1)).is_empty(), "nothing due until 5m");
    assert_eq!(s.next_wakeup(), Some(t(2)), "the probe comes first");
    assert!(s.take_due_probes(t(1)).is_empty());
    assert_eq!(s.take_due_probes(t(2)), vec![A.to_string()]);
    assert!(s.take_due_probes(t(3)).is_empty(), "already probing");
    // Still down: the probe reports so, then the next one is due one interval later.
    s.mark_unreachable(A, "timeout".into(), t(3));
    s.probe_done(A);
    assert!(matches!(
        &s.destination(A).unwrap().health,
        Health::Unreachable { since_ms, error } if *since_ms == ms(0) && error == "timeout"
    ));
    assert!(s.take_due_probes(t(4)).is_empty());
    assert_eq!(s.take_due_probes(t(5)), vec![A.to_string()]);
    s.mark_unreachable(A, "timeout".into(), t(6));
    s.probe_done(A);
    // Mail due while down is deferred by the schedule.
    assert_eq!(s.due_while_down(t(5 * MIN)), vec![A.to_string()]);
}

/// Regression: a probe that finds the destination back flushes its queue; a deferral running at the
/// same time used to claim the flushed messages and push them back by the retry schedule.
#[test]
fn a_probe_and_a_deferral_of_the_same_destination_never_run_together() {
    let mut s = sched(4);
    s.insert(msg(1, 0, &["x@a.test"]), t(0));
    s.insert(msg(2, 0, &["y@a.test"]), t(0));
    s.mark_unreachable(A, "refused".into(), t(0));
    // Both the deferral and the probe are due: the deferral goes first, the probe after it.
    assert_eq!(s.due_while_down(t(2)), vec![A.to_string()]);
    assert!(s.take_due_probes(t(2)).is_empty());
    s.worker_started(A);
    attempt_deferral(&mut s, 2);
    attempt_deferral(&mut s, 2);
    s.worker_stopped(A);
    assert_eq!(s.take_due_probes(t(3)), vec![A.to_string()]);
    // While the probe runs, newly due mail is not deferred and does not make the loop spin.
    assert!(s.due_while_down(t(5 * MIN + 2)).is_empty());
    assert_eq!(s.next_wakeup(), None);
    // The probe finds it back: everything is due at once and nothing defers it.
    assert!(s.mark_up(A, t(5 * MIN + 3)));
    s.probe_done(A);
    assert!(s.due_while_down(t(5 * MIN + 3)).is_empty());
    assert_eq!(s.wanted_workers(t(5 * MIN + 3)), vec![A.to_string()]);
    assert!(s.next_wakeup().is_some_and(|w| w <= t(5 * MIN + 3)));
}

#[test]
fn a_probe_that_finds_the_destination_still_down_lets_the_deferral_run() {
    let mut s = sched(4);
    s.insert(msg(1, 0, &["x@a.test"]), t(0));
    s.mark_unreachable(A, "refused".into(), t(0));
    attempt_deferral(&mut s, 0);
    assert_eq!(s.take_due_probes(t(2)), vec![A.to_string()]);
    assert!(s.due_while_down(t(5 * MIN)).is_empty(), "probing");
    s.mark_unreachable(A, "refused".into(), t(5 * MIN));
    s.probe_done(A);
    assert_eq!(s.due_while_down(t(5 * MIN)), vec![A.to_string()]);
    assert_eq!(s.next_wakeup(), Some(t(5 * MIN)));
}

#[test]
fn mark_up_after_unreachable_flushes_everything_oldest_first() {
    let mut s = sched(4);
    for id in 1..=3 {
        s.insert(msg(id, id, &[&format!("u{id}@a.test")]), t(id));
    }
    s.mark_unreachable(A, "refused".into(), t(5));
    while let Some(claim) = s.claim_for_deferral(A, t(5)) {
        finish_all(&mut s, A, &claim, 5, later());
    }
    assert!(s.due_while_down(t(6)).is_empty());
    assert!(s.mark_up(A, t(10)), "unreachable -> up is a recovery");
    assert_eq!(s.destination(A).unwrap().health, Health::Up);
    assert_eq!(s.destination(A).unwrap().next_probe, None);
    assert_eq!(s.wanted_workers(t(10)), vec![A.to_string()]);
    for id in 1..=3 {
        assert_eq!(claimed(&mut s, A, 10), Some(id));
    }
    assert!(!s.mark_up(A, t(11)), "up -> up is not");
    // A destination first reached is not a recovery either.
    s.insert(msg(9, 20, &["x@b.test"]), t(20));
    assert!(!s.mark_up(B, t(20)));
    assert!(!s.mark_up("unknown.test", t(20)));
}

#[test]
fn a_misconfigured_destination_that_is_fixed_is_flushed() {
    let mut s = sched(4);
    s.insert(msg(1, 0, &["x@a.test"]), t(0));
    s.mark_misconfigured(A, "no MX".into(), t(0));
    s.mark_misconfigured(A, "we are the best MX".into(), t(1));
    assert!(matches!(
        &s.destination(A).unwrap().health,
        Health::Misconfigured { since_ms, reason } if *since_ms == ms(0) && reason == "we are the best MX"
    ));
    attempt_deferral(&mut s, 1);
    assert!(s.mark_up(A, t(30)));
    assert_eq!(claimed(&mut s, A, 30), Some(1));
}

fn attempt_deferral(s: &mut Scheduler, at: u64) {
    let claim = s.claim_for_deferral(A, t(at)).unwrap();
    finish_all(s, A, &claim, at, later());
}

#[test]
fn flush_by_all_domain_and_ids() {
    let mut s = sched(4);
    s.insert(msg(1, 0, &["x@a.test"]), t(0));
    s.insert(msg(2, 0, &["x@b.test"]), t(0));
    s.insert(msg(3, 0, &["y@b.test"]), t(0));
    attempt_all(&mut s, A, 0, later());
    attempt_all(&mut s, B, 0, later());
    attempt_all(&mut s, B, 0, later());
    assert!(s.wanted_workers(t(60)).is_empty());

    assert_eq!(s.flush(&FlushScope::Domain(A.into()), t(60)), 1);
    assert_eq!(s.wanted_workers(t(60)), vec![A.to_string()]);
    assert_eq!(claimed(&mut s, B, 60), None);
    attempt_all(&mut s, A, 60, later());

    assert_eq!(s.flush(&FlushScope::Ids(vec![QueueId(3)]), t(61)), 1);
    assert_eq!(claimed(&mut s, B, 61), Some(3));
    assert_eq!(claimed(&mut s, B, 61), None);
    assert_eq!(claimed(&mut s, A, 61), None);

    assert_eq!(s.flush(&FlushScope::Ids(vec![QueueId(77)]), t(62)), 0);
    s.flush(&FlushScope::All, t(62));
    assert_eq!(claimed(&mut s, A, 62), Some(1));
    assert_eq!(claimed(&mut s, B, 62), Some(2));
}

#[test]
fn flushing_a_down_destination_probes_it_now() {
    let mut s = sched(4);
    s.insert(msg(1, 0, &["x@a.test"]), t(0));
    s.mark_unreachable(A, "refused".into(), t(0));
    attempt_deferral(&mut s, 0);
    s.flush(&FlushScope::Domain(A.into()), t(1));
    assert_eq!(s.destination(A).unwrap().next_probe, Some(t(1)));
}

fn held(mut m: StoredMessage) -> StoredMessage {
    m.held = true;
    m
}

#[test]
fn held_messages_are_never_due_not_even_after_a_flush_or_recovery() {
    let mut s = sched(4);
    s.insert(held(msg(1, 0, &["x@a.test"])), t(0));
    s.insert(msg(2, 0, &["y@a.test"]), t(0));
    assert_eq!(claimed(&mut s, A, DAY), Some(2));
    assert_eq!(claimed(&mut s, A, DAY), None);
    assert_eq!(s.flush(&FlushScope::Ids(vec![QueueId(1)]), t(1)), 0);
    assert_eq!(claimed(&mut s, A, 1), None);
    s.flush(&FlushScope::Domain(A.into()), t(2));
    assert_eq!(claimed(&mut s, A, 2), None, "domain flush");
    s.flush(&FlushScope::All, t(3));
    assert_eq!(claimed(&mut s, A, 3), None, "flush all");
    s.mark_unreachable(A, "refused".into(), t(4));
    assert!(s.mark_up(A, t(5)));
    assert_eq!(claimed(&mut s, A, 5), None, "recovery flush");
    assert!(s.next_wakeup().is_none_or(|w| w > t(10 * 365 * DAY)));
}

#[test]
fn recovered_messages_are_due_by_their_schedule() {
    let mut s = sched(4);
    // Never tried: due at arrival.
    s.insert(msg(1, 0, &["x@a.test"]), t(HOUR));
    // Tried twice (the warning is not an attempt): third attempt 10 minutes after the second.
    let mut tried = msg(2, 0, &["y@a.test", "z@a.test"]);
    tried.attempts = vec![attempt(0, "451"), attempt(5 * MIN, "451")];
    tried.attempts.push(Attempt {
        result: DELAY_WARNING_SENT.into(),
        ..attempt(5 * MIN, "")
    });
    tried.envelope.recipients[0].status = RecipientStatus::Delivered {
        at_ms: ms(0),
        reply: "250".into(),
    };
    s.insert(tried, t(6 * MIN));
    // Past its lifetime: due at once, for its final attempt.
    let mut old = msg(3, 0, &["w@b.test"]);
    old.attempts = vec![attempt(5 * DAY - MIN, "451")];
    s.insert(old, t(6 * DAY));

    assert_eq!(claimed(&mut s, A, 6 * MIN), Some(1));
    assert_eq!(claimed(&mut s, A, 15 * MIN - 1), None);
    let claim = s.claim(A, t(15 * MIN)).unwrap();
    assert_eq!((claim.id, claim.recipients), (QueueId(2), vec![1]));
    let c = attempt_all(&mut s, B, 6 * DAY, later());
    assert_eq!(c.bounces[0].recipients[0].1, "4.4.7");
    // No second warning for the recovered message 2 (it is long past 4 hours).
    let claim = Claim {
        id: QueueId(2),
        recipients: vec![1],
    };
    let c = finish_all(&mut s, A, &claim, 5 * HOUR, later());
    assert!(c.bounces.is_empty());
}

#[test]
fn inserting_a_message_twice_changes_nothing() {
    let mut s = sched(4);
    s.insert(msg(1, 0, &["x@a.test"]), t(0));
    s.insert(held(msg(1, 0, &["x@a.test"])), t(0));
    assert_eq!(s.len(), 1);
    assert_eq!(claimed(&mut s, A, 0), Some(1));
    assert_eq!(claimed(&mut s, A, 0), None);
}

#[test]
fn max_parallel_limits_claims_and_workers() {
    let mut s = sched(2);
    for id in 1..=4 {
        s.insert(msg(id, 0, &[&format!("u{id}@a.test")]), t(0));
    }
    assert_eq!(s.wanted_workers(t(0)), vec![A.to_string()]);
    s.worker_started(A);
    assert_eq!(s.wanted_workers(t(0)), vec![A.to_string()]);
    s.worker_started(A);
    assert!(s.wanted_workers(t(0)).is_empty(), "two connections run");
    s.worker_stopped(A);
    assert_eq!(claimed(&mut s, A, 0), Some(1));
    assert_eq!(claimed(&mut s, A, 0), Some(2));
    assert_eq!(claimed(&mut s, A, 0), None, "two in flight");
    assert!(s.wanted_workers(t(0)).is_empty(), "two in flight");
    // Deferral of a down destination ignores the limit.
    assert_eq!(s.claim_for_deferral(A, t(0)).map(|c| c.id.0), Some(3));
    s.worker_stopped(A);
    s.worker_stopped(A);
    assert_eq!(s.destination(A).unwrap().workers, 0);
}

#[test]
fn prune_forgets_idle_destinations_only() {
    let mut s = sched(4);
    s.insert(msg(1, 0, &["x@a.test"]), t(0));
    s.insert(msg(2, 0, &["x@b.test"]), t(0));
    s.insert(msg(3, 0, &["x@c.test"]), t(0));
    attempt_all(&mut s, A, 0, ok());
    attempt_all(&mut s, B, 0, ok());
    attempt_all(&mut s, "c.test", 0, ok());
    s.worker_started(B);
    s.mark_unreachable("c.test", "refused".into(), t(0));
    assert_eq!(s.take_due_probes(t(2)), vec!["c.test".to_string()]);
    s.prune_destinations();
    assert!(s.destination(A).is_none());
    assert!(s.destination(B).is_some(), "a worker runs");
    assert!(s.destination("c.test").is_some(), "a probe runs");
    s.worker_stopped(B);
    s.probe_done("c.test");
    s.prune_destinations();
    assert_eq!(s.destinations().count(), 0);
}

#[test]
fn finishing_an_unknown_claim_does_nothing() {
    let mut s = sched(4);
    let claim = Claim {
        id: QueueId(5),
        recipients: vec![0],
    };
    assert_eq!(
        finish_all(&mut s, A, &claim, 0, ok()),
        Consequences::default()
    );
}

/// In a cluster, another node seeing a primary answer makes this node probe its unreachable
/// destinations at once; a misconfigured one (its DNS) and one already being probed are left alone.
#[test]
fn unreachable_destinations_can_be_probed_at_once() {
    let mut s = sched(4);
    s.insert(msg(1, 0, &["x@a.test"]), t(0));
    s.insert(msg(2, 0, &["y@b.test"]), t(0));
    s.mark_unreachable(A, "connection refused".into(), t(0));
    s.mark_misconfigured(B, "we are the best MX".into(), t(0));
    for dest in [A, B] {
        let claim = s.claim_for_deferral(dest, t(0)).unwrap();
        finish_all(&mut s, dest, &claim, 0, later());
    }
    assert!(
        s.take_due_probes(t(1)).is_empty(),
        "the next probes are at t(2)"
    );
    assert_eq!(s.probe_unreachable_now(t(1)), 1);
    assert_eq!(s.next_wakeup(), Some(t(1)));
    assert_eq!(s.take_due_probes(t(1)), vec![A.to_string()]);
    assert_eq!(s.probe_unreachable_now(t(1)), 0, "A is being probed");
    // A probe that finds it still down schedules the next one as usual.
    s.mark_unreachable(A, "connection refused".into(), t(1));
    s.probe_done(A);
    assert!(s.take_due_probes(t(2)).iter().all(|d| d != A));
    assert_eq!(s.take_due_probes(t(3)), vec![A.to_string()]);
}
