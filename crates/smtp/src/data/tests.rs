//! Tests of the DATA scanner: end of data, unstuffing, every smuggling variant, limits, and equal results
//! for every split of the input.

use super::*;

/// What a scan produced: output, bytes consumed, done, verdict.
type Outcome = (Vec<u8>, usize, bool, Result<u64, DataError>);

/// Feeds `input` in the given piece sizes (cycled), stopping at the end of data like the daemon does.
fn scan_in_pieces(input: &[u8], max_size: u64, pieces: &[usize]) -> Outcome {
    let mut scanner = DataScanner::new(max_size);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut sizes = pieces.iter().cycle();
    while pos < input.len() && !scanner.is_done() {
        let end = (pos + sizes.next().copied().unwrap_or(1).max(1)).min(input.len());
        let progress = scanner.feed(&input[pos..end], &mut out);
        assert!(progress.consumed <= end - pos);
        assert!(
            progress.done || progress.consumed == end - pos,
            "stopped early without being done"
        );
        pos += progress.consumed;
    }
    (out, pos, scanner.is_done(), scanner.finish())
}

fn scan(input: &[u8]) -> Outcome {
    scan_in_pieces(input, u64::MAX, &[input.len()])
}

fn message(input: &[u8]) -> Vec<u8> {
    let (out, consumed, done, verdict) = scan(input);
    assert!(
        done,
        "no end of data in {:?}",
        String::from_utf8_lossy(input)
    );
    assert_eq!(consumed, input.len());
    assert_eq!(verdict, Ok(out.len() as u64));
    out
}

fn refused(input: &[u8]) -> DataError {
    let (_, consumed, done, verdict) = scan(input);
    assert!(
        done,
        "no end of data in {:?}",
        String::from_utf8_lossy(input)
    );
    assert_eq!(consumed, input.len());
    verdict.expect_err("accepted")
}

#[test]
fn plain_messages() {
    assert_eq!(
        message(b"Subject: hi\r\n\r\nbody\r\n.\r\n"),
        b"Subject: hi\r\n\r\nbody\r\n"
    );
    assert_eq!(message(b".\r\n"), b"");
    assert_eq!(message(b"\r\n.\r\n"), b"\r\n");
    assert_eq!(message(b"a.b\r\nc.\r\n.\r\n"), b"a.b\r\nc.\r\n");
}

#[test]
fn dot_unstuffing() {
    assert_eq!(message(b"..\r\n.\r\n"), b".\r\n");
    assert_eq!(message(b"...\r\n.\r\n"), b"..\r\n");
    assert_eq!(message(b"..foo\r\n.bar\r\n.\r\n"), b".foo\r\nbar\r\n");
    assert_eq!(message(b"x\r\n..\r\n.\r\n"), b"x\r\n.\r\n");
    assert_eq!(message(b". \r\n.\r\n"), b" \r\n");
}

#[test]
fn bytes_after_the_end_are_not_consumed() {
    let input = b"body\r\n.\r\nQUIT\r\n";
    let mut scanner = DataScanner::new(1000);
    let mut out = Vec::new();
    let progress = scanner.feed(input, &mut out);
    assert_eq!(
        progress,
        DataProgress {
            consumed: 9,
            done: true
        }
    );
    assert_eq!(out, b"body\r\n");
    assert_eq!(
        scanner.feed(b"more", &mut out),
        DataProgress {
            consumed: 0,
            done: true
        }
    );
    assert_eq!(scanner.finish(), Ok(6));
    assert_eq!(scanner.size(), 6);
    assert_eq!(scan(b".\r\n.\r\n"), (Vec::new(), 3, true, Ok(0)));
}

#[test]
fn unfinished_data_is_not_done() {
    for input in [
        &b""[..],
        b"abc",
        b"abc\r\n",
        b"abc\r\n.",
        b"abc\r\n.\r",
        b"\r\n..\r\n",
    ] {
        let (_, consumed, done, _) = scan(input);
        assert!(!done, "{input:?}");
        assert_eq!(consumed, input.len());
    }
}

/// Every way of faking the end of data with bare CR or LF (the SMTP smuggling family).
const SMUGGLING: &[&[u8]] = &[
    b"\n.\n",
    b"\n.\r\n",
    b"\r.\r",
    b"\r.\r\n",
    b"\r.\n",
    b"\r\n.\n",
    b"\r\n.\r",
    b"\r\n.\rX",
    b"\r\n.\r\r\n",
    b"\r\r\n.\n",
    b"\n\r\n.\n",
    b"\r\n\n.\r\n",
    b"\r\n\r.\r\n",
    b"\r\n.\n\r\n",
    b"\n.\r\r\n",
];

#[test]
fn smuggling_variants_are_not_the_end_and_are_refused() {
    for fake in SMUGGLING {
        let input = [
            b"Subject: a\r\n\r\nx".as_slice(),
            fake,
            b"MAIL FROM:<evil@x.test>\r\n.\r\n",
        ]
        .concat();
        let (_, consumed, done, verdict) = scan(&input);
        assert!(done, "{fake:?}");
        assert_eq!(consumed, input.len(), "{fake:?} ended data early");
        assert_eq!(verdict, Err(DataError::BareLineEnd), "{fake:?}");
        // The same right at the start of the data.
        let input = [&fake[..], b"x\r\n.\r\n"].concat();
        assert_eq!(refused(&input), DataError::BareLineEnd, "{fake:?} at start");
    }
    // A fake end at the very start without a preceding line end.
    assert_eq!(refused(b".\n.\r\nx\r\n.\r\n"), DataError::BareLineEnd);
    assert!(!scan(b".\n.\r\n").2);
    assert_eq!(refused(b".\rX\r\n.\r\n"), DataError::BareLineEnd);
    assert_eq!(refused(b"a\nb\r\n.\r\n"), DataError::BareLineEnd);
    assert_eq!(refused(b"a\rb\r\n.\r\n"), DataError::BareLineEnd);
    assert_eq!(refused(b"a\r\r\n.\r\n"), DataError::BareLineEnd);
}

#[test]
fn bare_cr_after_a_dot_keeps_the_cr_in_the_output() {
    let (out, _, done, verdict) = scan(b"\r\n.\rX\r\n.\r\n");
    assert!(done);
    assert_eq!(out, b"\r\n\rX\r\n");
    assert_eq!(verdict, Err(DataError::BareLineEnd));
}

#[test]
fn nul_is_refused() {
    assert_eq!(refused(b"a\0b\r\n.\r\n"), DataError::Nul);
    assert_eq!(refused(b"\0\r\n.\r\n"), DataError::Nul);
    assert_eq!(refused(b".\0\r\n.\r\n"), DataError::Nul);
}

#[test]
fn first_error_wins() {
    assert_eq!(refused(b"a\nb\0\r\n.\r\n"), DataError::BareLineEnd);
    assert_eq!(refused(b"a\0b\n\r\n.\r\n"), DataError::Nul);
    let long = [vec![b'x'; 1200], b"\r\n\0\r\n.\r\n".to_vec()].concat();
    assert_eq!(refused(&long), DataError::LineTooLong);
    let (_, _, _, verdict) = scan_in_pieces(&long, 100, &[long.len()]);
    assert_eq!(verdict, Err(DataError::TooBig));
    let (_, _, _, verdict) = scan_in_pieces(&long, 1100, &[long.len()]);
    assert_eq!(verdict, Err(DataError::LineTooLong));
}

#[test]
fn line_length_is_counted_on_the_wire_with_crlf() {
    let line = |len: usize, prefix: &[u8]| {
        let mut l = prefix.to_vec();
        l.resize(len - 2, b'y');
        l.extend_from_slice(b"\r\n.\r\n");
        l
    };
    assert_eq!(message(&line(MAX_TEXT_LINE, b"")).len(), MAX_TEXT_LINE);
    assert_eq!(
        refused(&line(MAX_TEXT_LINE + 1, b"")),
        DataError::LineTooLong
    );
    assert_eq!(
        message(&line(MAX_TEXT_LINE, b"..")).len(),
        MAX_TEXT_LINE - 1
    );
    assert_eq!(
        refused(&line(MAX_TEXT_LINE + 1, b"..")),
        DataError::LineTooLong
    );
    let two_lines = [line(MAX_TEXT_LINE, b"").as_slice(), b"z\r\n.\r\n"].concat();
    assert_eq!(
        scan(&two_lines).1,
        MAX_TEXT_LINE + 3,
        "the dot line ends the data"
    );
    let ok_then_long = [
        &line(MAX_TEXT_LINE, b"")[..MAX_TEXT_LINE],
        &line(MAX_TEXT_LINE + 1, b""),
    ]
    .concat();
    assert_eq!(refused(&ok_then_long), DataError::LineTooLong);
}

#[test]
fn size_limit_truncates_output_but_scans_to_the_end() {
    let input = b"0123456789\r\n0123456789\r\n.\r\nQUIT\r\n";
    let (out, consumed, done, verdict) = scan_in_pieces(input, 15, &[input.len()]);
    assert_eq!(out, b"0123456789\r\n012");
    assert_eq!((consumed, done), (input.len() - 6, true));
    assert_eq!(verdict, Err(DataError::TooBig));
    let (out, _, _, verdict) = scan_in_pieces(input, 24, &[input.len()]);
    assert_eq!((out.len(), verdict), (24, Ok(24)));
    let (out, _, _, verdict) = scan_in_pieces(input, 23, &[3]);
    assert_eq!((out.len(), verdict), (23, Err(DataError::TooBig)));
    let (out, _, _, verdict) = scan_in_pieces(b"x\r\n.\r\n", 0, &[1]);
    assert_eq!((out.len(), verdict), (0, Err(DataError::TooBig)));
    assert_eq!(scan_in_pieces(b".\r\n", 0, &[1]).3, Ok(0));
}

/// A plain reference: the end is the first `CRLF.CRLF` counting the DATA command's CRLF; the message is
/// what comes before the dot, with a leading dot removed from each CRLF-started line.
fn reference(input: &[u8]) -> Option<(usize, Vec<u8>, bool)> {
    let framed = [b"\r\n".as_slice(), input].concat();
    let end = framed.windows(5).position(|w| w == b"\r\n.\r\n")?;
    let body = &framed[2..end + 2];
    let mut out = Vec::new();
    for (index, line) in body.split_inclusive(|&b| b == b'\n').enumerate() {
        let at_line_start = index == 0 || out.ends_with(b"\r\n");
        let line = if at_line_start {
            line.strip_prefix(b".").unwrap_or(line)
        } else {
            line
        };
        out.extend_from_slice(line);
    }
    let bare = body.iter().enumerate().any(|(i, &b)| match b {
        b'\n' => i == 0 || body[i - 1] != b'\r',
        b'\r' => body.get(i + 1) != Some(&b'\n'),
        _ => false,
    });
    Some((end + 3, out, bare || body.contains(&0)))
}

fn test_inputs() -> Vec<Vec<u8>> {
    let mut inputs: Vec<Vec<u8>> = SMUGGLING
        .iter()
        .map(|fake| [b"a".as_slice(), fake, b"b\r\n.\r\nRSET\r\n"].concat())
        .collect();
    for fixed in [
        &b".\r\n"[..],
        b"..\r\n.\r\n",
        b"a\r\n..b\r\n...\r\n.\r\nX",
        b"\r\n\r\n.\r\n",
        b".\rX\r\n.\r\n",
    ] {
        inputs.push(fixed.to_vec());
    }
    inputs.push(
        [
            vec![b'x'; 998],
            b"\r\n..".to_vec(),
            vec![b'y'; 997],
            b"\r\n.\r\n".to_vec(),
        ]
        .concat(),
    );
    inputs.push([vec![b'x'; 999], b"\r\n.\r\n".to_vec()].concat());
    inputs.push([b"ab\r\n".to_vec(), vec![b'x'; 1010], b"\r\n.\r\n".to_vec()].concat());
    inputs.push([b"ab\r\n..".to_vec(), vec![b'x'; 997], b"\r\n.\r\n".to_vec()].concat());
    // Pseudo-random messages over the bytes that matter.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..400 {
        let len = 1 + (xorshift(&mut seed) % 40) as usize;
        let mut input: Vec<u8> = (0..len)
            .map(|_| b"\r\r\r\n\n\n...ab\0"[(xorshift(&mut seed) % 12) as usize])
            .collect();
        input.extend_from_slice(b"\r\n.\r\nNEXT");
        inputs.push(input);
    }
    inputs
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn matches_the_reference() {
    for input in test_inputs() {
        let (out, consumed, done, verdict) = scan(&input);
        let (end, expected, has_bad_bytes) = reference(&input).expect("every test input ends");
        assert!(done);
        assert_eq!(
            (consumed, &out),
            (end, &expected),
            "{:?}",
            String::from_utf8_lossy(&input)
        );
        if has_bad_bytes {
            assert!(
                matches!(verdict, Err(DataError::BareLineEnd | DataError::Nul)),
                "{input:?}"
            );
        }
    }
}

#[test]
fn every_split_gives_the_same_result() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for input in test_inputs() {
        for max_size in [u64::MAX, 0, 3, 10, 1002, 1003, 1004] {
            let whole = scan_in_pieces(&input, max_size, &[input.len()]);
            assert_eq!(
                scan_in_pieces(&input, max_size, &[1]),
                whole,
                "bytewise {input:?}"
            );
            for split in 1..input.len() {
                let rest = input.len() - split;
                assert_eq!(
                    scan_in_pieces(&input, max_size, &[split, rest]),
                    whole,
                    "split {split}"
                );
            }
            let pieces: Vec<usize> = (0..16)
                .map(|_| 1 + (xorshift(&mut seed) % 7) as usize)
                .collect();
            assert_eq!(
                scan_in_pieces(&input, max_size, &pieces),
                whole,
                "pieces {pieces:?}"
            );
        }
    }
}

#[test]
fn large_message_in_one_feed() {
    let mut input = Vec::new();
    for i in 0..20_000 {
        input.extend_from_slice(if i % 10 == 0 {
            b"..stuffed line\r\n"
        } else {
            b"an ordinary line of text\r\n"
        });
    }
    input.extend_from_slice(b".\r\n");
    let out = message(&input);
    assert_eq!(out.len(), input.len() - 3 - 2000);
    assert_eq!(scan_in_pieces(&input, u64::MAX, &[4096, 1, 17]).0, out);
}
