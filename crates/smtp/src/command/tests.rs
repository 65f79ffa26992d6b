//! Tests of command parsing: verbs, paths, ESMTP parameters, xtext and hostile input.

use super::params::decode_xtext;
use super::*;

fn ok(line: &str) -> Command {
    parse_command(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?} refused: {e}"))
}

fn err(line: &[u8]) -> ParseError {
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
fn mail_parameters() {
    let Command::Mail { params, .. } =
        ok("MAIL FROM:<a@b.test> SIZE=12345 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ314159+2Bx")
    else {
        panic!("not MAIL");
    };
    assert_eq!(
        params,
        MailParams {
            size: Some(12345),
            body: Some(BodyType::EightBitMime),
            smtputf8: true,
            ret: Some(Ret::Headers),
            envid: Some("QQ314159+x".into()),
        }
    );
    let mail_params = |line: &str| match ok(line) {
        Command::Mail { params, .. } => params,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        mail_params("MAIL FROM:<> body=7bit").body,
        Some(BodyType::SevenBit)
    );
    assert_eq!(
        mail_params("MAIL FROM:<> BODY=BINARYMIME").body,
        Some(BodyType::BinaryMime)
    );
    assert_eq!(mail_params("MAIL FROM:<> ret=full").ret, Some(Ret::Full));
    assert_eq!(mail_params("MAIL FROM:<>  size=0  ").size, Some(0));
    assert!(mail_params("MAIL FROM:<> smtputf8").smtputf8);
    assert_eq!(
        mail_params(&format!("MAIL FROM:<> SIZE={}", u64::MAX)).size,
        Some(u64::MAX)
    );

    for line in [
        "MAIL FROM:<> SIZE",
        "MAIL FROM:<> SIZE=",
        "MAIL FROM:<> SIZE=-1",
        "MAIL FROM:<> SIZE=1k",
        "MAIL FROM:<> SIZE=18446744073709551616",
        "MAIL FROM:<> SIZE=1 SIZE=2",
        "MAIL FROM:<> BODY=9BIT",
        "MAIL FROM:<> BODY",
        "MAIL FROM:<> BODY=7BIT BODY=7BIT",
        "MAIL FROM:<> SMTPUTF8=yes",
        "MAIL FROM:<> SMTPUTF8 SMTPUTF8",
        "MAIL FROM:<> RET=ALL",
        "MAIL FROM:<> RET=FULL RET=HDRS",
        "MAIL FROM:<> ENVID=a=b",
        "MAIL FROM:<> ENVID=a+4",
        "MAIL FROM:<> ENVID=a+0D+0Ab",
        "MAIL FROM:<> ENVID=a ENVID=b",
        "MAIL FROM:<> =x",
        "MAIL FROM:<> -X=1",
        "MAIL FROM:<> X_Y=1",
    ] {
        assert!(is_syntax(&err(line.as_bytes())), "{line:?}");
    }
    assert_eq!(
        err(&[b"MAIL FROM:<> ENVID=".as_slice(), &[b'x'; 101]].concat()),
        ParseError::Syntax("ENVID=<xtext>")
    );
    assert_eq!(
        err(b"MAIL FROM:<> AUTH=<>"),
        ParseError::UnknownParameter("AUTH".into())
    );
    assert_eq!(
        err(b"MAIL FROM:<> NOTIFY=NEVER"),
        ParseError::UnknownParameter("NOTIFY".into())
    );
    assert_eq!(
        err(b"MAIL FROM:<> x-custom"),
        ParseError::UnknownParameter("x-custom".into())
    );
}

#[test]
fn rcpt_parameters() {
    let rcpt_params = |line: &str| match ok(line) {
        Command::Rcpt { params, .. } => params,
        other => panic!("{other:?}"),
    };
    let params = rcpt_params("RCPT TO:<a@b.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a+2Bx@b.test");
    assert_eq!(
        params.notify,
        Some(Notify {
            success: true,
            failure: false,
            delay: true
        })
    );
    assert_eq!(params.orcpt.as_deref(), Some("rfc822;a+x@b.test"));
    assert_eq!(
        rcpt_params("RCPT TO:<a@b.test> notify=never").notify,
        Some(Notify::default())
    );
    assert_eq!(
        rcpt_params("RCPT TO:<a@b.test> NOTIFY=failure").notify,
        Some(Notify {
            success: false,
            failure: true,
            delay: false
        })
    );
    assert_eq!(
        rcpt_params("RCPT TO:<postmaster> ORCPT=utf-8;jösé@b.test")
            .orcpt
            .as_deref(),
        Some("utf-8;jösé@b.test")
    );
    for line in [
        "RCPT TO:<a@b.test> NOTIFY",
        "RCPT TO:<a@b.test> NOTIFY=",
        "RCPT TO:<a@b.test> NOTIFY=NEVER,SUCCESS",
        "RCPT TO:<a@b.test> NOTIFY=SUCCESS,",
        "RCPT TO:<a@b.test> NOTIFY=ALWAYS",
        "RCPT TO:<a@b.test> NOTIFY=DELAY NOTIFY=DELAY",
        "RCPT TO:<a@b.test> ORCPT=a@b.test",
        "RCPT TO:<a@b.test> ORCPT=;a@b.test",
        "RCPT TO:<a@b.test> ORCPT=rfc822;",
        "RCPT TO:<a@b.test> ORCPT=rfc 822;a@b.test",
        "RCPT TO:<a@b.test> ORCPT=rfc822;a+0Ab@b.test",
        "RCPT TO:<a@b.test> ORCPT=rfc822;a+FF@b.test",
        "RCPT TO:<a@b.test> ORCPT=rfc822;a@b.test ORCPT=rfc822;a@b.test",
    ] {
        assert!(is_syntax(&err(line.as_bytes())), "{line:?}");
    }
    assert_eq!(
        err(b"RCPT TO:<a@b.test> SIZE=1"),
        ParseError::UnknownParameter("SIZE".into())
    );
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

#[test]
fn xtext_decoding() {
    assert_eq!(decode_xtext("abc").as_deref(), Some("abc"));
    assert_eq!(decode_xtext("a+2Bb+3Dc").as_deref(), Some("a+b=c"));
    assert_eq!(decode_xtext("a+2bb").as_deref(), Some("a+b"));
    assert_eq!(decode_xtext("+C3+A9").as_deref(), Some("é"));
    assert_eq!(decode_xtext("").as_deref(), Some(""));
    for bad in [
        "a=b", "a+", "a+2", "a+G0", "a+00", "a+7F", "+C3", "a b", "a\u{1}b",
    ] {
        assert_eq!(decode_xtext(bad), None, "{bad:?}");
    }
}
