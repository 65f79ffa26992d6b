//! Dialogues about mail transactions: MAIL, RCPT (relay policy, tricks, limits), DATA and the envelope.

use super::*;

#[test]
fn non_ascii_addresses_need_smtputf8() {
    let mut s = greeted();
    dialogue(
        &mut s,
        &[
            ("MAIL FROM:<jörg@sender.test>", "553 5.6.7"),
            ("MAIL FROM:<a@sender.test>", "250 2.1.0"),
            ("RCPT TO:<jörg@example.test>", "553 5.6.7"),
            ("RSET", "250 2.0.0"),
            ("MAIL FROM:<jörg@sender.test> SMTPUTF8", "250 2.1.0"),
            ("RCPT TO:<jörg@example.test>", "250 2.1.5"),
        ],
    );
}

#[test]
fn rcpt_sequence_relay_and_postmaster() {
    let mut s = greeted();
    dialogue(
        &mut s,
        &[
            ("RCPT TO:<b@example.test>", "503 5.5.1"),
            ("MAIL FROM:<a@sender.test>", "250 2.1.0"),
            ("RCPT TO:<b@elsewhere.test>", "550 5.7.1"),
            ("RCPT TO:<b@example.test.evil>", "550 5.7.1"),
            ("RCPT TO:<b@evilexample.test>", "550 5.7.1"),
            ("RCPT TO:<b@sub.example.test>", "550 5.7.1"),
            ("RCPT TO:<b@EXAMPLE.test.>", "250 2.1.5"),
            ("RCPT TO:<postmaster>", "250 2.1.5"),
            ("RCPT TO:<PostMaster@mx2.Example.net>", "250 2.1.5"),
        ],
    );
}

#[test]
fn relay_tricks_are_refused_with_550_5_7_1() {
    let mut s = greeted();
    expect(&mut s, "MAIL FROM:<a@sender.test>", "250 2.1.0");
    for trick in [
        "RCPT TO:<b%elsewhere.test@example.test>",
        "RCPT TO:<elsewhere.test!b@example.test>",
        "RCPT TO:<@example.test:b@elsewhere.test>",
        "RCPT TO:<@example.test,@x.test:b@elsewhere.test>",
        "RCPT TO:<\"b@elsewhere.test\"@example.test>",
        "RCPT TO:<b@[192.0.2.1]>",
        "RCPT TO:<b@[IPv6:::1]>",
    ] {
        expect(&mut s, trick, "550 5.7.1");
    }
}

#[test]
fn rcpt_syntax_errors_are_501() {
    let mut s = greeted();
    expect(&mut s, "MAIL FROM:<a@sender.test>", "250 2.1.0");
    for bad in ["RCPT TO:<b@>", "RCPT TO:<b c@example.test>"] {
        assert_eq!(send(&mut s, bad).reply.code, 501, "{bad}");
    }
    assert_eq!(head(&send(&mut s, "RCPT TO:<b@>").reply), "501 5.1.3");
}

#[test]
fn quoted_local_part_without_tricks_is_relayed_with_its_quotes() {
    let mut s = greeted();
    dialogue(
        &mut s,
        &[
            ("MAIL FROM:<a@sender.test>", "250 2.1.0"),
            ("RCPT TO:<\"john doe\"@example.test>", "250 2.1.5"),
            ("DATA", "354"),
        ],
    );
    let envelope = s.end_data(Ok(10), UNIX_EPOCH).unwrap();
    assert_eq!(envelope.recipients[0].address, "\"john doe\"@example.test");
}

#[test]
fn too_many_recipients_is_452_and_duplicates_do_not_count() {
    let mut s = greeted();
    dialogue(
        &mut s,
        &[
            ("MAIL FROM:<a@sender.test>", "250 2.1.0"),
            ("RCPT TO:<r1@example.test>", "250 2.1.5"),
            ("RCPT TO:<r1@example.test>", "250 2.1.5"),
            ("RCPT TO:<r2@example.test>", "250 2.1.5"),
            ("RCPT TO:<r3@example.test>", "250 2.1.5"),
            ("RCPT TO:<r4@example.test>", "452 4.5.3"),
            ("DATA", "354"),
        ],
    );
    let envelope = s.end_data(Ok(1), UNIX_EPOCH).unwrap();
    let addresses: Vec<_> = envelope
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(
        addresses,
        ["r1@example.test", "r2@example.test", "r3@example.test"]
    );
}

#[test]
fn data_needs_mail_and_a_recipient() {
    let mut s = greeted();
    expect(&mut s, "DATA", "503 5.5.1");
    expect(&mut s, "MAIL FROM:<a@sender.test>", "250 2.1.0");
    expect(&mut s, "RCPT TO:<b@elsewhere.test>", "550 5.7.1");
    expect(&mut s, "DATA", "503 5.5.1");
    expect(&mut s, "RCPT TO:<b@example.test>", "250 2.1.5");
    let step = expect(&mut s, "DATA", "354");
    assert_eq!(step.action, Action::StartData);
    assert!(s.in_transaction());
}

#[test]
fn accepted_data_builds_the_envelope() {
    let mut s = greeted();
    dialogue(
        &mut s,
        &[
            (
                "MAIL FROM:<a@sender.test> BODY=8BITMIME RET=HDRS ENVID=abc SMTPUTF8",
                "250 2.1.0",
            ),
            (
                "RCPT TO:<b@example.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b@example.test",
                "250 2.1.5",
            ),
            ("RCPT TO:<c@x.corp.test>", "250 2.1.5"),
            ("RCPT TO:<postmaster>", "250 2.1.5"),
            ("DATA", "354"),
        ],
    );
    let now = UNIX_EPOCH + Duration::from_millis(1_234_567);
    let envelope = s.end_data(Ok(100), now).unwrap();
    assert!(!s.in_transaction());
    assert_eq!(envelope.sender, "a@sender.test");
    assert_eq!(envelope.body_type, BodyType::EightBitMime);
    assert!(envelope.smtputf8);
    assert_eq!(envelope.ret, Some(Ret::Headers));
    assert_eq!(envelope.envid.as_deref(), Some("abc"));
    assert_eq!(envelope.client_ip, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
    assert_eq!(envelope.helo, "client.example");
    assert_eq!(envelope.received_at_ms, 1_234_567);
    let r = &envelope.recipients;
    assert_eq!(
        r[0].route,
        Route::Relay {
            domain: "example.test".into()
        }
    );
    let notify = r[0].notify.unwrap();
    assert!(!notify.success && notify.failure && notify.delay);
    assert_eq!(r[0].orcpt.as_deref(), Some("rfc822;b@example.test"));
    assert_eq!(
        r[1].route,
        Route::Relay {
            domain: "corp.test".into()
        }
    );
    assert_eq!(r[1].notify, None);
    assert_eq!(
        (r[2].address.as_str(), &r[2].route),
        ("postmaster", &Route::Postmaster)
    );
    // The session is ready for the next transaction.
    expect(&mut s, "MAIL FROM:<>", "250 2.1.0");
}

#[test]
fn refused_data_gives_the_right_reply_and_ends_the_transaction() {
    for (error, want) in [
        (DataError::TooBig, "552 5.3.4"),
        (DataError::BareLineEnd, "550 5.6.0"),
        (DataError::Nul, "550 5.6.0"),
        (DataError::LineTooLong, "550 5.6.0"),
    ] {
        let mut s = with_recipient();
        expect(&mut s, "DATA", "354");
        let refusal = s.end_data(Err(error), UNIX_EPOCH).unwrap_err();
        assert_eq!(head(&refusal), want);
        assert!(!s.in_transaction());
        expect(&mut s, "RCPT TO:<b@example.test>", "503 5.5.1");
    }
}

#[test]
fn received_header_names_protocol_recipient_and_id() {
    let mut s = with_recipient();
    expect(&mut s, "DATA", "354");
    let h = s.received_header(QueueId(0xAB), UNIX_EPOCH);
    assert!(
        h.starts_with("Received: from client.example ([192.0.2.7])\r\n"),
        "{h}"
    );
    assert!(
        h.contains("by mx2.example.net (backupmx) with ESMTP id 00000000000000AB\r\n"),
        "{h}"
    );
    assert!(
        h.contains("\tfor <b@example.test>;\r\n\tThu, 1 Jan 1970 00:00:00 +0000\r\n"),
        "{h}"
    );

    let mut s = Session::new(settings(3), client(false, true));
    dialogue(
        &mut s,
        &[
            ("HELO old.example", "250"),
            ("MAIL FROM:<a@sender.test>", "250 2.1.0"),
            ("RCPT TO:<b@example.test>", "250 2.1.5"),
            ("RCPT TO:<c@example.test>", "250 2.1.5"),
            ("DATA", "354"),
        ],
    );
    let h = s.received_header(QueueId(1), UNIX_EPOCH);
    assert!(h.contains("with SMTP id 0000000000000001;"), "{h}");
    assert!(!h.contains("for <"), "{h}");
}

#[test]
fn rset_ends_the_transaction_but_keeps_the_greeting() {
    let mut s = with_recipient();
    dialogue(
        &mut s,
        &[
            ("RSET", "250 2.0.0"),
            ("RCPT TO:<b@example.test>", "503 5.5.1"),
            ("MAIL FROM:<>", "250 2.1.0"),
        ],
    );
}

#[test]
fn pipelined_transaction_answers_in_order() {
    let mut s = session();
    let script = [
        ("EHLO client.example", "250"),
        ("MAIL FROM:<a@sender.test>", "250 2.1.0"),
        ("RCPT TO:<b@example.test>", "250 2.1.5"),
        ("RCPT TO:<x@elsewhere.test>", "550 5.7.1"),
        ("RCPT TO:<c@example.test>", "250 2.1.5"),
        ("DATA", "354"),
    ];
    dialogue(&mut s, &script);
    assert_eq!(s.end_data(Ok(5), UNIX_EPOCH).unwrap().recipients.len(), 2);
}
