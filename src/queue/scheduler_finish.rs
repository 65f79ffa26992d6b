//! The end of an attempt, in the scheduler: per-recipient results become recipient states, the
//! attempt is recorded, and what follows is decided (retry time, expiry, delay warning, bounces,
//! removal once nothing is pending).

use std::time::SystemTime;

use super::compact;
use super::{
    BounceOrder, Consequences, DELAY_WARNING_SENT, Health, RecipientResult, Scheduler, never,
};
use crate::clock::{from_unix_ms, to_unix_ms};
use crate::envelope::{Attempt, RecipientStatus};
use crate::queue::order::{Claim, Outcome};
use crate::queue::retry::Decision;
use crate::spool::Update;

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
        let Some(entry) = self.messages.get_mut(&id) else {
            return Consequences::default();
        };
        let mut out = Consequences::default();
        let at_ms = to_unix_ms(now);
        let mut outcomes = Vec::with_capacity(results.len());
        let mut failed = Vec::new();
        let mut deferred = Vec::new();
        for (index, result) in results {
            let status = match result {
                RecipientResult::Delivered(reply) => RecipientStatus::Delivered {
                    at_ms,
                    reply: reply.clone(),
                },
                RecipientResult::Failed { reply, status } => {
                    failed.push((
                        *index,
                        status.clone(),
                        reply.clone(),
                        Some(attempt.host.clone()),
                    ));
                    RecipientStatus::Failed {
                        at_ms,
                        reply: reply.clone(),
                    }
                }
                RecipientResult::Deferred(reply) => {
                    deferred.push((*index, reply.clone()));
                    outcomes.push((*index, Outcome::Deferred));
                    continue;
                }
            };
            outcomes.push((*index, Outcome::Done));
            if let Some(r) = entry.message.envelope.recipients.get_mut(*index) {
                r.status = status.clone();
            }
            out.updates.push(Update::Recipient {
                id,
                index: *index,
                status,
            });
        }
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
        if !deferred.is_empty() {
            match self.policy.next_attempt_at(received, tries, now) {
                Decision::RetryAt(t) => next_due = t,
                // Mail is never bounced for a misconfiguration an admin can fix: it keeps waiting.
                Decision::Expire if misconfigured => next_due = now + self.policy.wait_after(tries),
                Decision::Expire => {
                    for (index, reply) in deferred.drain(..) {
                        let reply =
                            format!("message expired after {} attempts; last: {reply}", tries);
                        let status = RecipientStatus::Failed {
                            at_ms,
                            reply: reply.clone(),
                        };
                        if let Some(r) = entry.message.envelope.recipients.get_mut(index) {
                            r.status = status.clone();
                        }
                        out.updates.push(Update::Recipient { id, index, status });
                        failed.push((index, "4.4.7".into(), reply, None));
                        if let Some(o) = outcomes.iter_mut().find(|(i, _)| *i == index) {
                            o.1 = Outcome::Done;
                        }
                    }
                }
            }
        }
        if !deferred.is_empty()
            && !entry.warned
            && self.policy.delay_warning_due(received, now, false)
        {
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
        if !failed.is_empty() {
            out.bounces.push(BounceOrder {
                id,
                delayed: false,
                recipients: failed,
            });
        }
        let due = if entry.message.held {
            never()
        } else {
            next_due
        };
        self.book.release(id, dest, &outcomes, due);
        if !self.book.contains(id) {
            self.messages.remove(&id);
            out.updates.push(Update::Remove { id });
        }
        out
    }
}
