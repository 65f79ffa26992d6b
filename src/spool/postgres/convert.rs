//! Between the spool's messages and the shared queue's rows: the envelope is stored in the journal's
//! own record encoding (one format for both backends), recipients get one row each with their
//! destination, the unit of ownership.

use crate::cluster::commit::{NewMessage, NewRecipient};
use crate::cluster::load;
use crate::envelope::{Attempt, QueueId, RecipientStatus};
use crate::spool::StoredMessage;
use crate::spool::record::{self, BodyLocation, Record};

/// A recipient pending in the database but whose destination another node owns: this node's copy
/// must neither deliver it nor report it. Recognised by [`is_not_mine`].
const NOT_MINE: &str = "(another node's destination)";

pub(super) fn new_message(message: &StoredMessage, inline: Option<Vec<u8>>) -> NewMessage {
    NewMessage {
        id: message.id.0,
        sender: message.envelope.sender.clone(),
        envelope: record::encode_message(message, &BodyLocation::File { len: message.size }),
        recipients: message
            .envelope
            .recipients
            .iter()
            .map(|r| NewRecipient {
                address: r.address.clone(),
                destination: r.route.destination().to_string(),
                mailbox: r.address.clone(),
            })
            .collect(),
        size: message.size,
        received_at_ms: message.envelope.received_at_ms,
        inline_body: inline,
    }
}

/// The message as this node's queue holds it: recipients of destinations in `mine` pending as in the
/// database, the others marked as not this node's; attempts and hold from the database.
pub(super) fn stored_message(
    loaded: &load::Loaded,
    mine: &(dyn Fn(&str) -> bool + Sync),
) -> Option<StoredMessage> {
    let Ok(Record::Message { mut message, .. }) = record::decode(&loaded.envelope) else {
        return None;
    };
    message.id = QueueId(loaded.id);
    message.held = loaded.held;
    message.size = loaded.size;
    message.attempts = loaded
        .attempts
        .iter()
        .map(|(at_ms, host, result)| Attempt {
            at_ms: *at_ms,
            host: host.clone(),
            result: result.clone(),
        })
        .collect();
    for row in &loaded.recipients {
        let Some(r) = message.envelope.recipients.get_mut(row.index as usize) else {
            continue;
        };
        let reply = row.reply.clone().unwrap_or_default();
        let at_ms = row.at_ms.unwrap_or(0);
        r.status = match row.status {
            0 if mine(&row.destination) => RecipientStatus::Pending,
            0 => not_mine(),
            1 => RecipientStatus::Delivered { at_ms, reply },
            _ => RecipientStatus::Failed { at_ms, reply },
        };
    }
    Some(message)
}

pub fn not_mine() -> RecipientStatus {
    RecipientStatus::Delivered {
        at_ms: 0,
        reply: NOT_MINE.to_string(),
    }
}

pub fn is_not_mine(status: &RecipientStatus) -> bool {
    matches!(status, RecipientStatus::Delivered { at_ms: 0, reply } if reply == NOT_MINE)
}
