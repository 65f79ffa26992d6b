//! RCPT TO: relay policy, recipient limit and DSN parameters for each recipient.

use backupmx_smtp::{ForwardPath, RcptParams};

use super::mail::non_ascii_needs_smtputf8;
use super::{Phase, Session, Step, recipient_check};
use crate::envelope::{Notify, Recipient, RecipientStatus};
use crate::inbound::replies::{bad_sequence, reply};

impl Session {
    pub(super) fn rcpt(&mut self, to: ForwardPath, params: RcptParams) -> Step {
        let max_recipients = self.settings.max_recipients;
        let route = self.settings.policy.route(&to);
        let Phase::Mail(transaction) = &mut self.phase else {
            return Step::reply(bad_sequence("Need MAIL command"));
        };
        let address = match &to {
            ForwardPath::Postmaster => "postmaster".to_string(),
            ForwardPath::Mailbox(mailbox) => mailbox.to_wire(),
        };
        if !address.is_ascii() && !transaction.params.smtputf8 {
            return Step::reply(non_ascii_needs_smtputf8());
        }
        let route = match route {
            Ok(route) => route,
            Err(refusal) => {
                metrics::counter!("backupmx_recipients_rejected_total").increment(1);
                return Step::reply(refusal.smtp_reply());
            }
        };
        let accepted = reply(250, 2, 1, 5, "Ok");
        // A repeated recipient is acknowledged but kept once: it must not be delivered twice.
        if transaction.recipients.iter().any(|r| r.address == address) {
            return Step::reply(accepted);
        }
        if transaction.recipients.len() >= max_recipients {
            return Step::reply(reply(452, 4, 5, 3, "Too many recipients"));
        }
        let recipient = Recipient {
            address,
            route,
            notify: params.notify.map(|n| Notify {
                success: n.success,
                failure: n.failure,
                delay: n.delay,
            }),
            orcpt: params.orcpt,
            status: RecipientStatus::Pending,
        };
        if let Some(check) = recipient_check::check_step(&self.settings, &recipient) {
            self.pending_recipient = Some(recipient);
            return check;
        }
        transaction.recipients.push(recipient);
        Step::reply(accepted)
    }
}
