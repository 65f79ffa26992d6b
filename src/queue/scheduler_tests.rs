//! Tests of the scheduler, the queue's pure core: delivery outcomes, the retry schedule, bounces, expiry,
//! delay warnings, per-mailbox order, recovery of down destinations, flushes, holds and restarts. Every
//! instant is explicit (`t(seconds after T0)`); nothing sleeps or reads the clock.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::envelope::{BodyType, Envelope, Recipient};

const A: &str = "a.test";
const B: &str = "b.test";
const MIN: u64 = 60;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;
const PROBE: Duration = Duration::from_secs(2);

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn ms(secs: u64) -> u64 {
    to_unix_ms(t(secs))
}

/// A message received at `t(received)`; `postmaster` is routed locally, others to their domain.
fn msg(id: u64, received: u64, rcpts: &[&str]) -> StoredMessage {
    let recipients = rcpts
        .iter()
        .map(|address| Recipient {
            address: address.to_string(),
            route: match address.rsplit_once('@') {
                Some((_, domain)) => Route::Relay {
                    domain: domain.to_string(),
                },
                None => Route::Postmaster,
            },
            notify: None,
            orcpt: None,
            status: RecipientStatus::Pending,
        })
        .collect();
    StoredMessage {
        id: QueueId(id),
        envelope: Envelope {
            sender: "s@sender.test".into(),
            recipients,
            body_type: BodyType::default(),
            smtputf8: false,
            ret: None,
            envid: None,
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            helo: "client.test".into(),
            received_at_ms: ms(received),
        },
        attempts: Vec::new(),
        held: false,
        size: 100,
    }
}

fn sched(max_parallel: usize) -> Scheduler {
    Scheduler::new(RetryPolicy::default(), max_parallel, PROBE)
}

/// Retry every minute, expire after 150 s, no delay warning.
fn short_policy() -> RetryPolicy {
    RetryPolicy {
        retry: vec![Duration::from_secs(MIN)],
        max_lifetime: Duration::from_secs(150),
        delay_warning: Duration::ZERO,
    }
}

fn attempt(at: u64, result: &str) -> Attempt {
    Attempt {
        at_ms: ms(at),
        host: "mx.test [127.0.0.1]".into(),
        result: result.into(),
    }
}

fn claimed(s: &mut Scheduler, dest: &str, at: u64) -> Option<u64> {
    s.claim(dest, t(at)).map(|c| c.id.0)
}

/// Claims the next message of `dest` at `at` (it must exist) and ends the attempt with one result for
/// every claimed recipient.
fn attempt_all(s: &mut Scheduler, dest: &str, at: u64, result: RecipientResult) -> Consequences {
    let claim = s.claim(dest, t(at)).expect("a claimable message");
    finish_all(s, dest, &claim, at, result)
}

fn finish_all(
    s: &mut Scheduler,
    dest: &str,
    claim: &Claim,
    at: u64,
    result: RecipientResult,
) -> Consequences {
    let results: Vec<_> = claim
        .recipients
        .iter()
        .map(|i| (*i, result.clone()))
        .collect();
    s.finish(dest, claim, &results, attempt(at, "summary"), t(at))
}

fn ok() -> RecipientResult {
    RecipientResult::Delivered("250 2.0.0 ok".into())
}

fn later() -> RecipientResult {
    RecipientResult::Deferred("451 4.3.0 try later".into())
}

fn unknown_user() -> RecipientResult {
    RecipientResult::Failed {
        reply: "550 5.1.1 no such user".into(),
        status: "5.1.1".into(),
    }
}

fn is_remove(u: &Update) -> bool {
    matches!(u, Update::Remove { .. })
}

#[test]
fn two_recipients_delivered_record_the_attempt_each_recipient_and_the_removal() {
    let mut s = sched(4);
    s.insert(msg(1, 0, &["x@a.test", "y@a.test"]), t(0));
    assert_eq!(s.wanted_workers(t(0)), vec![A.to_string()]);
    let claim = s.claim(A, t(0)).unwrap();
    assert_eq!(claim.recipients, vec![0, 1]);
    let c = finish_all(&mut s, A, &claim, 1, ok());
    let id = QueueId(1);
    let delivered = RecipientStatus::Delivered {
        at_ms: ms(1),
        reply: "250 2.0.0 ok".into(),
    };
    assert_eq!(
        c.updates,
        vec![
            Update::Attempt {
                id,
                attempt: attempt(1, "summary")
            },
            Update::Recipient {
                id,
                index: 0,
                status: delivered.clone()
            },
            Update::Recipient {
                id,
                index: 1,
                status: delivered
            },
            Update::Remove { id },
        ]
    );
    assert!(c.bounces.is_empty());
    assert!(s.is_empty() && s.message(id).is_none());
    assert_eq!(s.next_wakeup(), None);
}

#[test]
fn deferred_mail_follows_the_retry_schedule() {
    let mut s = sched(4);
    s.insert(msg(1, 0, &["x@a.test"]), t(0));
    // Attempt times (minutes after arrival): 0, then +5, +10, +20, +40, +60, +60.
    let schedule = [0, 5, 15, 35, 75, 135, 195].map(|m| m * MIN);
    for (n, at) in schedule.into_iter().enumerate() {
        if n > 0 {
            assert_eq!(s.next_wakeup(), Some(t(at)), "attempt {n}");
            assert!(s.wanted_workers(t(at - 1)).is_empty());
            assert_eq!(claimed(&mut s, A, at - 1), None, "attempt {n} is early");
        }
        let c = attempt_all(&mut s, A, at, later());
        assert_eq!(c.updates.len(), 1, "only the attempt is recorded");
        assert!(matches!(&c.updates[0], Update::Attempt { .. }));
        assert!(c.bounces.is_empty());
    }
    let m = s.message(QueueId(1)).unwrap();
    assert_eq!(m.attempts.len(), schedule.len());
    assert_eq!(m.envelope.recipients[0].status, RecipientStatus::Pending);
}

#[test]
fn permanent_failure_bounces_at_once_and_removes_when_nothing_is_pending() {
    let mut s = sched(4);
    s.insert(msg(1, 0, &["x@a.test", "y@a.test"]), t(0));
    let claim = s.claim(A, t(0)).unwrap();
    let results = [(0, unknown_user()), (1, later())];
    let c = s.finish(A, &claim, &results, attempt(0, "mixed"), t(0));
    let bounce = BounceOrder {
        id: QueueId(1),
        delayed: false,
        recipients: vec![(
            0,
            "5.1.1".into(),
            "550 5.1.1 no such user".into(),
            Some("mx.test [127.0.0.1]".into()),
        )],
    };
    assert_eq!(c.bounces, vec![bounce]);
    assert!(!c.updates.iter().any(is_remove), "y is still pending");
    assert!(c.updates.contains(&Update::Recipient {
        id: QueueId(1),
        index: 0,
        status: RecipientStatus::Failed {
            at_ms: ms(0),
            reply: "550 5.1.1 no such user".into()
        }
    }));
    // The retry carries only the pending recipient.
    let claim = s.claim(A, t(5 * MIN)).unwrap();
    assert_eq!(claim.recipients, vec![1]);
    let c = finish_all(&mut s, A, &claim, 5 * MIN, unknown_user());
    assert_eq!(c.bounces.len(), 1);
    assert_eq!(c.bounces[0].recipients[0].0, 1);
    assert!(c.updates.iter().any(is_remove));
    assert!(s.is_empty());
}

#[test]
fn expiry_fails_the_remaining_recipients_with_4_4_7_and_bounces() {
    let mut s = Scheduler::new(short_policy(), 4, PROBE);
    s.insert(msg(1, 0, &["x@a.test", "y@a.test"]), t(0));
    // Attempts at 0, 60, 120, then a final one clamped to the 150 s deadline.
    for at in [0, 60, 120] {
        assert!(attempt_all(&mut s, A, at, later()).bounces.is_empty());
    }
    assert_eq!(s.next_wakeup(), Some(t(150)));
    let c = attempt_all(&mut s, A, 150, later());
    assert_eq!(c.bounces.len(), 1);
    let bounce = &c.bounces[0];
    assert!(!bounce.delayed);
    let indexes: Vec<_> = bounce.recipients.iter().map(|r| r.0).collect();
    assert_eq!(indexes, vec![0, 1]);
    for (_, status, diagnostic, host) in &bounce.recipients {
        assert_eq!(status, "4.4.7");
        assert!(diagnostic.contains("expired") && diagnostic.contains("451 4.3.0 try later"));
        assert_eq!(host, &None);
    }
    let failed = c
        .updates
        .iter()
        .filter(|u| {
            matches!(u, Update::Recipient { status: RecipientStatus::Failed { at_ms, .. }, .. }
                if *at_ms == ms(150))
        })
        .count();
    assert_eq!(failed, 2);
    assert_eq!(c.updates.last(), Some(&Update::Remove { id: QueueId(1) }));
    assert!(s.is_empty());
}

#[test]
fn a_misconfigured_destination_never_expires_its_mail() {
    let mut s = Scheduler::new(short_policy(), 4, PROBE);
    s.insert(msg(1, 0, &["x@a.test"]), t(0));
    s.mark_misconfigured(A, "we are the best MX".into(), t(0));
    assert!(s.wanted_workers(t(0)).is_empty());
    assert_eq!(s.due_while_down(t(0)), vec![A.to_string()]);
    let mut at = 0;
    for _ in 0..20 {
        let claim = s.claim_for_deferral(A, t(at)).expect("due");
        let c = finish_all(&mut s, A, &claim, at, later());
        assert!(c.bounces.is_empty(), "no bounce at {at}");
        assert!(!c.updates.iter().any(is_remove));
        at = s_due(&s, at + 1);
    }
    assert!(at > 150 + 10 * MIN, "well past the deadline: {at}");
    assert!(s.message(QueueId(1)).is_some());
    assert!(matches!(
        s.destination(A).unwrap().health,
        Health::Misconfigured { .. }
    ));
}

/// The next instant (seconds after T0, at least `from`) at which destination A has a message due.
fn s_due(s: &Scheduler, from: u64) -> u64 {
    (from..from + 2 * HOUR)
        .find(|sec| !s.due_while_down(t(*sec)).is_empty())
        .expect("something due within two hours")
}

#[test]
fn delay_warning_is_sent_once_and_not_again_after_a_restart() {
    let mut s = sched(4);
    s.insert(msg(1, 0, &["x@a.test", "y@a.test"]), t(0));
    let c = attempt_all(&mut s, A, 0, later());
    assert!(c.bounces.is_empty(), "too early to warn");
    s.flush(&FlushScope::Ids(vec![QueueId(1)]), t(4 * HOUR));
    let claim = s.claim(A, t(4 * HOUR)).unwrap();
    let results = [(0, unknown_user()), (1, later())];
    let c = s.finish(A, &claim, &results, attempt(4 * HOUR, "mixed"), t(4 * HOUR));
    let warning = Attempt {
        at_ms: ms(4 * HOUR),
        host: "-".into(),
        result: DELAY_WARNING_SENT.into(),
    };
    assert!(c.updates.contains(&Update::Attempt {
        id: QueueId(1),
        attempt: warning
    }));
    let delayed: Vec<_> = c.bounces.iter().filter(|b| b.delayed).collect();
    assert_eq!(delayed.len(), 1);
    assert_eq!(
        delayed[0].recipients,
        vec![(1, "4.4.1".into(), "451 4.3.0 try later".into(), None)]
    );
    assert_eq!(c.bounces.iter().filter(|b| !b.delayed).count(), 1);
    // The warning does not count as an attempt: the third real attempt waits 10 minutes.
    let next = 4 * HOUR + 10 * MIN;
    assert_eq!(s.next_wakeup(), Some(t(next)));
    assert!(attempt_all(&mut s, A, next, later()).bounces.is_empty());

    // Restart: the stored message (with its history) is loaded into a new scheduler.
    let stored = s.message(QueueId(1)).unwrap().clone();
    let mut s = sched(4);
    s.insert(stored, t(5 * HOUR));
    // Fourth attempt 20 minutes after the third, as before the restart.
    assert_eq!(s.next_wakeup(), Some(t(next + 20 * MIN)));
    s.flush(&FlushScope::All, t(6 * HOUR));
    let c = attempt_all(&mut s, A, 6 * HOUR, later());
    assert!(c.bounces.is_empty(), "warned before the restart");
    assert_eq!(c.updates.len(), 1);
}

/// Regression: the spool keeps only the newest 100 attempts, so after days of retries the warning's
/// entry is gone from the stored history; a restart then used to warn the sender a second time.
#[test]
fn no_second_warning_after_a_restart_when_the_warning_entry_was_trimmed() {
    let mut trimmed = msg(1, 0, &["x@a.test"]);
    trimmed.attempts = (0..100)
        .map(|h| attempt(5 * HOUR + h * HOUR, "451"))
        .collect();
    let mut s = sched(4);
    s.insert(trimmed, t(105 * HOUR));
    s.flush(&FlushScope::All, t(105 * HOUR));
    assert!(
        attempt_all(&mut s, A, 105 * HOUR, later())
            .bounces
            .is_empty()
    );
    // A history from before the warning time still gets its warning.
    let mut early = msg(2, 0, &["y@a.test"]);
    early.attempts = vec![attempt(0, "451"), attempt(HOUR, "451")];
    s.insert(early, t(5 * HOUR));
    let c = attempt_all(&mut s, A, 5 * HOUR, later());
    assert!(c.bounces.iter().any(|b| b.delayed));
}

#[test]
fn no_delay_warning_when_disabled() {
    let policy = RetryPolicy {
        delay_warning: Duration::ZERO,
        ..RetryPolicy::default()
    };
    let mut s = Scheduler::new(policy, 4, PROBE);
    s.insert(msg(1, 0, &["x@a.test"]), t(0));
    s.flush(&FlushScope::All, t(DAY));
    assert!(attempt_all(&mut s, A, DAY, later()).bounces.is_empty());
}

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
