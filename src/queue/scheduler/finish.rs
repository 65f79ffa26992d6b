//! The end of an attempt, in the scheduler: per-recipient results become recipient states, the
//! attempt is recorded, and what follows is decided (retry time, expiry, delay warning, bounces,
//! removal once nothing is pending).

use std::time::SystemTime;

use super::compact;
use super::{
    BounceOrder, Consequences, DELAY_WARNING_SENT, Entry, Health, RecipientResult, Scheduler, never,
};
use crate::clock::{from_unix_ms, to_unix_ms};
use crate::envelope::{Attempt, QueueId, RecipientStatus};
use crate::queue::order::{Claim, Outcome};
use crate::queue::retry::{Decision, RetryPolicy};
use crate::spool::Update;

/// A failed recipient as its DSN reports it: (index, status code, diagnostic, remote host).
type Failure = (usize, String, String, Option<String>);

/// An attempt's per-recipient results, sorted by what follows from them.
#[derive(Default)]
struct Sorted {
    /// What the order book needs: which recipients left their mailbox.
    outcomes: Vec<(usize, Outcome)>,
    failed: Vec<Failure>,
    /// (index, reply) of the recipients to retry.
    deferred: Vec<(usize, String)>,
}

impl Scheduler {
    /// Records the end of an attempt for `claim`: per-recipient results, the attempt itself, and what
    /// follows (retry time, bounces, removal when nothing is left).
    pub fn finish(
        &mut self,
        dest: &str,
        claim: &Claim,
        results: &[(usize, RecipientResult)],
        attempt: Attempt,
        now: SystemTime,
    ) -> Consequences {
        let id = claim.id;
        let misconfigured = matches!(
            self.destinations.get(dest).map(|d| &d.health),
            Some(Health::Misconfigured { .. })
        );
        let lifetime = self.lifetimes.get(dest).copied();
        let Some(entry) = self.messages.get_mut(&id) else {
            return Consequences::default();
        };
        let mut out = Consequences::default();
        let at_ms = to_unix_ms(now);
        let mut sorted = record_results(entry, id, results, &attempt.host, at_ms, &mut out);
        compact::push_attempt(&mut entry.message.attempts, attempt.clone());
        out.updates.insert(0, Update::Attempt { id, attempt });

        let received = from_unix_ms(entry.message.envelope.received_at_ms);
        let tries = entry
            .message
            .attempts
            .iter()
            .filter(|a| a.result != DELAY_WARNING_SENT)
            .count();
        let mut next_due = now;
        if !sorted.deferred.is_empty() {
            let policy = self.policy.with_lifetime(lifetime);
            match retry_time(&policy, received, tries, now, misconfigured) {
                Some(at) => next_due = at,
                None => expire_deferred(entry, id, &mut sorted, tries, at_ms, &mut out),
            }
        }
        if !sorted.deferred.is_empty()
            && !entry.warned
            && self.policy.delay_warning_due(received, now, false)
        {
            warn_of_delay(entry, id, &sorted.deferred, at_ms, &mut out);
        }
        if !sorted.failed.is_empty() {
            out.bounces.push(BounceOrder {
                id,
                delayed: false,
                recipients: sorted.failed,
            });
        }
        let due = if entry.message.held {
            never()
        } else {
            next_due
        };
        self.book.release(id, dest, &sorted.outcomes, due);
        if !self.book.contains(id) {
            self.messages.remove(&id);
            out.updates.push(Update::Remove { id });
        }
        out
    }
}

/// Turns each recipient's result into its new state (delivered or failed; deferred ones stay
/// pending) and the spool updates that record it.
fn record_results(
    entry: &mut Entry,
    id: QueueId,
    results: &[(usize, RecipientResult)],
    host: &str,
    at_ms: u64,
    out: &mut Consequences,
) -> Sorted {
    let mut sorted = Sorted {
        outcomes: Vec::with_capacity(results.len()),
        ..Sorted::default()
    };
    for (index, result) in results {
        let status = match result {
            RecipientResult::Delivered(reply) => RecipientStatus::Delivered {
                at_ms,
                reply: reply.clone(),
            },
            RecipientResult::Failed { reply, status } => {
                sorted.failed.push((
                    *index,
                    status.clone(),
                    reply.clone(),
                    Some(host.to_string()),
                ));
                RecipientStatus::Failed {
                    at_ms,
                    reply: reply.clone(),
                }
            }
            RecipientResult::Deferred(reply) => {
                sorted.deferred.push((*index, reply.clone()));
                sorted.outcomes.push((*index, Outcome::Deferred));
                continue;
            }
        };
        sorted.outcomes.push((*index, Outcome::Done));
        set_status(entry, id, *index, status, out);
    }
    sorted
}

/// When deferred recipients are tried next; `None` when the message has expired. Mail is never
/// bounced for a misconfiguration an admin can fix: it keeps waiting.
fn retry_time(
    policy: &RetryPolicy,
    received: SystemTime,
    tries: usize,
    now: SystemTime,
    misconfigured: bool,
) -> Option<SystemTime> {
    match policy.next_attempt_at(received, tries, now) {
        Decision::RetryAt(t) => Some(t),
        Decision::Expire if misconfigured => Some(now + policy.wait_after(tries)),
        Decision::Expire => None,
    }
}

/// The message's lifetime is over: every deferred recipient fails with 4.4.7 and leaves its mailbox.
fn expire_deferred(
    entry: &mut Entry,
    id: QueueId,
    sorted: &mut Sorted,
    tries: usize,
    at_ms: u64,
    out: &mut Consequences,
) {
    for (index, reply) in sorted.deferred.drain(..) {
        let reply = format!("message expired after {} attempts; last: {reply}", tries);
        let status = RecipientStatus::Failed {
            at_ms,
            reply: reply.clone(),
        };
        set_status(entry, id, index, status, out);
        sorted.failed.push((index, "4.4.7".into(), reply, None));
        if let Some(o) = sorted.outcomes.iter_mut().find(|(i, _)| *i == index) {
            o.1 = Outcome::Done;
        }
    }
}

/// The sender is told once that the message is delayed; the warning is recorded as an attempt so a
/// restart does not warn again.
fn warn_of_delay(
    entry: &mut Entry,
    id: QueueId,
    deferred: &[(usize, String)],
    at_ms: u64,
    out: &mut Consequences,
) {
    entry.warned = true;
    let warning = Attempt {
        at_ms,
        host: "-".into(),
        result: DELAY_WARNING_SENT.into(),
    };
    compact::push_attempt(&mut entry.message.attempts, warning.clone());
    out.updates.push(Update::Attempt {
        id,
        attempt: warning,
    });
    let recipients = deferred
        .iter()
        .map(|(i, reply)| (*i, "4.4.1".into(), reply.clone(), None))
        .collect();
    out.bounces.push(BounceOrder {
        id,
        delayed: true,
        recipients,
    });
}

/// A recipient's final state, in memory and as a spool update.
fn set_status(
    entry: &mut Entry,
    id: QueueId,
    index: usize,
    status: RecipientStatus,
    out: &mut Consequences,
) {
    if let Some(r) = entry.message.envelope.recipients.get_mut(index) {
        r.status = status.clone();
    }
    out.updates.push(Update::Recipient { id, index, status });
}
