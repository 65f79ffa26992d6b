//! The driver's share of the per-client limits: limits counted across all connections of a client live
//! in the server's `AbuseGuard`, so the driver asks it before the session sees the command.

use backupmx_smtp::{LineError, Reply};

use super::Connection;
use crate::inbound::replies;

impl Connection {
    /// A RCPT over the client's recipient rate gets 452 4.7.1 here; the session never sees it. Only
    /// RCPT commands the session would consider are counted.
    pub(super) fn recipient_rate_refusal(
        &self,
        line: &Result<Vec<u8>, LineError>,
    ) -> Option<Reply> {
        let Ok(bytes) = line else {
            return None;
        };
        if !self.session.expects_recipients() || !is_verb(bytes, b"RCPT") {
            return None;
        }
        let ip = self.session.client().ip;
        self.abuse
            .recipient(ip)
            .err()
            .map(|_| replies::recipient_rate_exceeded())
    }
}

/// True when `line` starts with the verb `verb` (any case) followed by a space or nothing.
fn is_verb(line: &[u8], verb: &[u8]) -> bool {
    line.len() >= verb.len()
        && line[..verb.len()].eq_ignore_ascii_case(verb)
        && matches!(line.get(verb.len()), None | Some(b' '))
}

#[cfg(test)]
mod tests {
    use super::is_verb;

    #[test]
    fn verbs_are_matched_whole_and_in_any_case() {
        assert!(is_verb(b"RCPT TO:<a@b>", b"RCPT"));
        assert!(is_verb(b"rcpt to:<a@b>", b"RCPT"));
        assert!(is_verb(b"RCPT", b"RCPT"));
        assert!(!is_verb(b"RCPTX TO:<a@b>", b"RCPT"));
        assert!(!is_verb(b"RCP", b"RCPT"));
        assert!(!is_verb(b"MAIL FROM:<>", b"RCPT"));
    }
}
