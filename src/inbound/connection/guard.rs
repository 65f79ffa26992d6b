//! The driver's share of the limits: limits counted across all connections of a client live in the
//! server's `AbuseGuard`, so the driver asks it before the session sees the command; the greeting delay
//! (early-talker detection) and the session time cap are timers, so they live here too.

use backupmx_smtp::{LineError, Reply};
use tokio::io::AsyncReadExt;

use super::{Connection, Stop};
use crate::inbound::abuse::record_hit;
use crate::inbound::limiter::LimitHit;
use crate::inbound::replies;
use crate::inbound::server::shutdown_requested;

impl Connection {
    /// `smtp.greeting_delay`: waits before the greeting. A client that sends anything first is not an
    /// SMTP client waiting for its turn (RFC 5321 §3.1): 554 5.5.0 and close.
    pub(super) async fn await_greeting_turn(&mut self) -> Result<(), Stop> {
        let delay = self.timing.greeting_delay;
        if delay.is_zero() {
            return Ok(());
        }
        let mut byte = [0u8; 1];
        tokio::select! {
            () = tokio::time::sleep(delay) => Ok(()),
            read = self.io.read(&mut byte) => match read {
                Ok(0) => Err(Stop::Disconnected),
                Ok(_) => {
                    record_hit(LimitHit::EarlyTalker, self.session.client().ip);
                    self.close_with(replies::early_talker(), Stop::Closed).await
                }
                Err(error) => Err(Stop::Io(error)),
            },
            () = shutdown_requested(&mut self.shutdown) => {
                self.close_with(replies::shutting_down(), Stop::Shutdown).await
            }
        }
    }

    /// `smtp.session_timeout` reached while waiting for the client: 421 4.4.2 and close (a message
    /// still being received is dropped with its `BodyWriter`).
    pub(super) async fn session_time_up<T>(&mut self) -> Result<T, Stop> {
        record_hit(LimitHit::SessionTime, self.session.client().ip);
        self.close_with(replies::session_time_exceeded(), Stop::Timeout)
            .await
    }

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
