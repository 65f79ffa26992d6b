//! Tests of the scheduler, the queue's pure core: delivery outcomes, the retry schedule, bounces, expiry
//! and delay warnings, plus the fixtures `health_tests` shares. Every instant is explicit
//! (`t(seconds after T0)`); nothing sleeps or reads the clock.

use crate::envelope::Route;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::clock::to_unix_ms;
use crate::envelope::{Attempt, BodyType, Envelope, Recipient, RecipientStatus};

pub(super) const A: &str = "a.test";
pub(super) const B: &str = "b.test";
pub(super) const MIN: u64 = 60;
pub(super) const HOUR: u64 = 60 * MIN;
pub(super) const DAY: u64 = 24 * HOUR;
pub(super) const PROBE: Duration = Duration::from_secs(2);

pub(super) fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

pub(super) fn ms(secs: u64) -> u64 {
    to_unix_ms(t(secs))
}

/// A message received at `t(received)`; `postmaster` is routed locally, others to their domain.
pub(super) fn msg(id: u64, received: u64, rcpts: &[&str]) -> StoredMessage {
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
            auth: None,
        },
        attempts: Vec::new(),
        held: false,
        size: 100,
    }
}

pub(super) fn sched(max_parallel: usize) -> Scheduler {
    Scheduler::new(RetryPolicy::default(), max_parallel, PROBE)
}

/// Retry every minute, expire after 150 s, no delay warning.
pub(super) fn short_policy() -> RetryPolicy {
    RetryPolicy {
        retry: vec![Duration::from_secs(MIN)],
        max_lifetime: Duration::from_secs(150),
        delay_warning: Duration::ZERO,
    }
}

pub(super) fn attempt(at: u64, result: &str) -> Attempt {
    Attempt {
        at_ms: ms(at),
        host: "mx.test [127.0.0.1]".into(),
        result: result.into(),
    }
}

pub(super) fn claimed(s: &mut Scheduler, dest: &str, at: u64) -> Option<u64> {
    s.claim(dest, t(at)).map(|c| c.id.0)
}

/// Claims the next message of `dest` at `at` (it must exist) and ends the attempt with one result for
/// every claimed recipient.
pub(super) fn attempt_all(
    s: &mut Scheduler,
    dest: &str,
    at: u64,
    result: RecipientResult,
) -> Consequences {
    let claim = s.claim(dest, t(at)).expect("a claimable message");
    finish_all(s, dest, &claim, at, result)
}

pub(super) fn finish_all(
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

pub(super) fn ok() -> RecipientResult {
    RecipientResult::Delivered("250 2.0.0 ok".into())
}

pub(super) fn later() -> RecipientResult {
    RecipientResult::Deferred("451 4.3.0 try later".into())
}

pub(super) fn unknown_user() -> RecipientResult {
    RecipientResult::Failed {
        reply: "550 5.1.1 no such user".into(),
        status: "5.1.1".into(),
    }
}

pub(super) fn is_remove(u: &Update) -> bool {
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
fn a_domains_own_max_lifetime_overrides_the_queues() {
    let mut s = Scheduler::new(short_policy(), 4, PROBE);
    // a.test keeps its mail 10 minutes instead of 150 s; b.test follows the queue's rule.
    s.set_lifetimes([(A.to_string(), Duration::from_secs(10 * MIN))].into());
    s.insert(msg(1, 0, &["x@a.test"]), t(0));
    s.insert(msg(2, 0, &["y@b.test"]), t(0));
    for at in [0, 60, 120] {
        assert!(attempt_all(&mut s, A, at, later()).bounces.is_empty());
        assert!(attempt_all(&mut s, B, at, later()).bounces.is_empty());
    }
    assert_eq!(attempt_all(&mut s, B, 150, later()).bounces.len(), 1);
    assert!(attempt_all(&mut s, A, 180, later()).bounces.is_empty());
    assert_eq!(s.usage(A), (1, 100));
    assert_eq!(s.usage(B), (0, 0));
    assert_eq!(attempt_all(&mut s, A, 10 * MIN, later()).bounces.len(), 1);
    assert_eq!(s.usage(A), (0, 0));
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
