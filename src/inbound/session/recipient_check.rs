//! RCPT for a domain with a recipient policy (issue 7): the session hands the question to the driver
//! ([`Action::CheckRecipient`]), which asks the recipient service (maybe a callout) and feeds the
//! [`Decision`] back here; this file turns it into the reply and, on acceptance, the recipient.

use backupmx_smtp::Reply;

use super::{Action, Phase, Session, SessionSettings, Step};
use crate::envelope::{Recipient, Route};
use crate::inbound::replies::reply;
use crate::recipients::{Decision, RecipientRefusal, Verdict};

/// The step asking the driver for a check, when the recipient's domain has a policy.
pub(super) fn check_step(settings: &SessionSettings, recipient: &Recipient) -> Option<Step> {
    let Route::Relay { domain } = &recipient.route else {
        return None;
    };
    if !settings.recipients.policy(domain).needs_check() && !settings.quota_domains.contains(domain)
    {
        return None;
    }
    let action = Action::CheckRecipient {
        address: recipient.address.clone(),
        domain: domain.clone(),
    };
    // Never sent by a driver that follows the action; safe (temporary) if one did.
    Some(Step::then(
        reply(451, 4, 3, 0, "Recipient check pending"),
        action,
    ))
}

impl Session {
    /// The answer to the pending RCPT, once the recipient service decided.
    pub fn recipient_checked(&mut self, decision: Decision) -> Step {
        let Some(recipient) = self.pending_recipient.take() else {
            return Step::reply(reply(503, 5, 5, 1, "No recipient waiting"));
        };
        let step = match (decision.verdict, &mut self.phase) {
            (Verdict::Accept | Verdict::Callout, Phase::Mail(transaction)) => {
                transaction.recipients.push(recipient);
                Step::reply(reply(250, 2, 1, 5, "Ok"))
            }
            (Verdict::Accept | Verdict::Callout, _) => {
                Step::reply(reply(503, 5, 5, 1, "Need MAIL command"))
            }
            (verdict, _) => Step::reply(refusal_reply(verdict, recipient.address)),
        };
        self.count_errors(step)
    }
}

fn refusal_reply(verdict: Verdict, address: String) -> Reply {
    let refusal = match verdict {
        Verdict::Refuse550 => RecipientRefusal::NotInList { address },
        Verdict::Tempfail450 => RecipientRefusal::Unverifiable { address },
        Verdict::OverQuota452 => RecipientRefusal::OverQuota { address },
        _ => RecipientRefusal::TryPrimary { address },
    };
    refusal.smtp_reply()
}
