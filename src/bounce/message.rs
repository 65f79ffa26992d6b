//! Assembling the DSN message itself: headers, the three `multipart/report` parts and a boundary that
//! cannot collide with the returned content.

use std::borrow::Cow;

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};

use super::status::{delivery_status, printable_ascii};
use super::text::human_readable;
use super::{Action, Dsn, DsnInput, MAX_RETURNED_BODY, OriginalMessage, RecipientReport};
use crate::clock::to_unix_ms;
use crate::envelope::{BodyType, Recipient, Ret};

const SUBJECT_FAILED: &str = "Undelivered Mail Returned to Sender";
const SUBJECT_DELAYED: &str = "Delayed Mail (still being retried)";

/// The header block of a message, up to and including the line end before the empty line.
pub(super) fn header_block(message: &[u8]) -> &[u8] {
    let end = find(message, b"\r\n\r\n")
        .map(|at| at + 2)
        .or_else(|| find(message, b"\n\n").map(|at| at + 1))
        .unwrap_or(message.len());
    message.get(..end).unwrap_or(message)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The third part: its content type and bytes. The full message only for failures without RET=HDRS,
/// within the size limit and not BINARYMIME (which would need a binary DSN).
fn returned_part<'a>(input: &DsnInput<'a>, action: Action) -> (&'static str, &'a [u8]) {
    let envelope = input.envelope;
    match input.original {
        OriginalMessage::Full(message)
            if action == Action::Failed
                && envelope.ret != Some(Ret::Headers)
                && envelope.body_type != BodyType::BinaryMime
                && message.len() <= MAX_RETURNED_BODY =>
        {
            ("message/rfc822", message)
        }
        OriginalMessage::Full(message) | OriginalMessage::HeadersOnly(message) => {
            ("text/rfc822-headers", header_block(message))
        }
    }
}

/// `=_` never appears in quoted-printable output; the loop makes sure it is in no raw part either.
fn boundary(seed: u64, parts: &[&[u8]]) -> String {
    let base = format!("=_dsn_{seed:016x}");
    let mut candidate = base.clone();
    let mut n = 0u32;
    while parts
        .iter()
        .any(|part| find(part, candidate.as_bytes()).is_some())
    {
        n += 1;
        candidate = format!("{base}_{n}");
    }
    candidate
}

pub(super) fn assemble(input: &DsnInput<'_>, wanted: &[(&RecipientReport, &Recipient)]) -> Dsn {
    let envelope = input.envelope;
    let host = printable_ascii(input.reporting_mta);
    let failed = wanted.iter().any(|(r, _)| r.action == Action::Failed);
    let action = if failed {
        Action::Failed
    } else {
        Action::Delayed
    };
    let (returned_type, returned) = returned_part(input, action);
    let text = human_readable(input, wanted);
    let status = delivery_status(input, wanted);
    let boundary = boundary(input.seed, &[text.as_bytes(), status.as_bytes(), returned]);
    let eight_bit = !returned.is_ascii();

    let report = MimePart::new(
        ContentType::new("multipart/report")
            .attribute("report-type", "delivery-status")
            .attribute("boundary", boundary),
        vec![
            MimePart::new("text/plain", text),
            // Binary bodies with an explicit encoding are written as they are: no charset, no base64.
            MimePart::new(
                "message/delivery-status",
                BodyPart::Binary(status.into_bytes().into()),
            )
            .transfer_encoding("7bit"),
            MimePart::new(returned_type, BodyPart::Binary(Cow::Borrowed(returned)))
                .transfer_encoding(if eight_bit { "8bit" } else { "7bit" }),
        ],
    );
    let mut message = Vec::new();
    MessageBuilder::new()
        .from(Address::new_address(
            Some("Mail Delivery System"),
            format!("MAILER-DAEMON@{host}"),
        ))
        .to(Address::new_address(None::<&str>, envelope.sender.as_str()))
        .subject(if failed {
            SUBJECT_FAILED
        } else {
            SUBJECT_DELAYED
        })
        .date(Date::new((to_unix_ms(input.now) / 1000) as i64))
        .message_id(format!("{:016x}.dsn@{host}", input.seed))
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(report)
        .serialize(&mut message);

    Dsn {
        sender: String::new(),
        recipient: envelope.sender.clone(),
        message,
        body_type: if eight_bit {
            BodyType::EightBitMime
        } else {
            BodyType::SevenBit
        },
        smtputf8: !envelope.sender.is_ascii() || (eight_bit && envelope.smtputf8),
    }
}
