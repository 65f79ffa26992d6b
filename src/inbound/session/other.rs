//! The small verbs: RSET, QUIT, VRFY, HELP and ETRN (RFC 1985).
//!
//! ETRN refusals (RFC 1985 §5): a client outside `smtp.etrn_allow` and a domain we do not back up both
//! get `459 4.7.1 <node> not allowed: ...`; a `#queue` name gets `458 4.3.0 Unable to queue messages`;
//! ETRN before EHLO/HELO or inside a transaction gets 503 5.5.1.

use backupmx_smtp::Reply;

use super::{Action, Phase, Session, Step};
use crate::inbound::replies::{bad_sequence, ok, reply};

impl Session {
    pub(super) fn rset(&mut self) -> Step {
        self.phase = if self.greeting.is_some() {
            Phase::Ready
        } else {
            Phase::AwaitHelo
        };
        Step::reply(ok())
    }

    pub(super) fn quit(&mut self) -> Step {
        let text = format!("{} closing connection", self.settings.hostname);
        Step::then(reply(221, 2, 0, 0, text), Action::Close)
    }

    pub(super) fn etrn(&mut self, node: &str) -> Step {
        if self.greeting.is_none() {
            return Step::reply(bad_sequence("Send EHLO/HELO first"));
        }
        if self.in_transaction() {
            return Step::reply(bad_sequence("ETRN not allowed in a mail transaction"));
        }
        if node.starts_with('#') {
            return Step::reply(reply(458, 4, 3, 0, "Unable to queue messages for node"));
        }
        // `@domain` asks for the domain and its subdomains: flushing the configured domain covers both.
        let domain = node.strip_prefix('@').unwrap_or(node);
        let printable = printable(domain);
        if !self.client.etrn_allowed {
            let text = format!("{printable} not allowed: ETRN is not permitted from your address");
            return Step::reply(reply(459, 4, 7, 1, text));
        }
        match self.settings.policy.backed_up_domain(domain) {
            Some(configured) => Step::then(
                reply(
                    250,
                    2,
                    0,
                    0,
                    format!("Queuing for node {configured} started"),
                ),
                Action::FlushDomain(configured.to_string()),
            ),
            None => {
                let text = format!("{printable} not allowed: not a backed-up domain");
                Step::reply(reply(459, 4, 7, 1, text))
            }
        }
    }
}

/// VRFY never tells whether a mailbox exists (we could not know, and must not be an oracle).
pub(super) fn vrfy_reply() -> Reply {
    reply(
        252,
        2,
        5,
        0,
        "Cannot VRFY user, but will accept message and attempt delivery",
    )
}

pub(super) fn help_reply() -> Reply {
    reply(
        214,
        2,
        0,
        0,
        "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS ETRN (see RFC 5321)",
    )
}

/// Client text echoed in a reply: printable ASCII only, bounded.
fn printable(text: &str) -> String {
    text.chars()
        .take(255)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}
