//! DSN tests: every generated report is parsed back with mail-parser and checked part by part.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backupmx_smtp::EnhancedCode;
use mail_parser::{Message, MessageParser, MimeHeaders};

use super::*;
use crate::envelope::{Notify, RecipientStatus, Route};

const ORIGINAL: &[u8] = b"From: Alice <alice@sender.test>\r\nTo: bob@example.test\r\n\
Subject: Quarterly figures\r\nMessage-ID: <orig.1@sender.test>\r\n\r\nHello Bob,\r\nthe figures.\r\n";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn recipient(address: &str, notify: Option<Notify>, orcpt: Option<&str>) -> Recipient {
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

fn envelope() -> Envelope {
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
    }
}

fn failed(index: usize) -> RecipientReport {
    RecipientReport {
        index,
        action: Action::Failed,
        status: EnhancedCode(5, 1, 1),
        remote_mta: Some("mail.example.test".to_owned()),
        diagnostic: Some("550 5.1.1 <bob@example.test>: no such user".to_owned()),
        last_attempt: Some(at(60)),
    }
}

fn delayed(index: usize) -> RecipientReport {
    RecipientReport {
        index,
        action: Action::Delayed,
        status: EnhancedCode(4, 4, 1),
        remote_mta: None,
        diagnostic: Some("connection refused by mail.example.test".to_owned()),
        last_attempt: Some(at(14_000)),
    }
}

fn build(
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

fn parse(dsn: &Dsn) -> Message<'_> {
    MessageParser::new()
        .parse(&dsn.message)
        .expect("the DSN parses")
}

/// (content type, contents) of the report's three parts.
fn parts<'a>(message: &'a Message<'a>) -> Vec<(String, &'a [u8])> {
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
fn status_blocks(body: &[u8]) -> Vec<Vec<(String, String)>> {
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

fn get<'a>(block: &'a [(String, String)], name: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn failure_report_has_the_rfc3464_structure() {
    let env = envelope();
    let dsn = build(&env, &[failed(0)], OriginalMessage::Full(ORIGINAL)).unwrap();
    assert_eq!(
        (dsn.sender.as_str(), dsn.recipient.as_str()),
        ("", "alice@sender.test")
    );
    assert_eq!((dsn.body_type, dsn.smtputf8), (BodyType::SevenBit, false));
    let message = parse(&dsn);
    assert_eq!(
        message.subject(),
        Some("Undelivered Mail Returned to Sender")
    );
    let from = message.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("Mail Delivery System"));
    assert_eq!(from.address(), Some("MAILER-DAEMON@mx2.backup.test"));
    assert_eq!(
        message.to().unwrap().first().unwrap().address(),
        Some("alice@sender.test")
    );
    assert_eq!(
        message.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-replied")
    );
    assert_eq!(
        message.message_id(),
        Some("000000000000feed.dsn@mx2.backup.test")
    );
    assert!(message.date().is_some());

    let parts = parts(&message);
    let types = parts.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>();
    assert_eq!(
        types,
        ["text/plain", "message/delivery-status", "message/rfc822"]
    );
    let human = std::str::from_utf8(parts[0].1).unwrap();
    assert!(human.contains("<bob@example.test>"), "{human}");
    assert!(
        human.contains("host mail.example.test said: 550 5.1.1"),
        "{human}"
    );

    let blocks = status_blocks(parts[1].1);
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        get(&blocks[0], "Reporting-MTA"),
        Some("dns; mx2.backup.test")
    );
    assert_eq!(get(&blocks[0], "Original-Envelope-Id"), Some("QQ314159"));
    assert_eq!(
        get(&blocks[0], "Received-From-MTA"),
        Some("dns; out.sender.test (192.0.2.7)")
    );
    assert_eq!(
        get(&blocks[0], "Arrival-Date"),
        Some("Tue, 14 Nov 2023 22:13:20 +0000")
    );
    let rcpt = &blocks[1];
    assert_eq!(
        get(rcpt, "Original-Recipient"),
        Some("rfc822; Bob@Example.test")
    );
    assert_eq!(
        get(rcpt, "Final-Recipient"),
        Some("rfc822; bob@example.test")
    );
    assert_eq!(get(rcpt, "Action"), Some("failed"));
    assert_eq!(get(rcpt, "Status"), Some("5.1.1"));
    assert_eq!(get(rcpt, "Remote-MTA"), Some("dns; mail.example.test"));
    assert_eq!(
        get(rcpt, "Diagnostic-Code"),
        Some("smtp; 550 5.1.1 <bob@example.test>: no such user")
    );
    assert_eq!(
        get(rcpt, "Last-Attempt-Date"),
        Some("Tue, 14 Nov 2023 22:14:20 +0000")
    );
    assert_eq!(get(rcpt, "Will-Retry-Until"), None);

    let returned = message.parts.iter().find_map(|p| p.message()).unwrap();
    assert_eq!(returned.subject(), Some("Quarterly figures"));
    assert!(returned.body_text(0).unwrap().contains("the figures."));
}

#[test]
fn the_7bit_parts_are_neither_base64_nor_given_a_charset() {
    let env = envelope();
    let dsn = build(&env, &[failed(0)], OriginalMessage::Full(ORIGINAL)).unwrap();
    let text = String::from_utf8(dsn.message).unwrap();
    assert!(
        text.contains("Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: 7bit")
    );
    assert!(text.contains("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit"));
    assert!(!text.contains("base64"));
    assert!(text.contains("Final-Recipient: rfc822; bob@example.test\r\n"));
}

#[test]
fn ret_hdrs_returns_only_the_headers() {
    let env = Envelope {
        ret: Some(Ret::Headers),
        ..envelope()
    };
    let dsn = build(&env, &[failed(0)], OriginalMessage::Full(ORIGINAL)).unwrap();
    let message = parse(&dsn);
    let parts = parts(&message);
    assert_eq!(parts[2].0, "text/rfc822-headers");
    let headers = std::str::from_utf8(parts[2].1).unwrap();
    assert!(headers.contains("Subject: Quarterly figures"));
    assert!(!headers.contains("Hello Bob"));
    assert!(!String::from_utf8_lossy(&dsn.message).contains("Hello Bob"));
}

#[test]
fn big_originals_come_back_as_headers() {
    let mut big = ORIGINAL.to_vec();
    big.extend(b"0123456789abcdef\r\n".repeat(MAX_RETURNED_BODY / 18 + 1));
    let env = envelope();
    let dsn = build(&env, &[failed(0)], OriginalMessage::Full(&big)).unwrap();
    assert!(dsn.message.len() < 4096);
    assert_eq!(parts(&parse(&dsn))[2].0, "text/rfc822-headers");
    assert!(!returns_full_body(&env, big.len(), Action::Failed));
    assert!(returns_full_body(&env, ORIGINAL.len(), Action::Failed));
    assert!(!returns_full_body(&env, ORIGINAL.len(), Action::Delayed));
}

#[test]
fn headers_only_input_is_returned_as_headers() {
    let env = envelope();
    let dsn = build(&env, &[failed(0)], OriginalMessage::HeadersOnly(ORIGINAL)).unwrap();
    let message = parse(&dsn);
    let parts = parts(&message);
    assert_eq!(parts[2].0, "text/rfc822-headers");
    assert!(
        parts[2]
            .1
            .ends_with(b"Message-ID: <orig.1@sender.test>\r\n")
    );
}

#[test]
fn delay_warning_says_delayed_and_until_when() {
    let env = envelope();
    let dsn = build(
        &env,
        &[delayed(0), delayed(1)],
        OriginalMessage::Full(ORIGINAL),
    )
    .unwrap();
    let message = parse(&dsn);
    assert_eq!(
        message.subject(),
        Some("Delayed Mail (still being retried)")
    );
    let parts = parts(&message);
    assert_eq!(parts[2].0, "text/rfc822-headers");
    let blocks = status_blocks(parts[1].1);
    assert_eq!(blocks.len(), 3);
    for rcpt in &blocks[1..] {
        assert_eq!(get(rcpt, "Action"), Some("delayed"));
        assert_eq!(get(rcpt, "Status"), Some("4.4.1"));
        assert_eq!(get(rcpt, "Remote-MTA"), None);
        assert_eq!(
            get(rcpt, "Will-Retry-Until"),
            Some("Sun, 19 Nov 2023 22:13:20 +0000")
        );
        assert_eq!(
            get(rcpt, "Diagnostic-Code"),
            Some("X-Backupmx; connection refused by mail.example.test")
        );
    }
    assert_eq!(
        get(&blocks[2], "Final-Recipient"),
        Some("rfc822; carol@example.test")
    );
    assert_eq!(get(&blocks[2], "Original-Recipient"), None);
    let human = std::str::from_utf8(parts[0].1).unwrap();
    assert!(
        human.contains("still trying") && human.contains("retried until"),
        "{human}"
    );
}

#[test]
fn notify_and_null_sender_rules() {
    let never = Notify::default();
    let delay_only = Notify {
        delay: true,
        ..Notify::default()
    };
    let failure_only = Notify {
        failure: true,
        ..Notify::default()
    };
    let env = envelope();
    let r = |notify| recipient("bob@example.test", notify, None);
    assert!(should_bounce(&env, &r(None)));
    assert!(should_notify(&env, &r(None), Action::Delayed));
    assert!(!should_bounce(&env, &r(Some(never))));
    assert!(!should_notify(&env, &r(Some(never)), Action::Delayed));
    assert!(!should_bounce(&env, &r(Some(delay_only))));
    assert!(should_notify(&env, &r(Some(delay_only)), Action::Delayed));
    assert!(should_bounce(&env, &r(Some(failure_only))));
    assert!(!should_notify(
        &env,
        &r(Some(failure_only)),
        Action::Delayed
    ));
    let null = Envelope {
        sender: String::new(),
        ..envelope()
    };
    assert!(!should_bounce(&null, &r(None)));
    assert!(build(&null, &[failed(0)], OriginalMessage::Full(ORIGINAL)).is_none());
}

#[test]
fn only_recipients_that_asked_are_reported() {
    let mut env = envelope();
    env.recipients[0].notify = Some(Notify::default());
    assert!(build(&env, &[failed(0)], OriginalMessage::Full(ORIGINAL)).is_none());
    let dsn = build(
        &env,
        &[failed(0), failed(1)],
        OriginalMessage::Full(ORIGINAL),
    )
    .unwrap();
    let message = parse(&dsn);
    let blocks = status_blocks(parts(&message)[1].1);
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        get(&blocks[1], "Final-Recipient"),
        Some("rfc822; carol@example.test")
    );
}

#[test]
fn a_report_for_a_missing_recipient_is_an_error() {
    let env = envelope();
    let input = DsnInput {
        reporting_mta: "mx2.backup.test",
        envelope: &env,
        reports: &[failed(7)],
        original: OriginalMessage::Full(ORIGINAL),
        now: at(0),
        will_retry_until: None,
        seed: 1,
    };
    assert_eq!(build_dsn(&input), Err(BounceError::NoSuchRecipient(7)));
}

#[test]
fn hostile_and_non_ascii_content_cannot_break_the_report() {
    let original = "From: \"<script>alert(1)</script>\" <x@sender.test>\r\n\
Subject: <script>alert('x')</script> Gr\u{fc}\u{df}e \u{65e5}\u{672c}\r\n\r\n\
--=_dsn_000000000000feed\r\nbody \u{e9}\r\n";
    let mut env = envelope();
    env.sender = "j\u{f6}rg@sender.test".to_owned();
    env.smtputf8 = true;
    env.body_type = BodyType::EightBitMime;
    env.helo = "evil\r\nAction: delivered".to_owned();
    env.recipients[1].address = "\"<script>\"@example.test".to_owned();
    let mut report = failed(1);
    report.diagnostic =
        Some("550 nope\r\nAction: delivered\r\n\r\n--=_dsn_000000000000feed--".into());
    let dsn = build(&env, &[report], OriginalMessage::Full(original.as_bytes())).unwrap();
    assert_eq!(
        (dsn.body_type, dsn.smtputf8),
        (BodyType::EightBitMime, true)
    );
    let raw = String::from_utf8_lossy(&dsn.message);
    assert!(
        raw.contains("boundary=\"=_dsn_000000000000feed_1\""),
        "{raw}"
    );
    assert!(
        !dsn.message
            .windows(2)
            .any(|w| w[1] == b'\n' && w[0] != b'\r'),
        "bare LF"
    );

    let message = parse(&dsn);
    let parts = parts(&message);
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[2].0, "message/rfc822");
    let status = std::str::from_utf8(parts[1].1).unwrap();
    assert!(status.is_ascii());
    let blocks = status_blocks(parts[1].1);
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[1].iter().filter(|(n, _)| n == "Action").count(), 1);
    assert_eq!(get(&blocks[1], "Action"), Some("failed"));
    assert_eq!(
        get(&blocks[1], "Final-Recipient"),
        Some("rfc822; \"<script>\"@example.test")
    );
    assert_eq!(
        get(&blocks[0], "Received-From-MTA"),
        Some("dns; evil Action: delivered (192.0.2.7)")
    );
    let returned = message.parts.iter().find_map(|p| p.message()).unwrap();
    assert_eq!(
        returned.subject(),
        Some("<script>alert('x')</script> Gr\u{fc}\u{df}e \u{65e5}\u{672c}")
    );
    assert_eq!(
        message.to().unwrap().first().unwrap().address(),
        Some("j\u{f6}rg@sender.test")
    );
}

#[test]
fn non_ascii_final_recipients_use_the_utf8_address_type() {
    let mut env = envelope();
    env.recipients[0].address = "b\u{f6}b@example.test".to_owned();
    env.recipients[0].orcpt = None;
    let dsn = build(&env, &[failed(0)], OriginalMessage::Full(ORIGINAL)).unwrap();
    let message = parse(&dsn);
    let blocks = status_blocks(parts(&message)[1].1);
    assert_eq!(
        get(&blocks[1], "Final-Recipient"),
        Some("utf-8; b\\x{F6}b@example.test")
    );
}

#[test]
fn binarymime_originals_come_back_as_headers() {
    let env = Envelope {
        body_type: BodyType::BinaryMime,
        ..envelope()
    };
    let dsn = build(&env, &[failed(0)], OriginalMessage::Full(ORIGINAL)).unwrap();
    assert_eq!(parts(&parse(&dsn))[2].0, "text/rfc822-headers");
}

#[test]
fn output_is_deterministic_for_a_seed() {
    let env = envelope();
    let a = build(&env, &[failed(0)], OriginalMessage::Full(ORIGINAL)).unwrap();
    let b = build(&env, &[failed(0)], OriginalMessage::Full(ORIGINAL)).unwrap();
    assert_eq!(a, b);
    assert!(
        a.message
            .split(|b| *b == b'\n')
            .all(|line| line.len() <= 998)
    );
}
