//! SMTP replies: building them (server side) and parsing them incrementally (client side).

/// RFC 3463 enhanced status code `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedCode(pub u8, pub u16, pub u16);

impl std::fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// A complete (possibly multi-line) reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: Option<EnhancedCode>,
    /// Text lines, without code and enhanced code.
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, enhanced: EnhancedCode, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: Some(enhanced),
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply (e.g. the EHLO keywords); the enhanced code goes on every line.
    pub fn multi(code: u16, enhanced: EnhancedCode, lines: Vec<String>) -> Reply {
        Reply {
            code,
            enhanced: Some(enhanced),
            lines,
        }
    }

    /// A reply without an enhanced code (the greeting, the EHLO reply, 354).
    pub fn plain(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: None,
            lines: vec![text.into()],
        }
    }

    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// The text lines joined by spaces, control characters blanked.
    pub fn text(&self) -> String {
        sanitize(&self.lines.join(" "))
    }

    /// Appends the wire form (`250-...` continuation lines, `250 ...` last, CRLF ends; the enhanced code
    /// repeated on every line).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let no_text = [String::new()];
        let lines = if self.lines.is_empty() {
            &no_text[..]
        } else {
            &self.lines[..]
        };
        let last = lines.len() - 1;
        for (index, text) in lines.iter().enumerate() {
            let separator = if index == last { ' ' } else { '-' };
            let mut line = format!("{:03}{separator}", self.code);
            if let Some(enhanced) = self.enhanced {
                line.push_str(&enhanced.to_string());
                if !text.is_empty() {
                    line.push(' ');
                }
            }
            // Texts may quote what a peer sent: a CR or LF in them must not end the line.
            line.push_str(&sanitize(text));
            line.push_str("\r\n");
            out.extend_from_slice(line.as_bytes());
        }
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    /// One-line form for logs and the queue's "last error": `451 4.4.1 text text`.
    pub fn to_one_line(&self) -> String {
        let mut line = format!("{:03}", self.code);
        if let Some(enhanced) = self.enhanced {
            line.push_str(&format!(" {enhanced}"));
        }
        let text = self.text();
        if !text.is_empty() {
            line.push(' ');
            line.push_str(&text);
        }
        line
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_one_line())
    }
}

/// Replaces control characters (CR, LF, NUL, ...) by spaces.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Longest reply line accepted from a server, CRLF included (RFC 5321 says 512; servers exceed it).
pub const MAX_REPLY_LINE: usize = 4096;
/// Longest complete (multi-line) reply accepted from a server.
pub const MAX_REPLY: usize = 64 * 1024;

/// Incremental reply parser for the SMTP client: feed received bytes, take complete replies.
#[derive(Debug, Default)]
pub struct ReplyParser {
    buf: Vec<u8>,
    /// The lines of a multi-line reply received so far.
    pending: Option<PendingReply>,
}

#[derive(Debug)]
struct PendingReply {
    code: u16,
    lines: Vec<String>,
    /// Wire octets of the reply so far.
    size: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("malformed reply line")]
    Malformed,
    #[error("reply too long")]
    TooLong,
}

impl ReplyParser {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete reply; parses the enhanced code when the text starts with one. After an error
    /// the parser starts afresh with the following line; the connection is not worth keeping though.
    pub fn next_reply(&mut self) -> Option<Result<Reply, ReplyError>> {
        loop {
            let Some(lf) = memchr::memchr(b'\n', &self.buf) else {
                if self.buf.len() >= MAX_REPLY_LINE {
                    return Some(Err(self.fail_too_long()));
                }
                return None;
            };
            if lf >= MAX_REPLY_LINE {
                return Some(Err(self.fail_too_long()));
            }
            let line: Vec<u8> = self.buf.drain(..=lf).collect();
            match self.take_line(&line) {
                Ok(Some(reply)) => return Some(Ok(reply)),
                Ok(None) => continue,
                Err(error) => {
                    self.pending = None;
                    return Some(Err(error));
                }
            }
        }
    }

    /// True when received bytes wait that are not yet a complete reply.
    pub fn has_buffered(&self) -> bool {
        !self.buf.is_empty() || self.pending.is_some()
    }

    fn fail_too_long(&mut self) -> ReplyError {
        self.buf.clear();
        self.pending = None;
        ReplyError::TooLong
    }

    /// Adds one line ending in LF; the reply when it was the last line.
    fn take_line(&mut self, raw: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let (code, last, text) = split_reply_line(line)?;
        let pending = self.pending.get_or_insert(PendingReply {
            code,
            lines: Vec::new(),
            size: 0,
        });
        if pending.code != code {
            return Err(ReplyError::Malformed);
        }
        pending.size += raw.len();
        if pending.size > MAX_REPLY {
            self.pending = None;
            return Err(ReplyError::TooLong);
        }
        pending.lines.push(text);
        if !last {
            return Ok(None);
        }
        Ok(self
            .pending
            .take()
            .map(|pending| build_reply(pending.code, pending.lines)))
    }
}

/// `250-text` / `250 text` / `250` → (code, is last line, text with control characters blanked).
fn split_reply_line(line: &[u8]) -> Result<(u16, bool, String), ReplyError> {
    let digits = line.get(..3).ok_or(ReplyError::Malformed)?;
    let valid_code = matches!(digits[0], b'2'..=b'5') && digits.iter().all(u8::is_ascii_digit);
    if !valid_code {
        return Err(ReplyError::Malformed);
    }
    let code = digits
        .iter()
        .fold(0u16, |code, d| code * 10 + u16::from(d - b'0'));
    let last = match line.get(3) {
        None | Some(b' ') => true,
        Some(b'-') => false,
        Some(_) => return Err(ReplyError::Malformed),
    };
    let text = line.get(4..).unwrap_or_default();
    Ok((code, last, sanitize(&String::from_utf8_lossy(text))))
}

/// Takes the enhanced code from the first line and strips it from every line that repeats it.
fn build_reply(code: u16, lines: Vec<String>) -> Reply {
    let enhanced = lines
        .first()
        .and_then(|first| split_enhanced(first, code))
        .map(|(e, _)| e);
    let lines = match enhanced {
        None => lines,
        Some(enhanced) => lines
            .into_iter()
            .map(|line| match split_enhanced(&line, code) {
                Some((e, rest)) if e == enhanced => rest.to_owned(),
                _ => line,
            })
            .collect(),
    };
    Reply {
        code,
        enhanced,
        lines,
    }
}

/// `d.ddd.ddd text` at the start of `text`, the class matching the reply code's first digit.
fn split_enhanced(text: &str, code: u16) -> Option<(EnhancedCode, &str)> {
    let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
    let mut parts = word.split('.');
    let class = number(parts.next()?, 1)?;
    let subject = number(parts.next()?, 3)?;
    let detail = number(parts.next()?, 3)?;
    if parts.next().is_some() || !matches!(class, 2 | 4 | 5) || class != code / 100 {
        return None;
    }
    Some((
        EnhancedCode(u8::try_from(class).ok()?, subject, detail),
        rest,
    ))
}

/// A decimal of 1 to `max_digits` digits.
fn number(text: &str, max_digits: usize) -> Option<u16> {
    let valid = (1..=max_digits).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    if valid { text.parse().ok() } else { None }
}

#[cfg(test)]
mod tests;
