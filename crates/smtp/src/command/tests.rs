//! Tests of command parsing: verbs, paths, ESMTP parameters, xtext and hostile input.

use super::*;

/// The parsed command, or a panic naming the line (shared with the parameter tests).
pub(super) fn ok(line: &str) -> Command {
    parse_command(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?} refused: {e}"))
}

/// The parse error, or a panic naming what it was accepted as (shared with the parameter tests).
pub(super) fn err(line: &[u8]) -> ParseError {
    match parse_command(line) {
        Ok(c) => panic!("{:?} accepted as {c:?}", String::from_utf8_lossy(line)),
        Err(e) => e,
    }
}

fn mailbox(text: &str) -> Mailbox {
    Mailbox::parse(text).unwrap()
}

fn is_syntax(e: &ParseError) -> bool {
    matches!(e, ParseError::Syntax(_))
}

#[test]
fn simple_verbs_in_any_case() {
    for (line, command) in [
        ("DATA", Command::Data),
        ("data", Command::Data),
        ("RSET", Command::Rset),
        ("rSeT", Command::Rset),
        ("NOOP", Command::Noop),
        ("NOOP anything at all", Command::Noop),
        ("QUIT", Command::Quit),
        ("quit ", Command::Quit),
        ("HELP", Command::Help),
        ("HELP MAIL", Command::Help),
        ("STARTTLS", Command::StartTls),
        ("starttls", Command::StartTls),
        ("VRFY user", Command::Vrfy),
        ("EXPN list", Command::Expn),
        ("AUTH PLAIN AGJvYgBzZWNyZXQ=", Command::Auth),
        ("AUTH", Command::Auth),
        (
            "ETRN example.test",
            Command::Etrn {
                domain: "example.test".into(),
            },
        ),
        (
            "ETRN @example.test",
            Command::Etrn {
                domain: "@example.test".into(),
            },
        ),
    ] {
        assert_eq!(ok(line), command, "{line:?}");
    }
}

#[test]
fn arguments_where_none_or_one_is_allowed() {
    for line in [
        "DATA x",
        "RSET x",
        "QUIT now",
        "STARTTLS x",
        "VRFY",
        "EXPN",
        "ETRN",
        "ETRN a b",
    ] {
        assert!(is_syntax(&err(line.as_bytes())), "{line:?}");
    }
}

#[test]
fn unknown_commands() {
    for line in [
        "",
        " ",
        "FOO",
        "MAILFROM:<a@b.test>",
        "DATAX",
        "EHLO\u{a0}x",
        "X-SOMETHING y",
    ] {
        assert_eq!(err(line.as_bytes()), ParseError::UnknownCommand, "{line:?}");
    }
}

#[test]
fn ehlo_and_helo() {
    assert_eq!(
        ok("EHLO mx.example.test"),
        Command::Ehlo {
            domain: "mx.example.test".into()
        }
    );
    assert_eq!(
        ok("helo mx.example.test"),
        Command::Helo {
            domain: "mx.example.test".into()
        }
    );
    assert_eq!(
        ok("EHLO [192.0.2.1]"),
        Command::Ehlo {
            domain: "[192.0.2.1]".into()
        }
    );
    assert_eq!(
        ok("EHLO [IPv6:2001:db8::1]"),
        Command::Ehlo {
            domain: "[IPv6:2001:db8::1]".into()
        }
    );
    assert_eq!(
        ok("EHLO win_host.example.test."),
        Command::Ehlo {
            domain: "win_host.example.test.".into()
        }
    );
    assert_eq!(
        ok("EHLO  localhost  "),
        Command::Ehlo {
            domain: "localhost".into()
        }
    );
    assert_eq!(
        ok("EHLO bücher.example"),
        Command::Ehlo {
            domain: "bücher.example".into()
        }
    );
    for line in [
        "EHLO",
        "EHLO ",
        "HELO",
        "EHLO a b",
        "EHLO [1.2.3.4",
        "EHLO []",
        "EHLO [1.2.[3].4]",
        "EHLO -bad.example",
        "EHLO bad..example",
        "EHLO bad@example",
        "EHLO <example.test>",
    ] {
        assert!(is_syntax(&err(line.as_bytes())), "{line:?}");
    }
}

#[test]
fn mail_from_paths() {
    let mail = |from| Command::Mail {
        from,
        params: MailParams::default(),
    };
    assert_eq!(
        ok("MAIL FROM:<a@b.test>"),
        mail(ReversePath::Mailbox(mailbox("a@b.test")))
    );
    assert_eq!(
        ok("mail from:<a@b.test>"),
        mail(ReversePath::Mailbox(mailbox("a@b.test")))
    );
    assert_eq!(
        ok("MAIL FROM: <a@b.test>"),
        mail(ReversePath::Mailbox(mailbox("a@b.test")))
    );
    assert_eq!(ok("MAIL FROM:<>"), mail(ReversePath::Null));
    assert_eq!(ok("MAIL FROM: <>"), mail(ReversePath::Null));
    assert_eq!(
        ok("MAIL FROM:<@relay.test:a@b.test>"),
        mail(ReversePath::Mailbox(mailbox("a@b.test")))
    );
    assert_eq!(
        ok("MAIL FROM:<@r1.test,@r2.test:a@b.test>"),
        mail(ReversePath::Mailbox(mailbox("a@b.test")))
    );
    assert_eq!(
        ok("MAIL FROM:<\"john > doe\"@b.test>"),
        mail(ReversePath::Mailbox(mailbox("\"john > doe\"@b.test")))
    );
    for line in [
        "MAIL",
        "MAIL FROM",
        "MAIL FROM:",
        "MAIL FROM:a@b.test",
        "MAIL FROM:<a@b.test",
        "MAIL FROM:<a@b.test>x",
        "MAIL TO:<a@b.test>",
        "MAIL FROM :<a@b.test>",
        "MAIL FROM:<\"unterminated@b.test>",
    ] {
        assert!(is_syntax(&err(line.as_bytes())), "{line:?}");
    }
    for line in [
        "MAIL FROM:<@:a@b.test>",
        "MAIL FROM:<@r1.test,r2.test:a@b.test>",
        "MAIL FROM:<@r1.test>",
    ] {
        assert_eq!(
            err(line.as_bytes()),
            ParseError::Address(AddressError::Syntax),
            "{line:?}"
        );
    }
    assert_eq!(
        err(b"MAIL FROM:<postmaster>"),
        ParseError::Address(AddressError::Syntax)
    );
    assert_eq!(
        err(b"MAIL FROM:<a%c@b.test>"),
        ParseError::Address(AddressError::PercentHack)
    );
}

#[test]
fn rcpt_to_paths() {
    let rcpt = |to| Command::Rcpt {
        to,
        params: RcptParams::default(),
    };
    assert_eq!(
        ok("RCPT TO:<a@b.test>"),
        rcpt(ForwardPath::Mailbox(mailbox("a@b.test")))
    );
    assert_eq!(
        ok("rcpt to: <a@b.test>"),
        rcpt(ForwardPath::Mailbox(mailbox("a@b.test")))
    );
    assert_eq!(ok("RCPT TO:<postmaster>"), rcpt(ForwardPath::Postmaster));
    assert_eq!(ok("RCPT TO:<PostMaster>"), rcpt(ForwardPath::Postmaster));
    assert_eq!(
        ok("RCPT TO:<postmaster@b.test>"),
        rcpt(ForwardPath::Mailbox(mailbox("postmaster@b.test")))
    );
    assert_eq!(
        err(b"RCPT TO:<>"),
        ParseError::Address(AddressError::Syntax)
    );
    assert_eq!(
        err(b"RCPT TO:<user>"),
        ParseError::Address(AddressError::Syntax)
    );
    assert_eq!(
        err(b"RCPT TO:<@r.test:a@b.test>"),
        ParseError::Address(AddressError::SourceRoute)
    );
    assert_eq!(
        err(b"RCPT TO:<@r1.test,@r2.test:a@b.test>"),
        ParseError::Address(AddressError::SourceRoute)
    );
    assert_eq!(
        err(b"RCPT TO:<a%c.test@b.test>"),
        ParseError::Address(AddressError::PercentHack)
    );
    assert_eq!(
        err(b"RCPT TO:<c.test!a@b.test>"),
        ParseError::Address(AddressError::BangPath)
    );
    assert_eq!(
        err(b"RCPT TO:<\"a@c.test\"@b.test>"),
        ParseError::Address(AddressError::QuotedAt)
    );
    assert_eq!(
        err(b"RCPT TO:<a@[192.0.2.1]>"),
        ParseError::Address(AddressError::IpLiteral)
    );
    for line in [
        "RCPT",
        "RCPT TO:a@b.test",
        "RCPT FROM:<a@b.test>",
        "RCPT TO:<a@b.test",
    ] {
        assert!(is_syntax(&err(line.as_bytes())), "{line:?}");
    }
}

#[test]
fn bdat() {
    assert_eq!(
        ok("BDAT 0"),
        Command::Bdat {
            size: 0,
            last: false
        }
    );
    assert_eq!(
        ok("BDAT 1000 LAST"),
        Command::Bdat {
            size: 1000,
            last: true
        }
    );
    assert_eq!(
        ok("bdat 5 last"),
        Command::Bdat {
            size: 5,
            last: true
        }
    );
    for line in [
        "BDAT",
        "BDAT LAST",
        "BDAT -1",
        "BDAT 1 FIRST",
        "BDAT 1 LAST x",
        "BDAT 99999999999999999999",
    ] {
        assert!(is_syntax(&err(line.as_bytes())), "{line:?}");
    }
}

#[test]
fn hostile_bytes_are_errors_not_panics() {
    for line in [
        b"MAIL FROM:<a@b.test>\0".as_slice(),
        b"MAIL FROM:<a\xff@b.test>",
        b"\xff\xfe",
        b"EHLO x\ty",
        b"RCPT TO:<a@b.test>\r",
        b"DATA\n",
        b"NOOP \x1b[31m",
        b"\xc3",
    ] {
        assert!(is_syntax(&err(line)), "{line:?}");
    }
    // Every prefix and every single-byte corruption of a long command parses without panicking.
    let line = b"MAIL FROM:<\"q\\\"x\"@b.test> SIZE=10 BODY=8BITMIME ENVID=a+2B SMTPUTF8 RET=FULL";
    for end in 0..=line.len() {
        let _ = parse_command(&line[..end]);
        for byte in [
            0u8, b' ', b'<', b'>', b'"', b'\\', b'@', b'=', b'+', b':', 0x80, 0xff,
        ] {
            let mut corrupted = line.to_vec();
            if end < corrupted.len() {
                corrupted[end] = byte;
                let _ = parse_command(&corrupted);
            }
        }
    }
}
