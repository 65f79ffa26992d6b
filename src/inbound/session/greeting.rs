//! EHLO, HELO and STARTTLS: who the client says it is, which extensions we offer, and the switch to TLS.

use backupmx_smtp::Reply;

use super::{Action, Greeting, Phase, Session, Step};
use crate::inbound::replies::{bad_sequence, plain, reply};

impl Session {
    /// EHLO: resets any transaction (RFC 5321 §4.1.4) and lists the extensions we honour.
    pub(super) fn ehlo(&mut self, name: String) -> Step {
        self.greeting = Some(Greeting {
            name,
            extended: true,
        });
        self.phase = Phase::Ready;
        Step::reply(self.ehlo_reply())
    }

    pub(super) fn helo(&mut self, name: String) -> Step {
        self.greeting = Some(Greeting {
            name,
            extended: false,
        });
        self.phase = Phase::Ready;
        Step::reply(plain(250, self.settings.hostname.clone()))
    }

    /// Multi-line 250 without enhanced codes (RFC 2034 exempts the EHLO answer).
    fn ehlo_reply(&self) -> Reply {
        let mut lines = vec![
            self.settings.hostname.clone(),
            "PIPELINING".to_string(),
            format!("SIZE {}", self.settings.max_message_size),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "DSN".to_string(),
            "CHUNKING".to_string(),
        ];
        if self.client.tls_available && self.tls.is_none() {
            lines.push("STARTTLS".to_string());
        }
        if self.client.etrn_allowed {
            lines.push("ETRN".to_string());
        }
        Reply {
            code: 250,
            enhanced: None,
            lines,
        }
    }

    /// STARTTLS (RFC 3207): only when offered, not yet active, and outside a transaction.
    pub(super) fn starttls(&mut self) -> Step {
        if !self.client.tls_available {
            return Step::reply(reply(502, 5, 5, 1, "STARTTLS not available"));
        }
        if self.tls.is_some() {
            return Step::reply(bad_sequence("TLS already active"));
        }
        if self.in_transaction() {
            return Step::reply(bad_sequence("STARTTLS not allowed in a mail transaction"));
        }
        Step::then(reply(220, 2, 0, 0, "Ready to start TLS"), Action::StartTls)
    }
}
