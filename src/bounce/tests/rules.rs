//! NOTIFY and null-sender rules, input errors, hostile and non-ASCII content, determinism.

use super::*;

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
