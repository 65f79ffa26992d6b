//! A small incremental reply reader for the client. Private stand-in while
//! `backupmx_smtp::ReplyParser` is being written; to be replaced by it (same shape: push bytes,
//! take complete replies).

use backupmx_smtp::{EnhancedCode, Reply};

/// A reply longer than this (all lines) is refused: a server cannot make us buffer without bound.
const MAX_REPLY: usize = 64 * 1024;

#[derive(Debug, Default)]
pub(crate) struct ReplyReader {
    buf: Vec<u8>,
}

impl ReplyReader {
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete reply, `None` when more bytes are needed.
    pub(crate) fn next_reply(&mut self) -> Option<Result<Reply, String>> {
        let mut start = 0;
        let mut code = None;
        let mut lines = Vec::new();
        while let Some(len) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let raw = &self.buf[start..start + len];
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            start += len + 1;
            let (line_code, last, text) = match parse_line(raw) {
                Ok(parts) => parts,
                Err(e) => return Some(Err(e)),
            };
            if code.is_some_and(|c| c != line_code) {
                return Some(Err("reply lines with different codes".into()));
            }
            code = Some(line_code);
            lines.push(text);
            if last {
                self.buf.drain(..start);
                return Some(Ok(build(line_code, lines)));
            }
        }
        if self.buf.len() > MAX_REPLY {
            return Some(Err("reply too long".into()));
        }
        None
    }
}

fn parse_line(raw: &[u8]) -> Result<(u16, bool, String), String> {
    let text = String::from_utf8_lossy(raw);
    let digits = text
        .get(..3)
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()));
    let code: u16 = digits
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| format!("malformed reply line: {text:?}"))?;
    match text.as_bytes().get(3) {
        None => Ok((code, true, String::new())),
        Some(b' ') => Ok((code, true, text[4..].to_owned())),
        Some(b'-') => Ok((code, false, text[4..].to_owned())),
        Some(_) => Err(format!("malformed reply line: {text:?}")),
    }
}

/// Takes the enhanced code off every line when the first line starts with one of the code's class.
fn build(code: u16, mut lines: Vec<String>) -> Reply {
    let enhanced = lines
        .first()
        .and_then(|l| parse_enhanced(l))
        .filter(|(e, _)| u16::from(e.0) == code / 100);
    if let Some((first, _)) = enhanced {
        let prefix = first.to_string();
        for line in &mut lines {
            if let Some(rest) = line.strip_prefix(&prefix) {
                *line = rest.trim_start().to_owned();
            }
        }
    }
    Reply {
        code,
        enhanced: enhanced.map(|(e, _)| e),
        lines,
    }
}

fn parse_enhanced(text: &str) -> Option<(EnhancedCode, usize)> {
    let word = text.split(' ').next()?;
    let mut parts = word.split('.');
    let class: u8 = parts.next()?.parse().ok()?;
    let subject: u16 = parts.next()?.parse().ok()?;
    let detail: u16 = parts.next()?.parse().ok()?;
    (parts.next().is_none() && matches!(class, 2 | 4 | 5))
        .then_some((EnhancedCode(class, subject, detail), word.len()))
}

/// `451 4.4.1 text text` for logs and attempts.
pub fn one_line(reply: &Reply) -> String {
    let mut out = reply.code.to_string();
    if let Some(e) = reply.enhanced {
        out.push_str(&format!(" {e}"));
    }
    let text = reply.lines.join(" ");
    if !text.is_empty() {
        out.push(' ');
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Vec<Result<Reply, String>> {
        let mut reader = ReplyReader::default();
        reader.push(bytes);
        std::iter::from_fn(|| reader.next_reply()).collect()
    }

    #[test]
    fn single_and_multi_line_replies() {
        let replies = read(b"220 hi there\r\n250-mx.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
        assert_eq!(
            replies[0],
            Ok(Reply {
                code: 220,
                enhanced: None,
                lines: vec!["hi there".into()]
            })
        );
        let ehlo = replies[1].clone().unwrap();
        assert_eq!(ehlo.lines, ["mx.test", "PIPELINING", "SIZE 10"]);
    }

    #[test]
    fn enhanced_codes_are_split_off() {
        let r = read(b"550-5.1.1 no such\r\n550 5.1.1 user\r\n")
            .remove(0)
            .unwrap();
        assert_eq!(
            (r.enhanced, r.lines.clone()),
            (
                Some(EnhancedCode(5, 1, 1)),
                vec!["no such".into(), "user".into()]
            )
        );
        assert_eq!(one_line(&r), "550 5.1.1 no such user");
        let wrong_class = read(b"250 5.1.1 odd\r\n").remove(0).unwrap();
        assert_eq!(wrong_class.enhanced, None);
    }

    #[test]
    fn partial_input_waits_and_garbage_is_an_error() {
        let mut reader = ReplyReader::default();
        reader.push(b"250-a\r\n250 b");
        assert!(reader.next_reply().is_none());
        reader.push(b"\r\n");
        assert!(reader.next_reply().unwrap().is_ok());
        assert!(read(b"hello\r\n")[0].is_err());
        assert!(read(b"250-a\r\n251 b\r\n")[0].is_err());
        assert_eq!(read(b"354\r\n")[0].as_ref().unwrap().code, 354);
    }
}
