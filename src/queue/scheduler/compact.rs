//! Keeping the scheduler's copy of a queued message small: 100,000 queued messages are 100,000 copies,
//! so spare capacity in their strings and vectors is memory held for nothing.

use crate::envelope::{Attempt, RecipientStatus, Route};
use crate::spool::StoredMessage;

/// Drops the spare capacity of every string and vector of a message about to be queued.
pub(super) fn shrink(message: &mut StoredMessage) {
    let envelope = &mut message.envelope;
    envelope.sender.shrink_to_fit();
    envelope.helo.shrink_to_fit();
    if let Some(envid) = envelope.envid.as_mut() {
        envid.shrink_to_fit();
    }
    for r in envelope.recipients.iter_mut() {
        r.address.shrink_to_fit();
        if let Route::Relay { domain } = &mut r.route {
            domain.shrink_to_fit();
        }
        if let Some(orcpt) = r.orcpt.as_mut() {
            orcpt.shrink_to_fit();
        }
        if let RecipientStatus::Delivered { reply, .. } | RecipientStatus::Failed { reply, .. } =
            &mut r.status
        {
            reply.shrink_to_fit();
        }
    }
    envelope.recipients.shrink_to_fit();
    message.attempts.iter_mut().for_each(shrink_attempt);
    message.attempts.shrink_to_fit();
}

/// Appends an attempt without the vector's usual growth to four slots (a first attempt would cost
/// 224 bytes of buffer for 56 used); later growth stays amortised.
pub(super) fn push_attempt(attempts: &mut Vec<Attempt>, mut attempt: Attempt) {
    shrink_attempt(&mut attempt);
    if attempts.len() < 4 {
        attempts.reserve_exact(1);
    }
    attempts.push(attempt);
}

fn shrink_attempt(attempt: &mut Attempt) {
    attempt.host.shrink_to_fit();
    attempt.result.shrink_to_fit();
}
