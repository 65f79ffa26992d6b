//! A live message as the spool's index keeps it: in its journal encoding (one allocation of about
//! 250 bytes for a small envelope, instead of a dozen small strings), with later state changes
//! appended in their own encoding and folded in once they add up. The queue keeps its own working
//! copy; this one only serves compaction, recovery and the start-up hand-over.

use crate::spool::record::{self, BodyLocation, Record};
use crate::spool::{StoredMessage, Update};

/// At most this many attempts are kept per message (the newest); older ones only cost memory.
pub const MAX_ATTEMPTS_KEPT: usize = 100;

/// Appended changes are folded into the message record once they take this many bytes.
const FOLD_AT: usize = 1024;

#[derive(Debug)]
pub struct PackedMessage {
    /// `[u32 LE length][message record]`, then `[u32 LE length][change record]` per later change.
    bytes: Vec<u8>,
    /// Where the appended changes start.
    changes_at: usize,
}

impl PackedMessage {
    pub fn pack(message: &StoredMessage, body: &BodyLocation) -> PackedMessage {
        let record = record::encode_message(message, body);
        let mut bytes = Vec::with_capacity(4 + record.len());
        push_framed(&mut bytes, &record);
        PackedMessage {
            changes_at: bytes.len(),
            bytes,
        }
    }

    /// Records a recipient, attempt or hold change (a removal is the index's business).
    pub fn apply(&mut self, update: &Update, body: &BodyLocation) {
        let change = record::encode_update(update);
        if self.bytes.len() - self.changes_at + change.len() > FOLD_AT {
            let mut message = self.to_message();
            apply_change(&mut message, update);
            *self = PackedMessage::pack(&message, body);
            return;
        }
        self.bytes.reserve_exact(4 + change.len());
        push_framed(&mut self.bytes, &change);
    }

    /// An owned copy of the message with every change applied (decoded from the packed bytes).
    pub fn to_message(&self) -> StoredMessage {
        let mut frames = Frames(&self.bytes);
        // The bytes are this process's own encoding of a valid message: decoding cannot fail unless
        // the encoder and decoder disagree, which the record tests rule out.
        let mut message = match frames.next().map(record::decode) {
            Some(Ok(Record::Message { message, .. })) => message,
            _ => unreachable!("the spool's index holds a message record it encoded itself"),
        };
        for change in frames {
            if let Ok(Record::Change(update)) = record::decode(change) {
                apply_change(&mut message, &update);
            }
        }
        message
    }
}

/// Applies one recipient, attempt or hold change to a message.
pub fn apply_change(message: &mut StoredMessage, update: &Update) {
    match update {
        Update::Recipient { index, status, .. } => {
            if let Some(r) = message.envelope.recipients.get_mut(*index) {
                r.status = status.clone();
            }
        }
        Update::Attempt { attempt, .. } => {
            let attempts = &mut message.attempts;
            attempts.push(attempt.clone());
            if attempts.len() > MAX_ATTEMPTS_KEPT {
                // Keep the delay-warning marker: it says the sender was warned already.
                let oldest = attempts
                    .iter()
                    .position(|a| a.result != crate::envelope::DELAY_WARNING_SENT)
                    .unwrap_or(0);
                attempts.remove(oldest);
            }
        }
        Update::Hold { held, .. } => message.held = *held,
        Update::Remove { .. } => {}
    }
}

fn push_framed(bytes: &mut Vec<u8>, payload: &[u8]) {
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(payload);
}

/// The length-prefixed records of a packed message, in order.
struct Frames<'a>(&'a [u8]);

impl<'a> Iterator for Frames<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.0.split_first_chunk::<4>()?;
        let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
        let (payload, rest) = rest.split_at(len);
        self.0 = rest;
        Some(payload)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::envelope::{
        Attempt, BodyType, DELAY_WARNING_SENT, Envelope, QueueId, Recipient, RecipientStatus, Route,
    };

    const BODY: BodyLocation = BodyLocation::Segment {
        segment: 3,
        offset: 100,
        len: 4096,
    };

    fn message() -> StoredMessage {
        let recipient = |address: &str| Recipient {
            address: address.into(),
            route: Route::Relay {
                domain: "example.test".into(),
            },
            notify: None,
            orcpt: Some("rfc822;bob@example.test".into()),
            status: RecipientStatus::Pending,
        };
        StoredMessage {
            id: QueueId(7),
            envelope: Envelope {
                sender: "alice@sender.test".into(),
                recipients: vec![recipient("bob@example.test"), recipient("eve@example.test")],
                body_type: BodyType::EightBitMime,
                smtputf8: false,
                ret: None,
                envid: Some("e-1".into()),
                client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                helo: "client.test".into(),
                received_at_ms: 1_700_000_000_000,
                auth: None,
            },
            attempts: Vec::new(),
            held: false,
            size: 4096,
        }
    }

    fn attempt(n: u64, result: &str) -> Update {
        Update::Attempt {
            id: QueueId(7),
            attempt: Attempt {
                at_ms: n,
                host: format!("mx{n}"),
                result: result.into(),
            },
        }
    }

    /// Applies `updates` both packed and to a plain copy; the two must agree after each one.
    fn check_same(updates: &[Update]) -> StoredMessage {
        let mut plain = message();
        let mut packed = PackedMessage::pack(&plain, &BODY);
        assert_eq!(packed.to_message(), plain);
        for update in updates {
            apply_change(&mut plain, update);
            packed.apply(update, &BODY);
            assert_eq!(packed.to_message(), plain);
        }
        plain
    }

    #[test]
    fn packing_round_trips_and_changes_apply_in_order() {
        let delivered = RecipientStatus::Delivered {
            at_ms: 9,
            reply: "250 2.0.0 ok".into(),
        };
        let after = check_same(&[
            attempt(1, "451 4.4.1 unreachable"),
            Update::Hold {
                id: QueueId(7),
                held: true,
            },
            Update::Recipient {
                id: QueueId(7),
                index: 1,
                status: delivered.clone(),
            },
            Update::Hold {
                id: QueueId(7),
                held: false,
            },
        ]);
        assert_eq!(after.attempts.len(), 1);
        assert_eq!(after.envelope.recipients[1].status, delivered);
        assert!(!after.held);
    }

    #[test]
    fn many_changes_fold_and_keep_the_newest_attempts() {
        let mut updates: Vec<Update> = (0..300)
            .map(|n| attempt(n, "451 4.4.1 destination unreachable: connection refused"))
            .collect();
        updates.insert(5, attempt(1000, DELAY_WARNING_SENT));
        let after = check_same(&updates);
        assert_eq!(after.attempts.len(), MAX_ATTEMPTS_KEPT);
        assert_eq!(after.attempts[0].result, DELAY_WARNING_SENT);
        assert_eq!(after.attempts.last().map(|a| a.at_ms), Some(299));
        let mut packed = PackedMessage::pack(&message(), &BODY);
        for u in &updates {
            packed.apply(u, &BODY);
        }
        // Folding bounds what the appended changes cost: one record of at most 100 attempts.
        assert!(packed.bytes.len() < 100 * 120 + FOLD_AT + 512);
    }

    #[test]
    fn a_small_message_packs_into_a_few_hundred_bytes() {
        let packed = PackedMessage::pack(&message(), &BODY);
        assert!(packed.bytes.len() < 300, "{} bytes", packed.bytes.len());
        assert_eq!(packed.bytes.capacity(), packed.bytes.len());
    }
}
