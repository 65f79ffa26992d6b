//! Tests of the MAIL/RCPT parameters and xtext decoding.

use super::super::tests::{err, ok};
use super::super::{Command, MailParams, ParseError};
use super::*;

fn is_syntax(e: &ParseError) -> bool {
    matches!(e, ParseError::Syntax(_))
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
