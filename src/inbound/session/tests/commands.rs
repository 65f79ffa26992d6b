//! Dialogues about the session-level verbs: greeting, EHLO/HELO, errors, ETRN, STARTTLS, simple verbs.

use super::*;

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
            "CHUNKING",
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
        expect(&mut s, "RCPT TO:<a@example.test>", "503 5.5.1");
    }
    let step = expect(&mut s, "RCPT TO:<a@example.test>", "421 4.7.0");
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

#[test]
fn random_lines_never_panic_and_always_get_a_reply() {
    // Deterministic pseudo-random bytes (64-bit LCG), biased towards real verbs to reach deep states.
    let mut state: u64 = 0x5EED;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let verbs = [
        "EHLO x",
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<c@example.test>",
        "DATA",
        "BDAT 3",
        "RSET",
    ];
    let mut s = session();
    for _ in 0..20_000 {
        let mut line = verbs[next() as usize % verbs.len()].as_bytes().to_vec();
        for _ in 0..next() % 12 {
            line.push((next() % 256) as u8);
        }
        let step = s.on_line(Ok(line));
        assert!((200..600).contains(&step.reply.code));
        if step.action == Action::Close {
            s = session();
        } else if step.action == Action::StartData {
            let _ = s.end_data(Ok(1), UNIX_EPOCH);
        }
    }
}
