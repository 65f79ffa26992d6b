//! BDAT (RFC 3030 CHUNKING): each chunk's size is announced, so the session checks sequence and the size
//! limit before the bytes arrive; the driver then reads exactly that many bytes (storing or discarding
//! them) and sends the reply afterwards. The LAST chunk ends like DATA: [`Session::end_data`].

use super::{Action, Phase, Session, Step};
use crate::inbound::replies::{bad_sequence, message_too_big, reply};

impl Session {
    pub(super) fn bdat(&mut self, size: u64, last: bool) -> Step {
        let (transaction, received) = match std::mem::replace(&mut self.phase, Phase::Ready) {
            Phase::Mail(t) if !t.recipients.is_empty() => (t, 0),
            Phase::Bdat {
                transaction,
                received,
            } => (transaction, received),
            phase => {
                let text = match phase {
                    Phase::Mail(_) => "Need RCPT command",
                    _ => "Need MAIL command",
                };
                self.phase = phase;
                return Step::then(bad_sequence(text), Action::DiscardChunk { size });
            }
        };
        let total = received.saturating_add(size);
        if total > self.settings.max_message_size {
            // The transaction ends here (phase stays Ready); later chunks meet 503 and are discarded.
            return Step::then(message_too_big(), Action::DiscardChunk { size });
        }
        self.phase = Phase::Bdat {
            transaction,
            received: total,
        };
        let text = format!("{size} octets received");
        Step::then(
            reply(250, 2, 0, 0, text),
            Action::ReceiveChunk { size, last },
        )
    }

    /// True between the first accepted BDAT and the end of the transaction: the driver keeps the body.
    pub fn receiving_chunks(&self) -> bool {
        matches!(self.phase, Phase::Bdat { .. })
    }
}
