//! Tests of reply building and incremental reply parsing.

use super::*;

fn wire(reply: &Reply) -> String {
    String::from_utf8(reply.to_bytes()).unwrap()
}

fn parse_all(input: &[u8]) -> Vec<Result<Reply, ReplyError>> {
    let mut parser = ReplyParser::new();
    parser.push(input);
    std::iter::from_fn(|| parser.next_reply()).collect()
}

fn parse_one(input: &str) -> Reply {
    match parse_all(input.as_bytes()).as_slice() {
        [Ok(reply)] => reply.clone(),
        other => panic!("{input:?} gave {other:?}"),
    }
}

#[test]
fn writes_single_and_multi_line_replies() {
    assert_eq!(
        wire(&Reply::new(250, EnhancedCode(2, 1, 5), "Ok")),
        "250 2.1.5 Ok\r\n"
    );
    assert_eq!(
        wire(&Reply::plain(220, "mx.example.test ESMTP")),
        "220 mx.example.test ESMTP\r\n"
    );
    assert_eq!(wire(&Reply::plain(354, "")), "354 \r\n");
    assert_eq!(
        wire(&Reply::new(250, EnhancedCode(2, 0, 0), "")),
        "250 2.0.0\r\n"
    );
    let multi = Reply::multi(
        550,
        EnhancedCode(5, 7, 1),
        vec!["Relay".into(), "denied".into()],
    );
    assert_eq!(wire(&multi), "550-5.7.1 Relay\r\n550 5.7.1 denied\r\n");
    let ehlo = Reply {
        code: 250,
        enhanced: None,
        lines: vec!["mx".into(), "PIPELINING".into(), "SIZE 10".into()],
    };
    assert_eq!(wire(&ehlo), "250-mx\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
    let empty = Reply {
        code: 221,
        enhanced: None,
        lines: Vec::new(),
    };
    assert_eq!(wire(&empty), "221 \r\n");
    let mut out = b"x".to_vec();
    Reply::plain(221, "Bye").write_to(&mut out);
    assert_eq!(out, b"x221 Bye\r\n");
}

#[test]
fn written_text_cannot_inject_lines() {
    let reply = Reply::new(550, EnhancedCode(5, 1, 1), "no such user <a\r\n250 ok>\0");
    assert_eq!(wire(&reply), "550 5.1.1 no such user <a  250 ok> \r\n");
}

#[test]
fn one_line_form() {
    let reply = Reply::multi(
        451,
        EnhancedCode(4, 4, 1),
        vec!["try".into(), "later".into()],
    );
    assert_eq!(reply.to_one_line(), "451 4.4.1 try later");
    assert_eq!(reply.to_string(), "451 4.4.1 try later");
    assert_eq!(Reply::plain(250, "").to_one_line(), "250");
    assert_eq!(Reply::plain(250, "ok\r\n").to_one_line(), "250 ok  ");
    assert_eq!(reply.text(), "try later");
}

#[test]
fn classes() {
    assert!(Reply::plain(250, "").is_positive());
    assert!(Reply::plain(354, "").is_positive());
    assert!(Reply::plain(421, "").is_transient());
    assert!(Reply::plain(554, "").is_permanent());
    assert!(!Reply::plain(450, "").is_permanent());
}

#[test]
fn parses_what_it_writes() {
    for reply in [
        Reply::new(250, EnhancedCode(2, 1, 5), "Ok"),
        Reply::multi(
            550,
            EnhancedCode(5, 7, 1),
            vec!["a".into(), "b c".into(), "".into()],
        ),
        Reply::plain(220, "mx ESMTP"),
        Reply {
            code: 250,
            enhanced: None,
            lines: vec!["mx".into(), "8BITMIME".into()],
        },
        Reply::new(452, EnhancedCode(4, 3, 1), "Insufficient storage"),
        Reply::new(554, EnhancedCode(5, 123, 999), "x"),
    ] {
        assert_eq!(parse_one(&wire(&reply)), reply);
    }
}

#[test]
fn enhanced_code_detection() {
    let r = parse_one("250 2.0.0 Ok: queued\r\n");
    assert_eq!(
        (r.enhanced, r.lines),
        (Some(EnhancedCode(2, 0, 0)), vec!["Ok: queued".to_string()])
    );
    assert_eq!(
        parse_one("250 2.0.0\r\n").enhanced,
        Some(EnhancedCode(2, 0, 0))
    );
    // Class must match the code; the shape must be d.d.d followed by a space or the end.
    for line in [
        "250 5.0.0 x\r\n",
        "250 2.0 x\r\n",
        "250 2.0.0.0 x\r\n",
        "250 2.0.0x\r\n",
        "250 2.1000.0 x\r\n",
        "250 22.0.0 x\r\n",
        "250 3.0.0 x\r\n",
        "250 2..0 x\r\n",
    ] {
        let r = parse_one(line);
        assert_eq!(r.enhanced, None, "{line:?}");
        assert_eq!(format!("250 {}\r\n", r.lines[0]), line);
    }
    // Only lines repeating the first line's code have it stripped.
    let r = parse_one("550-5.1.1 first\r\n550-5.1.1 second\r\n550 other last\r\n");
    assert_eq!(r.enhanced, Some(EnhancedCode(5, 1, 1)));
    assert_eq!(r.lines, vec!["first", "second", "other last"]);
}

#[test]
fn multi_line_replies_and_pipelining() {
    let input =
        b"250-mx.example.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n250 2.1.0 Ok\r\n354 go\n";
    let replies = parse_all(input);
    assert_eq!(replies.len(), 3);
    assert_eq!(
        replies[0].as_ref().unwrap().lines,
        vec!["mx.example.test", "PIPELINING", "SIZE 1000"]
    );
    assert_eq!(
        replies[1].as_ref().unwrap().enhanced,
        Some(EnhancedCode(2, 1, 0))
    );
    assert_eq!(replies[2].as_ref().unwrap().code, 354);
    // Byte by byte gives the same.
    let mut parser = ReplyParser::new();
    let mut bytewise = Vec::new();
    for byte in input {
        parser.push(&[*byte]);
        bytewise.extend(std::iter::from_fn(|| parser.next_reply()));
    }
    assert_eq!(bytewise, replies);
    assert!(!parser.has_buffered());
    parser.push(b"250-a\r\n");
    assert_eq!(parser.next_reply(), None);
    assert!(parser.has_buffered());
    assert_eq!(parse_one("221\r\n").lines, vec![String::new()]);
}

#[test]
fn malformed_replies() {
    for input in [
        "\r\n",
        "25\r\n",
        "abc def\r\n",
        "250x\r\n",
        "150 x\r\n",
        "650 x\r\n",
        "2a0 x\r\n",
        "250_x\r\n",
    ] {
        assert_eq!(
            parse_all(input.as_bytes()),
            vec![Err(ReplyError::Malformed)],
            "{input:?}"
        );
    }
    let mixed = parse_all(b"250-a\r\n251 b\r\n220 ready\r\n");
    assert_eq!(mixed[0], Err(ReplyError::Malformed));
    assert_eq!(
        mixed[1].as_ref().unwrap().code,
        220,
        "parsing resumes after an error"
    );
    let parsed = parse_all(b"250 a\rb\0c \xff\r\n");
    assert_eq!(parsed[0].as_ref().unwrap().lines, vec!["a b c \u{fffd}"]);
}

#[test]
fn overlong_replies() {
    let long_line = format!("250 {}\r\n", "x".repeat(MAX_REPLY_LINE));
    assert_eq!(
        parse_all(long_line.as_bytes()),
        vec![Err(ReplyError::TooLong)]
    );
    let mut parser = ReplyParser::new();
    parser.push(&[b'5'; MAX_REPLY_LINE]);
    assert_eq!(parser.next_reply(), Some(Err(ReplyError::TooLong)));
    assert!(!parser.has_buffered());
    let fits = format!("250 {}\r\n", "x".repeat(MAX_REPLY_LINE - 6));
    assert_eq!(parse_one(&fits).lines[0].len(), MAX_REPLY_LINE - 6);

    let many = "250-".to_string() + &"y".repeat(1000) + "\r\n";
    let huge = many.repeat(MAX_REPLY / many.len() + 1) + "250 end\r\n";
    assert_eq!(
        parse_all(huge.as_bytes()).first(),
        Some(&Err(ReplyError::TooLong))
    );
    let within = many.repeat(MAX_REPLY / many.len() - 1) + "250 end\r\n";
    assert!(parse_all(within.as_bytes())[0].is_ok());
}
