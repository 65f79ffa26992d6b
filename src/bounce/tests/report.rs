//! The DSN's structure: headers, the three parts, the delivery-status fields, what is returned.

use super::*;

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
