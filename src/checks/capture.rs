//! The message as the checks see it, pure (issue 15): a streaming filter that drops from the header
//! section every Authentication-Results field carrying our authserv-id (RFC 8601 §5: a forgery, or
//! a result nobody may trust), and a copy of the filtered message kept in memory up to a bound, for
//! DKIM, DMARC and the ARC seal. Bytes after the header section pass through untouched.

/// A header field longer than this is judged on its first bytes (the name and the authserv-id come
/// first), so one huge field cannot make the filter hold unbounded memory.
const FIELD_HOLD_LIMIT: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// Inside the header section; the current field is being held in `field`.
    Holding,
    /// A field too long to hold: emitting it as it comes.
    Passing,
    /// A field too long to hold, judged forged: dropping it as it comes.
    Dropping,
    /// After the empty line: everything passes.
    Body,
}

/// Streaming filter + bounded copy. Feed the message in any chunking, then [`Capture::finish`].
#[derive(Debug)]
pub struct Capture {
    /// Lower-case authserv-id (our hostname).
    authserv_id: String,
    state: Held,
    at_line_start: bool,
    field: Vec<u8>,
    /// The filtered message so far, while it fits `limit`.
    copy: Option<Vec<u8>>,
    limit: usize,
    removed: usize,
}

impl Capture {
    /// `limit`: the most bytes kept in memory (0: none, only the filter works).
    pub fn new(authserv_id: &str, limit: u64) -> Capture {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Capture {
            authserv_id: authserv_id.to_ascii_lowercase(),
            state: Held::Holding,
            at_line_start: true,
            field: Vec::new(),
            copy: (limit > 0).then(Vec::new),
            limit,
            removed: 0,
        }
    }

    /// Filters `input`, appending what is to be stored to `out` (and to the copy).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        if self.state == Held::Body {
            out.extend_from_slice(input);
        } else {
            for (i, &byte) in input.iter().enumerate() {
                if self.state == Held::Body {
                    out.extend_from_slice(&input[i..]);
                    break;
                }
                self.header_byte(byte, out);
            }
        }
        self.keep(start, out);
    }

    /// Ends the message: a field still held (no body) is judged and emitted.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let start = out.len();
        self.end_field(out);
        self.state = Held::Body;
        self.keep(start, out);
    }

    /// The filtered message, if it stayed within the bound.
    pub fn message(&self) -> Option<&[u8]> {
        self.copy.as_deref()
    }

    /// How many Authentication-Results fields with our authserv-id were dropped.
    pub fn removed(&self) -> usize {
        self.removed
    }

    fn keep(&mut self, start: usize, out: &[u8]) {
        let Some(copy) = &mut self.copy else {
            return;
        };
        let added = &out[start..];
        if copy.len() + added.len() > self.limit {
            self.copy = None;
        } else {
            copy.extend_from_slice(added);
        }
    }

    fn header_byte(&mut self, byte: u8, out: &mut Vec<u8>) {
        let continuation = self.at_line_start && (byte == b' ' || byte == b'\t');
        if self.at_line_start && !continuation {
            self.end_field(out);
            if byte == b'\r' || byte == b'\n' {
                // The empty line: the header section is over.
                self.state = Held::Body;
                out.push(byte);
                return;
            }
            self.state = Held::Holding;
        }
        self.at_line_start = byte == b'\n';
        match self.state {
            Held::Holding => {
                self.field.push(byte);
                if self.field.len() > FIELD_HOLD_LIMIT {
                    if self.is_ours() {
                        self.removed += 1;
                        self.state = Held::Dropping;
                    } else {
                        out.append(&mut self.field);
                        self.state = Held::Passing;
                    }
                    self.field.clear();
                }
            }
            Held::Passing => out.push(byte),
            Held::Dropping | Held::Body => {}
        }
    }

    /// The held field is complete: emit it, or drop it when it is ours.
    fn end_field(&mut self, out: &mut Vec<u8>) {
        if self.state == Held::Holding && !self.field.is_empty() {
            if self.is_ours() {
                self.removed += 1;
            } else {
                out.extend_from_slice(&self.field);
            }
        }
        self.field.clear();
    }

    fn is_ours(&self) -> bool {
        carries_authserv_id(&self.field, &self.authserv_id)
    }
}

/// True when `field` (a whole header field, or its beginning) is an Authentication-Results field
/// whose authserv-id is `authserv_id` (lower-case).
pub fn carries_authserv_id(field: &[u8], authserv_id: &str) -> bool {
    const NAME: &[u8] = b"authentication-results";
    let Some(colon) = field.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = field[..colon].trim_ascii();
    if !name.eq_ignore_ascii_case(NAME) {
        return false;
    }
    let value = skip_cfws(&field[colon + 1..]);
    let end = value
        .iter()
        .position(|&b| b == b';' || b == b'(' || b.is_ascii_whitespace())
        .unwrap_or(value.len());
    let id = &value[..end];
    // A quoted authserv-id ("mx.example") is allowed by the grammar (a value).
    let id = id
        .strip_prefix(b"\"")
        .and_then(|i| i.strip_suffix(b"\""))
        .unwrap_or(id);
    id.eq_ignore_ascii_case(authserv_id.as_bytes())
}

/// Skips folding white space and (possibly nested) comments.
fn skip_cfws(mut value: &[u8]) -> &[u8] {
    loop {
        value = value.trim_ascii_start();
        if value.first() != Some(&b'(') {
            return value;
        }
        let mut depth = 0usize;
        let mut end = value.len();
        for (i, &b) in value.iter().enumerate() {
            match b {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        value = &value[end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "mx2.example.net";

    fn filter_in_pieces(message: &[u8], piece: usize, limit: u64) -> (Vec<u8>, Capture) {
        let mut capture = Capture::new(OURS, limit);
        let mut out = Vec::new();
        for chunk in message.chunks(piece.max(1)) {
            capture.feed(chunk, &mut out);
        }
        capture.finish(&mut out);
        (out, capture)
    }

    const FORGED: &[u8] = b"Received: from a by b\r\n\
        Authentication-Results: MX2.example.net;\r\n\tspf=pass smtp.mailfrom=bank.test\r\n\
        Authentication-Results: other.example; dkim=fail\r\n\
        Authentication-Results: (comment) mx2.example.net; dmarc=pass\r\n\
        From: a@bank.test\r\n\
        \r\n\
        Authentication-Results: mx2.example.net; spf=pass\r\n\
        body\r\n";

    const CLEAN: &[u8] = b"Received: from a by b\r\n\
        Authentication-Results: other.example; dkim=fail\r\n\
        From: a@bank.test\r\n\
        \r\n\
        Authentication-Results: mx2.example.net; spf=pass\r\n\
        body\r\n";

    #[test]
    fn our_results_are_removed_from_the_header_only_in_any_chunking() {
        for piece in 1..=FORGED.len() {
            let (out, capture) = filter_in_pieces(FORGED, piece, 1 << 20);
            assert_eq!(out, CLEAN, "pieces of {piece}");
            assert_eq!(capture.removed(), 2);
            assert_eq!(capture.message(), Some(CLEAN));
        }
    }

    #[test]
    fn a_message_without_ours_passes_byte_for_byte() {
        let (out, capture) = filter_in_pieces(CLEAN, 7, 1 << 20);
        assert_eq!(out, CLEAN);
        assert_eq!(capture.removed(), 0);
    }

    #[test]
    fn the_copy_is_dropped_past_the_bound_but_filtering_goes_on() {
        let (out, capture) = filter_in_pieces(FORGED, 5, 40);
        assert_eq!(out, CLEAN);
        assert_eq!(capture.message(), None);
        let (_, none) = filter_in_pieces(FORGED, 5, 0);
        assert_eq!(none.message(), None);
    }

    #[test]
    fn a_huge_forged_field_is_dropped_without_being_held() {
        let mut message = b"Authentication-Results: mx2.example.net; spf=pass".to_vec();
        for _ in 0..2000 {
            message.extend_from_slice(b"\r\n\treason=\"padding padding\"");
        }
        message.extend_from_slice(b"\r\nSubject: hi\r\n\r\nbody\r\n");
        let (out, capture) = filter_in_pieces(&message, 1000, 0);
        assert_eq!(out, b"Subject: hi\r\n\r\nbody\r\n");
        assert_eq!(capture.removed(), 1);
        let mut long_other = b"X-Long: a".to_vec();
        long_other.extend(std::iter::repeat_n(b'a', 20_000));
        long_other.extend_from_slice(b"\r\n\r\nbody\r\n");
        let (out, _) = filter_in_pieces(&long_other, 999, 0);
        assert_eq!(out, long_other);
    }

    #[test]
    fn authserv_ids_are_compared_whole() {
        let ours = |f: &str| carries_authserv_id(f.as_bytes(), OURS);
        assert!(ours("Authentication-Results: mx2.example.net; none"));
        assert!(ours("authentication-results:mx2.example.net;spf=pass"));
        assert!(ours("Authentication-Results: \"mx2.example.net\"; none"));
        assert!(ours("Authentication-Results: mx2.example.net 1; none"));
        assert!(!ours("Authentication-Results: mx2.example.net.evil; none"));
        assert!(!ours("Authentication-Results: x-mx2.example.net; none"));
        assert!(!ours(
            "ARC-Authentication-Results: i=1; mx2.example.net; none"
        ));
        assert!(!ours("Subject: Authentication-Results: mx2.example.net;"));
    }
}
