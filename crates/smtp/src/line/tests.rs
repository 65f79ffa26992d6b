//! Tests of line framing: CRLF only, bare line ends, NUL, overlong lines, pipelined rest.

use super::*;

fn lines_of(framer: &mut LineFramer) -> Vec<Result<Vec<u8>, LineError>> {
    std::iter::from_fn(|| framer.next_line()).collect()
}

fn frame(input: &[u8]) -> Vec<Result<Vec<u8>, LineError>> {
    let mut framer = LineFramer::new();
    framer.push(input);
    lines_of(&mut framer)
}

/// Frames `input` pushed in pieces of `chunk` bytes, taking lines after each push.
fn frame_chunked(input: &[u8], chunk: usize) -> (Vec<Result<Vec<u8>, LineError>>, Vec<u8>) {
    let mut framer = LineFramer::new();
    let mut lines = Vec::new();
    for piece in input.chunks(chunk) {
        framer.push(piece);
        lines.extend(lines_of(&mut framer));
        assert!(framer.buf.len() <= MAX_COMMAND_LINE + chunk);
    }
    (lines, framer.take_rest())
}

#[test]
fn splits_crlf_lines() {
    assert_eq!(
        frame(b"EHLO a\r\nMAIL FROM:<>\r\n\r\n"),
        vec![
            Ok(b"EHLO a".to_vec()),
            Ok(b"MAIL FROM:<>".to_vec()),
            Ok(Vec::new())
        ]
    );
    let mut framer = LineFramer::new();
    framer.push(b"NOOP\r");
    assert_eq!(framer.next_line(), None);
    framer.push(b"\nQU");
    assert_eq!(framer.next_line(), Some(Ok(b"NOOP".to_vec())));
    assert_eq!(framer.next_line(), None);
    assert!(framer.has_buffered());
    framer.push(b"IT\r\n");
    assert_eq!(framer.next_line(), Some(Ok(b"QUIT".to_vec())));
    assert!(!framer.has_buffered());
}

#[test]
fn bare_line_ends_and_nul_are_errors() {
    assert_eq!(
        frame(b"NOOP\nQUIT\r\n"),
        vec![Err(LineError::BareLineEnd), Ok(b"QUIT".to_vec())]
    );
    assert_eq!(frame(b"\n"), vec![Err(LineError::BareLineEnd)]);
    assert_eq!(frame(b"NO\rOP\r\n"), vec![Err(LineError::BareLineEnd)]);
    assert_eq!(frame(b"NOOP\r\r\n"), vec![Err(LineError::BareLineEnd)]);
    assert_eq!(
        frame(b"NO\0OP\r\nRSET\r\n"),
        vec![Err(LineError::Nul), Ok(b"RSET".to_vec())]
    );
    // A CR alone is not a line end: it waits for its LF.
    assert_eq!(frame(b"NOOP\rRSET"), vec![]);
}

#[test]
fn longest_line_is_accepted_and_one_more_is_not() {
    let mut line = vec![b'x'; MAX_COMMAND_LINE - 2];
    line.extend_from_slice(b"\r\n");
    for chunk in [1, 7, 1000, 5000] {
        let (lines, rest) = frame_chunked(&[line.as_slice(), b"NOOP\r\n"].concat(), chunk);
        assert_eq!(
            lines,
            vec![Ok(vec![b'x'; MAX_COMMAND_LINE - 2]), Ok(b"NOOP".to_vec())]
        );
        assert!(rest.is_empty());
    }
    let long = [&[b'y'][..], &line, b"NOOP\r\n"].concat();
    for chunk in [1, 7, 1000, 5000] {
        let (lines, _) = frame_chunked(&long, chunk);
        assert_eq!(
            lines,
            vec![Err(LineError::TooLong), Ok(b"NOOP".to_vec())],
            "chunk {chunk}"
        );
    }
}

#[test]
fn overlong_line_is_discarded_as_it_arrives() {
    let mut framer = LineFramer::new();
    for _ in 0..1000 {
        framer.push(&[b'z'; 4096]);
        assert_eq!(framer.next_line(), None);
        assert!(framer.buf.len() <= MAX_COMMAND_LINE);
    }
    framer.push(b"zz\r\nRSET\r\nDA");
    assert_eq!(framer.next_line(), Some(Err(LineError::TooLong)));
    assert_eq!(framer.next_line(), Some(Ok(b"RSET".to_vec())));
    assert_eq!(framer.next_line(), None);
    assert_eq!(framer.take_rest(), b"DA");
}

#[test]
fn overlong_tail_behind_complete_lines_is_cut() {
    let input = [b"NOOP\r\n".as_slice(), &[b'q'; 3000], b"\r\nQUIT\r\n"].concat();
    let mut framer = LineFramer::new();
    framer.push(&input[..2000]);
    assert_eq!(framer.next_line(), Some(Ok(b"NOOP".to_vec())));
    assert_eq!(framer.next_line(), None);
    assert!(framer.buf.is_empty());
    framer.push(&input[2000..]);
    assert_eq!(
        lines_of(&mut framer),
        vec![Err(LineError::TooLong), Ok(b"QUIT".to_vec())]
    );
}

#[test]
fn take_rest_returns_pipelined_data_intact() {
    let body = [b"Subject: x\r\n".as_slice(), &[b'L'; 5000], b"\n\r.\r\n"].concat();
    let input = [b"BDAT 5016 LAST\r\n".as_slice(), &body].concat();
    let mut framer = LineFramer::new();
    framer.push(&input);
    assert_eq!(framer.next_line(), Some(Ok(b"BDAT 5016 LAST".to_vec())));
    assert_eq!(framer.take_rest(), body);
    assert!(!framer.has_buffered());
    assert_eq!(framer.next_line(), None);
}

#[test]
fn any_split_gives_the_same_lines() {
    let input = [
        b"EHLO a\r\nNO\nOP\r\n".as_slice(),
        &[b'w'; 1500],
        b"\r\nX\0\r\n\r\nRSET\r\n",
        &[b'v'; 1022],
        b"\r\nQUIT\r\nrest",
    ]
    .concat();
    let (expected, expected_rest) = frame_chunked(&input, input.len());
    assert_eq!(expected.len(), 9);
    for chunk in 1..=64 {
        assert_eq!(
            frame_chunked(&input, chunk),
            (expected.clone(), expected_rest.clone()),
            "{chunk}"
        );
    }
}
