//! Test messages and what to compare at the sink: building messages with a Message-ID, dot-stuffing,
//! removing the `Received:` header backupmx prepends, and grouping deliveries per mailbox.

use std::collections::BTreeMap;

use crate::support::ReceivedMessage;

/// A small message with a unique `Message-ID: <id@e2e.test>`; its body has lines that need
/// dot-stuffing and one that looks like the end of data.
pub fn message(id: &str, to: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@sender.test>\r\nTo: <{to}>\r\nSubject: e2e {id}\r\n\
         Message-ID: <{id}@e2e.test>\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n\r\n\
         Hello {id}.\r\n.leading dot\r\n..two dots\r\n.\r\nnot the end\r\n \r\n\ttab line\r\n"
    )
    .into_bytes()
}

/// Doubles every leading dot (RFC 5321 §4.5.2); `message` ends with CRLF.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    for line in message.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out
}

/// Header fields backupmx prepends at delivery (issue 15: the sender checks' results, the ARC set).
const PREPENDED: [&[u8]; 4] = [
    b"Authentication-Results: ",
    b"ARC-Seal: ",
    b"ARC-Message-Signature: ",
    b"ARC-Authentication-Results: ",
];

/// `data` without the fields backupmx prepends at delivery (Authentication-Results, ARC set).
pub fn strip_prepended(data: &[u8]) -> &[u8] {
    let mut rest = data;
    while PREPENDED.iter().any(|name| rest.starts_with(name)) {
        rest = skip_field(rest);
    }
    rest
}

/// `data` after its first (possibly folded) header field.
fn skip_field(data: &[u8]) -> &[u8] {
    let mut rest = data;
    let mut first = true;
    while !rest.is_empty() && (first || rest[0] == b' ' || rest[0] == b'\t') {
        first = false;
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .map_or(rest.len(), |p| p + 1);
        rest = &rest[end..];
    }
    rest
}

/// `data` without the fields backupmx prepends and its first header field, which must be a
/// (folded) `Received:` by backupmx.
pub fn strip_first_received(data: &[u8]) -> &[u8] {
    let data = strip_prepended(data);
    assert!(
        data.starts_with(b"Received: "),
        "no Received first: {}",
        String::from_utf8_lossy(&data[..data.len().min(200)])
    );
    skip_field(data)
}

/// The `<id@e2e.test>` id of a message, or "" when it has none.
pub fn message_id(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    text.lines()
        .find_map(|l| l.strip_prefix("Message-ID: <"))
        .and_then(|rest| rest.split('@').next())
        .unwrap_or("")
        .to_owned()
}

/// Message ids delivered to each recipient, in the order the sink received them.
pub fn ids_per_mailbox(messages: &[ReceivedMessage]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in messages {
        for rcpt in &m.recipients {
            map.entry(rcpt.clone())
                .or_default()
                .push(message_id(&m.data));
        }
    }
    map
}

/// Asserts each id appears once overall and every mailbox got its ids in `expected` order.
pub fn assert_once_in_order(
    messages: &[ReceivedMessage],
    expected: &BTreeMap<String, Vec<String>>,
) {
    let mut all: Vec<String> = messages.iter().map(|m| message_id(&m.data)).collect();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "a message was delivered twice");
    assert_eq!(&ids_per_mailbox(messages), expected, "per-mailbox order");
}
