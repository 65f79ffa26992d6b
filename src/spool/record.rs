//! Journal records (format version 1, see docs/spool-format.md): what happened to which message, and
//! their encoding. Pure; no I/O.

use super::codec::{DecodeResult, Decoder, Encoder};
use super::{StoredMessage, Update};
use crate::envelope::{
    Attempt, AuthStamp, BodyType, Envelope, Notify, QueueId, Recipient, RecipientStatus, Ret, Route,
};

/// Where a message body lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLocation {
    /// Inside data segment `segment`, at `offset`, `len` bytes.
    Segment { segment: u64, offset: u64, len: u64 },
    /// In its own file `body/<id>`.
    File { len: u64 },
}

impl BodyLocation {
    pub fn len(&self) -> u64 {
        match *self {
            BodyLocation::Segment { len, .. } | BodyLocation::File { len } => len,
        }
    }
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A message with its full current state (written at commit and again in compacted journals).
    Message {
        message: StoredMessage,
        body: BodyLocation,
    },
    Change(Update),
}

const TAG_MESSAGE: u8 = 1;
const TAG_RECIPIENT: u8 = 2;
const TAG_ATTEMPT: u8 = 3;
const TAG_HOLD: u8 = 4;
const TAG_REMOVE: u8 = 5;

pub fn encode(record: &Record) -> Vec<u8> {
    match record {
        Record::Message { message, body } => encode_message(message, body),
        Record::Change(update) => encode_update(update),
    }
}

/// Encodes a message record without building a [`Record`] (no clone on the commit path).
pub fn encode_message(message: &StoredMessage, body: &BodyLocation) -> Vec<u8> {
    let mut e = Encoder::default();
    e.u8(TAG_MESSAGE);
    e.u64(message.id.0);
    encode_location(&mut e, body);
    e.bool(message.held);
    encode_envelope(&mut e, &message.envelope);
    e.u32(message.attempts.len() as u32);
    for a in &message.attempts {
        encode_attempt(&mut e, a);
    }
    if let Some(auth) = &message.envelope.auth {
        encode_auth(&mut e, auth);
    }
    e.buf
}

/// The optional trailing section of a Message record (issue 15): `u8 1` (its version), `str
/// prepend`, `u32 n`, n × (`str check`, `str result`). Records written before it simply end after
/// the attempts, so old journals still recover.
const AUTH_SECTION: u8 = 1;

fn encode_auth(e: &mut Encoder, auth: &AuthStamp) {
    e.u8(AUTH_SECTION);
    e.str(&auth.prepend);
    e.u32(auth.results.len() as u32);
    for (check, result) in &auth.results {
        e.str(check);
        e.str(result);
    }
}

fn decode_auth(d: &mut Decoder) -> DecodeResult<Option<Box<AuthStamp>>> {
    if d.at_end() {
        return Ok(None);
    }
    if d.u8()? != AUTH_SECTION {
        return Err("unknown trailing section in message record");
    }
    let prepend = d.str()?;
    let n = d.u32()? as usize;
    let mut results = Vec::with_capacity(n.min(16));
    for _ in 0..n {
        results.push((d.str()?, d.str()?));
    }
    Ok(Some(Box::new(AuthStamp { prepend, results })))
}

pub fn encode_update(update: &Update) -> Vec<u8> {
    let mut e = Encoder::default();
    match update {
        Update::Recipient { id, index, status } => {
            e.u8(TAG_RECIPIENT);
            e.u64(id.0);
            e.u32(*index as u32);
            encode_status(&mut e, status);
        }
        Update::Attempt { id, attempt } => {
            e.u8(TAG_ATTEMPT);
            e.u64(id.0);
            encode_attempt(&mut e, attempt);
        }
        Update::Hold { id, held } => {
            e.u8(TAG_HOLD);
            e.u64(id.0);
            e.bool(*held);
        }
        Update::Remove { id } => {
            e.u8(TAG_REMOVE);
            e.u64(id.0);
        }
    }
    e.buf
}

pub fn decode(payload: &[u8]) -> DecodeResult<Record> {
    let mut d = Decoder::new(payload);
    let record = match d.u8()? {
        TAG_MESSAGE => {
            let id = QueueId(d.u64()?);
            let body = decode_location(&mut d)?;
            let held = d.bool()?;
            let mut envelope = decode_envelope(&mut d)?;
            let n = d.u32()? as usize;
            let mut attempts = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                attempts.push(decode_attempt(&mut d)?);
            }
            envelope.auth = decode_auth(&mut d)?;
            let size = body.len();
            Record::Message {
                message: StoredMessage {
                    id,
                    envelope,
                    attempts,
                    held,
                    size,
                },
                body,
            }
        }
        TAG_RECIPIENT => {
            let id = QueueId(d.u64()?);
            let index = d.u32()? as usize;
            let status = decode_status(&mut d)?;
            Record::Change(Update::Recipient { id, index, status })
        }
        TAG_ATTEMPT => {
            let id = QueueId(d.u64()?);
            Record::Change(Update::Attempt {
                id,
                attempt: decode_attempt(&mut d)?,
            })
        }
        TAG_HOLD => Record::Change(Update::Hold {
            id: QueueId(d.u64()?),
            held: d.bool()?,
        }),
        TAG_REMOVE => Record::Change(Update::Remove {
            id: QueueId(d.u64()?),
        }),
        _ => return Err("unknown record type"),
    };
    d.finish()?;
    Ok(record)
}

fn encode_location(e: &mut Encoder, body: &BodyLocation) {
    match *body {
        BodyLocation::Segment {
            segment,
            offset,
            len,
        } => {
            e.u8(0);
            e.u64(segment);
            e.u64(offset);
            e.u64(len);
        }
        BodyLocation::File { len } => {
            e.u8(1);
            e.u64(len);
        }
    }
}

fn decode_location(d: &mut Decoder) -> DecodeResult<BodyLocation> {
    match d.u8()? {
        0 => Ok(BodyLocation::Segment {
            segment: d.u64()?,
            offset: d.u64()?,
            len: d.u64()?,
        }),
        1 => Ok(BodyLocation::File { len: d.u64()? }),
        _ => Err("bad body location"),
    }
}

fn encode_envelope(e: &mut Encoder, env: &Envelope) {
    e.str(&env.sender);
    e.u8(match env.body_type {
        BodyType::SevenBit => 0,
        BodyType::EightBitMime => 1,
        BodyType::BinaryMime => 2,
    });
    e.bool(env.smtputf8);
    e.u8(match env.ret {
        None => 0,
        Some(Ret::Full) => 1,
        Some(Ret::Headers) => 2,
    });
    e.opt_str(env.envid.as_deref());
    e.str(&env.client_ip.to_string());
    e.str(&env.helo);
    e.u64(env.received_at_ms);
    e.u32(env.recipients.len() as u32);
    for r in &env.recipients {
        e.str(&r.address);
        match &r.route {
            Route::Relay { domain } => {
                e.u8(0);
                e.str(domain);
            }
            Route::Postmaster => e.u8(1),
        }
        e.u8(match r.notify {
            None => 0xff,
            Some(n) => u8::from(n.success) | u8::from(n.failure) << 1 | u8::from(n.delay) << 2,
        });
        e.opt_str(r.orcpt.as_deref());
        encode_status(e, &r.status);
    }
}

fn decode_envelope(d: &mut Decoder) -> DecodeResult<Envelope> {
    let sender = d.str()?;
    let body_type = match d.u8()? {
        0 => BodyType::SevenBit,
        1 => BodyType::EightBitMime,
        2 => BodyType::BinaryMime,
        _ => return Err("bad body type"),
    };
    let smtputf8 = d.bool()?;
    let ret = match d.u8()? {
        0 => None,
        1 => Some(Ret::Full),
        2 => Some(Ret::Headers),
        _ => return Err("bad RET"),
    };
    let envid = d.opt_str()?;
    let client_ip = d.str()?.parse().map_err(|_| "bad client address")?;
    let helo = d.str()?;
    let received_at_ms = d.u64()?;
    let n = d.u32()? as usize;
    let mut recipients = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let address = d.str()?;
        let route = match d.u8()? {
            0 => Route::Relay { domain: d.str()? },
            1 => Route::Postmaster,
            _ => return Err("bad route"),
        };
        let notify = match d.u8()? {
            0xff => None,
            bits if bits < 8 => Some(Notify {
                success: bits & 1 != 0,
                failure: bits & 2 != 0,
                delay: bits & 4 != 0,
            }),
            _ => return Err("bad NOTIFY"),
        };
        let orcpt = d.opt_str()?;
        let status = decode_status(d)?;
        recipients.push(Recipient {
            address,
            route,
            notify,
            orcpt,
            status,
        });
    }
    Ok(Envelope {
        sender,
        recipients,
        body_type,
        smtputf8,
        ret,
        envid,
        client_ip,
        helo,
        received_at_ms,
        auth: None,
    })
}

fn encode_status(e: &mut Encoder, status: &RecipientStatus) {
    match status {
        RecipientStatus::Pending => e.u8(0),
        RecipientStatus::Delivered { at_ms, reply } => {
            e.u8(1);
            e.u64(*at_ms);
            e.str(reply);
        }
        RecipientStatus::Failed { at_ms, reply } => {
            e.u8(2);
            e.u64(*at_ms);
            e.str(reply);
        }
    }
}

fn decode_status(d: &mut Decoder) -> DecodeResult<RecipientStatus> {
    match d.u8()? {
        0 => Ok(RecipientStatus::Pending),
        1 => Ok(RecipientStatus::Delivered {
            at_ms: d.u64()?,
            reply: d.str()?,
        }),
        2 => Ok(RecipientStatus::Failed {
            at_ms: d.u64()?,
            reply: d.str()?,
        }),
        _ => Err("bad recipient status"),
    }
}

fn encode_attempt(e: &mut Encoder, a: &Attempt) {
    e.u64(a.at_ms);
    e.str(&a.host);
    e.str(&a.result);
}

fn decode_attempt(d: &mut Decoder) -> DecodeResult<Attempt> {
    Ok(Attempt {
        at_ms: d.u64()?,
        host: d.str()?,
        result: d.str()?,
    })
}

#[cfg(test)]
mod tests;
