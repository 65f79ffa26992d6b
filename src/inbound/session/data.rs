//! DATA: the 354 go-ahead, our Received header, and turning the scanner's verdict into an envelope to
//! commit (or the reply that refuses the message). The bytes themselves flow in the driver.

use std::time::SystemTime;

use backupmx_smtp::{self as smtp, DataError};

use super::{Action, Phase, Session, Step, Transaction};
use crate::clock::to_unix_ms;
use crate::envelope::{BodyType, Envelope, QueueId, Ret};
use crate::inbound::received::{ReceivedFields, protocol_name, received_header};
use crate::inbound::replies::{bad_sequence, data_error, plain};

impl Session {
    pub(super) fn data(&mut self) -> Step {
        match std::mem::replace(&mut self.phase, Phase::Ready) {
            Phase::Bdat {
                transaction,
                received,
            } => {
                // RFC 3030 §3: DATA may not follow BDAT in a transaction.
                self.phase = Phase::Bdat {
                    transaction,
                    received,
                };
                Step::reply(bad_sequence("DATA not allowed after BDAT"))
            }
            Phase::Mail(transaction) if !transaction.recipients.is_empty() => {
                self.phase = Phase::Data(transaction);
                Step::then(
                    plain(354, "End data with <CR><LF>.<CR><LF>"),
                    Action::StartData,
                )
            }
            phase => {
                let text = match phase {
                    Phase::Mail(_) => "Need RCPT command",
                    _ => "Need MAIL command",
                };
                self.phase = phase;
                Step::reply(bad_sequence(text))
            }
        }
    }

    /// The Received header for the message being received (call after [`super::Action::StartData`]).
    pub fn received_header(&self, id: QueueId, now: SystemTime) -> String {
        let (recipients, smtputf8) = match &self.phase {
            Phase::Data(t) | Phase::Mail(t) | Phase::Bdat { transaction: t, .. } => {
                (t.recipients.as_slice(), t.params.smtputf8)
            }
            _ => (&[][..], false),
        };
        let extended = self.greeting.as_ref().is_some_and(|g| g.extended);
        let single_recipient = match recipients {
            [only] => Some(only.address.as_str()),
            _ => None,
        };
        received_header(&ReceivedFields {
            helo: self
                .greeting
                .as_ref()
                .map_or("unknown", |g| g.name.as_str()),
            client_ip: self.client.ip,
            hostname: &self.settings.hostname,
            protocol: protocol_name(extended, self.tls.is_some(), smtputf8),
            tls: self.tls.as_ref().map(|t| t.description.as_str()),
            id,
            single_recipient,
            utf8: smtputf8,
            now,
        })
    }

    /// Ends DATA: the transaction closes either way. `Ok` is the envelope to commit (reply with
    /// [`crate::inbound::replies::queued`] only once the commit succeeded); `Err` is the refusal to send.
    pub fn end_data(
        &mut self,
        verdict: Result<u64, DataError>,
        now: SystemTime,
    ) -> Result<Envelope, smtp::Reply> {
        let transaction = match std::mem::replace(&mut self.phase, Phase::Ready) {
            Phase::Data(transaction) | Phase::Bdat { transaction, .. } => transaction,
            _ => return Err(bad_sequence("Bad sequence of commands")),
        };
        if let Err(error) = verdict {
            return Err(data_error(&error));
        }
        Ok(self.envelope(transaction, now))
    }

    fn envelope(&self, transaction: Transaction, now: SystemTime) -> Envelope {
        let params = transaction.params;
        Envelope {
            sender: transaction.sender,
            recipients: transaction.recipients,
            body_type: match params.body {
                None | Some(smtp::BodyType::SevenBit) => BodyType::SevenBit,
                Some(smtp::BodyType::EightBitMime) => BodyType::EightBitMime,
                Some(smtp::BodyType::BinaryMime) => BodyType::BinaryMime,
            },
            smtputf8: params.smtputf8,
            ret: params.ret.map(|r| match r {
                smtp::Ret::Full => Ret::Full,
                smtp::Ret::Headers => Ret::Headers,
            }),
            envid: params.envid,
            client_ip: self.client.ip.to_canonical(),
            helo: self
                .greeting
                .as_ref()
                .map(|g| g.name.clone())
                .unwrap_or_default(),
            received_at_ms: to_unix_ms(now),
            auth: None,
        }
    }
}
