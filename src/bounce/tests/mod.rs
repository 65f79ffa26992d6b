//! DSN tests: every generated report is parsed back with mail-parser and checked part by part. This file
//! holds the fixtures and parse helpers; `report` checks the structure, `rules` the policy and hostile input.

mod report;
mod rules;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(super) use backupmx_smtp::EnhancedCode;
pub(super) use mail_parser::{Message, MessageParser, MimeHeaders};

pub(super) use super::*;
pub(super) use crate::envelope::{Notify, RecipientStatus, Route};

pub(super) const ORIGINAL: &[u8] = b"From: Alice <alice@sender.test>\r\nTo: bob@example.test\r\n\
Subject: Quarterly figures\r\nMessage-ID: <orig.1@sender.test>\r\n\r\nHello Bob,\r\nthe figures.\r\n";

pub(super) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

pub(super) fn recipient(address: &str, notify: Option<Notify>, orcpt: Option<&str>) -> Recipient {
    Recipient {
        address: address.to_owned(),
        route: Route::Relay {
            domain: "example.test".to_owned(),
        },
        notify,
        orcpt: orcpt.map(str::to_owned),
        status: RecipientStatus::Pending,
    }
}

pub(super) fn envelope() -> Envelope {
    Envelope {
        sender: "alice@sender.test".to_owned(),
        recipients: vec![
            recipient("bob@example.test", None, Some("rfc822;Bob@Example.test")),
            recipient("carol@example.test", None, None),
        ],
        body_type: BodyType::SevenBit,
        smtputf8: false,
        ret: None,
        envid: Some("QQ314159".to_owned()),
        client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
        helo: "out.sender.test".to_owned(),
        received_at_ms: 1_700_000_000_000,
        auth: None,
    }
}

pub(super) fn failed(index: usize) -> RecipientReport {
    RecipientReport {
        index,
        action: Action::Failed,
        status: EnhancedCode(5, 1, 1),
        remote_mta: Some("mail.example.test".to_owned()),
        diagnostic: Some("550 5.1.1 <bob@example.test>: no such user".to_owned()),
        last_attempt: Some(at(60)),
    }
}

pub(super) fn delayed(index: usize) -> RecipientReport {
    RecipientReport {
        index,
        action: Action::Delayed,
        status: EnhancedCode(4, 4, 1),
        remote_mta: None,
        diagnostic: Some("connection refused by mail.example.test".to_owned()),
        last_attempt: Some(at(14_000)),
    }
}

pub(super) fn build(
    envelope: &Envelope,
    reports: &[RecipientReport],
    original: OriginalMessage<'_>,
) -> Option<Dsn> {
    let input = DsnInput {
        reporting_mta: "mx2.backup.test",
        envelope,
        reports,
        original,
        now: at(120),
        will_retry_until: Some(at(5 * 86_400)),
        seed: 0xfeed,
    };
    build_dsn(&input).unwrap()
}

pub(super) fn parse(dsn: &Dsn) -> Message<'_> {
    MessageParser::new()
        .parse(&dsn.message)
        .expect("the DSN parses")
}

/// (content type, contents) of the report's three parts.
pub(super) fn parts<'a>(message: &'a Message<'a>) -> Vec<(String, &'a [u8])> {
    let root = message.root_part();
    let ct = root.content_type().unwrap();
    assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")));
    assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
    root.sub_parts()
        .unwrap()
        .iter()
        .map(|id| {
            let part = &message.parts[*id as usize];
            let ct = part.content_type().unwrap();
            (
                format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")),
                part.contents(),
            )
        })
        .collect()
}

/// The delivery-status body as blocks of (name, value) fields.
pub(super) fn status_blocks(body: &[u8]) -> Vec<Vec<(String, String)>> {
    let text = std::str::from_utf8(body).unwrap();
    text.split("\r\n\r\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            block
                .split("\r\n")
                .filter(|l| !l.is_empty())
                .map(|line| {
                    let (name, value) = line.split_once(": ").unwrap();
                    (name.to_owned(), value.to_owned())
                })
                .collect()
        })
        .collect()
}

pub(super) fn get<'a>(block: &'a [(String, String)], name: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
