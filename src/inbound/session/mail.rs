//! MAIL FROM: opens a transaction after checking sequence, ESMTP parameters and the declared size.

use backupmx_smtp::{BodyType, MailParams, ReversePath};

use super::{Phase, Session, Step, Transaction};
use crate::inbound::replies::{bad_sequence, message_too_big, reply};

impl Session {
    pub(super) fn mail(&mut self, from: ReversePath, params: MailParams) -> Step {
        let Some(greeting) = &self.greeting else {
            return Step::reply(bad_sequence("Send EHLO/HELO first"));
        };
        if self.in_transaction() {
            return Step::reply(bad_sequence("Nested MAIL command"));
        }
        if !greeting.extended && params != MailParams::default() {
            return Step::reply(reply(555, 5, 5, 4, "ESMTP parameters need EHLO"));
        }
        if params.body == Some(BodyType::BinaryMime) {
            return Step::reply(reply(555, 5, 5, 4, "BODY=BINARYMIME needs CHUNKING"));
        }
        if params
            .size
            .is_some_and(|size| size > self.settings.max_message_size)
        {
            return Step::reply(message_too_big());
        }
        let sender = match from {
            ReversePath::Null => String::new(),
            ReversePath::Mailbox(mailbox) => mailbox.to_wire(),
        };
        if !sender.is_ascii() && !params.smtputf8 {
            return Step::reply(non_ascii_needs_smtputf8());
        }
        if let Err(refusal) = self.count_message() {
            return refusal;
        }
        self.phase = Phase::Mail(Transaction {
            sender,
            params,
            recipients: Vec::new(),
        });
        Step::reply(reply(250, 2, 1, 0, "Ok"))
    }
}

/// RFC 6531 §3.5: a non-ASCII address in a transaction without SMTPUTF8.
pub(super) fn non_ascii_needs_smtputf8() -> backupmx_smtp::Reply {
    reply(
        553,
        5,
        6,
        7,
        "Non-ASCII address needs MAIL FROM with SMTPUTF8",
    )
}
