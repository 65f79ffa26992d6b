//! Dialogue tests of the session state machine: scripted command lines in, replies (code + enhanced
//! code) and actions out, no sockets.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use backupmx_smtp::{DataError, LineError, Reply};

use super::*;
use crate::config::DomainConfig;
use crate::envelope::{BodyType, QueueId, Ret, Route};

fn settings(max_recipients: usize) -> Arc<SessionSettings> {
    let domains = [
        DomainConfig {
            name: "example.test".into(),
            subdomains: false,
            primary: None,
        },
        DomainConfig {
            name: "corp.test".into(),
            subdomains: true,
            primary: None,
        },
    ];
    Arc::new(SessionSettings {
        hostname: "mx2.example.net".into(),
        max_message_size: 10_000,
        max_recipients,
        policy: RelayPolicy::new(&domains, "mx2.example.net"),
        max_errors: DEFAULT_MAX_ERRORS,
    })
}

fn client(etrn_allowed: bool, tls_available: bool) -> ClientInfo {
    ClientInfo {
        ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
        etrn_allowed,
        tls_available,
    }
}

fn session() -> Session {
    Session::new(settings(3), client(false, true))
}

/// A session that already said EHLO.
fn greeted() -> Session {
    let mut s = session();
    expect(&mut s, "EHLO client.example", "250");
    s
}

/// A session with an open transaction and one recipient.
fn with_recipient() -> Session {
    let mut s = greeted();
    dialogue(
        &mut s,
        &[
            ("MAIL FROM:<a@sender.test>", "250 2.1.0"),
            ("RCPT TO:<b@example.test>", "250 2.1.5"),
        ],
    );
    s
}

/// `250 2.1.0` / `220` (no enhanced code): the code part of a reply, for comparisons.
fn head(reply: &Reply) -> String {
    match reply.enhanced {
        Some(e) => format!("{} {e}", reply.code),
        None => reply.code.to_string(),
    }
}

fn send(s: &mut Session, line: &str) -> Step {
    s.on_line(Ok(line.as_bytes().to_vec()))
}

fn expect(s: &mut Session, line: &str, want: &str) -> Step {
    let step = send(s, line);
    assert_eq!(
        head(&step.reply),
        want,
        "reply to {line:?}: {:?}",
        step.reply
    );
    step
}

fn dialogue(s: &mut Session, script: &[(&str, &str)]) {
    for (line, want) in script {
        expect(s, line, want);
    }
}

#[test]
fn greeting_is_220_with_our_name() {
    let s = session();
    let g = s.greeting();
    assert_eq!(head(&g), "220");
    assert_eq!(g.lines, vec!["mx2.example.net ESMTP backupmx".to_string()]);
}

#[test]
fn ehlo_lists_extensions() {
    let mut s = session();
    let step = expect(&mut s, "EHLO client.example", "250");
    assert_eq!(
        step.reply.lines,
        [
            "mx2.example.net",
            "PIPELINING",
            "SIZE 10000",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "DSN",
            "STARTTLS"
        ]
    );
    let mut no_tls = Session::new(settings(3), client(true, false));
    let lines = expect(&mut no_tls, "EHLO c", "250").reply.lines;
    assert!(!lines.iter().any(|l| l == "STARTTLS"));
    assert!(lines.iter().any(|l| l == "ETRN"));
}

#[test]
fn helo_gives_a_plain_250_and_no_esmtp_parameters() {
    let mut s = session();
    let step = expect(&mut s, "HELO client.example", "250");
    assert_eq!(step.reply.lines, ["mx2.example.net"]);
    dialogue(
        &mut s,
        &[
            ("MAIL FROM:<a@sender.test> SIZE=100", "555 5.5.4"),
            ("MAIL FROM:<a@sender.test>", "250 2.1.0"),
        ],
    );
}

#[test]
fn ehlo_without_domain_is_a_syntax_error() {
    let mut s = session();
    assert_eq!(send(&mut s, "EHLO").reply.code, 501);
    assert_eq!(send(&mut s, "HELO").reply.code, 501);
}

#[test]
fn mail_sequence_and_limits() {
    let mut s = session();
    expect(&mut s, "MAIL FROM:<a@sender.test>", "503 5.5.1");
    expect(&mut s, "EHLO client.example", "250");
    dialogue(
        &mut s,
        &[
            ("MAIL FROM:<a@sender.test> SIZE=10001", "552 5.3.4"),
            ("MAIL FROM:<a@sender.test> SIZE=10000", "250 2.1.0"),
            ("MAIL FROM:<a@sender.test>", "503 5.5.1"),
            ("RSET", "250 2.0.0"),
            ("MAIL FROM:<>", "250 2.1.0"),
        ],
    );
}

#[test]
fn mail_with_bad_sender_is_501() {
    let mut s = greeted();
    assert_eq!(send(&mut s, "MAIL FROM:<a@@b>").reply.code, 501);
    assert_eq!(send(&mut s, "MAIL FROM:a@b").reply.code, 501);
    assert_eq!(
        send(&mut s, "MAIL FROM:<a@sender.test> FOO=BAR").reply.code,
        555
    );
}

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
    for bad in [
        "RCPT TO:<b@>",
        "RCPT TO:<@example.test>",
        "RCPT TO:<b c@example.test>",
    ] {
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
fn simple_verbs() {
    let mut s = session();
    dialogue(
        &mut s,
        &[
            ("NOOP", "250 2.0.0"),
            ("RSET", "250 2.0.0"),
            ("VRFY postmaster", "252 2.5.0"),
            ("VRFY b@example.test", "252 2.5.0"),
            ("EXPN staff", "502 5.5.1"),
            ("HELP", "214 2.0.0"),
            ("AUTH PLAIN AGF1dGgAcGFzcw==", "502 5.5.1"),
            ("XCLIENT ADDR=1.2.3.4", "500 5.5.1"),
            ("XFORWARD ADDR=1.2.3.4", "500 5.5.1"),
            ("FOO", "500 5.5.1"),
        ],
    );
    let step = expect(&mut s, "QUIT", "221 2.0.0");
    assert_eq!(step.action, Action::Close);
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
fn line_errors_and_garbage_get_500() {
    let mut s = greeted();
    for error in [LineError::TooLong, LineError::BareLineEnd, LineError::Nul] {
        assert_eq!(head(&s.on_line(Err(error)).reply), "500 5.5.2");
    }
    for garbage in [
        &b"\xff\xfe\x80\x01"[..],
        b"",
        b"   ",
        b"\x1b[31mMAIL",
        b"MAIL\xff FROM:<>",
    ] {
        let step = s.on_line(Ok(garbage.to_vec()));
        assert!(step.reply.code >= 500, "{garbage:?}: {:?}", step.reply);
        assert!(step.reply.enhanced.is_some());
    }
}

#[test]
fn too_many_errors_drop_the_session() {
    let mut s = greeted();
    for _ in 1..DEFAULT_MAX_ERRORS {
        expect(&mut s, "BOGUS", "500 5.5.1");
    }
    let step = expect(&mut s, "BOGUS", "421 4.7.0");
    assert_eq!(step.action, Action::Close);
}

#[test]
fn etrn_only_for_allowed_clients_and_backed_up_domains() {
    let mut s = Session::new(settings(3), client(true, false));
    expect(&mut s, "ETRN example.test", "503 5.5.1");
    expect(&mut s, "EHLO c", "250");
    let step = expect(&mut s, "ETRN Example.TEST", "250 2.0.0");
    assert_eq!(step.action, Action::FlushDomain("example.test".into()));
    let step = expect(&mut s, "ETRN @x.corp.test", "250 2.0.0");
    assert_eq!(step.action, Action::FlushDomain("corp.test".into()));
    expect(&mut s, "ETRN elsewhere.test", "459 4.7.1");
    expect(&mut s, "ETRN #queue", "458 4.3.0");
    expect(&mut s, "MAIL FROM:<>", "250 2.1.0");
    expect(&mut s, "ETRN example.test", "503 5.5.1");

    let mut s = greeted();
    let step = expect(&mut s, "ETRN example.test", "459 4.7.1");
    assert_eq!(step.action, Action::Continue);
}

#[test]
fn starttls_resets_the_session() {
    let mut s = Session::new(settings(3), client(false, false));
    expect(&mut s, "STARTTLS", "502 5.5.1");

    let mut s = with_recipient();
    expect(&mut s, "STARTTLS", "503 5.5.1");
    expect(&mut s, "RSET", "250 2.0.0");
    let step = expect(&mut s, "STARTTLS", "220 2.0.0");
    assert_eq!(step.action, Action::StartTls);
    s.tls_started(TlsInfo {
        description: "TLSv1_3 TLS13_AES_128_GCM_SHA256".into(),
    });
    assert!(s.tls_active());
    expect(&mut s, "MAIL FROM:<a@sender.test>", "503 5.5.1");
    let lines = expect(&mut s, "EHLO client.example", "250").reply.lines;
    assert!(!lines.iter().any(|l| l == "STARTTLS"));
    expect(&mut s, "STARTTLS", "503 5.5.1");
    dialogue(
        &mut s,
        &[
            ("MAIL FROM:<a@sender.test>", "250 2.1.0"),
            ("RCPT TO:<b@example.test>", "250 2.1.5"),
            ("DATA", "354"),
        ],
    );
    let h = s.received_header(QueueId(2), UNIX_EPOCH);
    assert!(
        h.contains("with ESMTPS (TLSv1_3 TLS13_AES_128_GCM_SHA256) id"),
        "{h}"
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

#[test]
fn every_reply_but_greeting_ehlo_helo_and_354_has_an_enhanced_code() {
    let mut s = session();
    let lines = [
        "MAIL FROM:<>",
        "RCPT TO:<a@example.test>",
        "DATA",
        "HELO h",
        "EHLO e",
        "MAIL FROM:<>",
        "MAIL FROM:<>",
        "RCPT TO:<a@elsewhere.test>",
        "RCPT TO:<a@>",
        "RCPT TO:<a@example.test>",
        "VRFY x",
        "EXPN x",
        "HELP",
        "NOOP",
        "AUTH LOGIN",
        "ETRN example.test",
        "STARTTLS",
        "RSET",
        "BDAT 10 LAST",
        "XCLIENT NAME=x",
        "\u{1}\u{2}",
        "QUIT",
    ];
    for line in lines {
        let step = send(&mut s, line);
        let exempt = line.starts_with("HELO") || line.starts_with("EHLO");
        assert_eq!(
            step.reply.enhanced.is_none(),
            exempt,
            "{line:?}: {:?}",
            step.reply
        );
    }
}
