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

    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// Appends the wire form (`250-...` continuation lines, `250 ...` last, CRLF ends; the enhanced code
    /// repeated on every line).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let _ = out;
        todo!()
    }

    /// One-line form for logs and the queue's "last error": `451 4.4.1 text text`.
    pub fn to_one_line(&self) -> String {
        todo!()
    }
}

/// Incremental reply parser for the SMTP client: feed received bytes, take complete replies.
#[derive(Debug, Default)]
pub struct ReplyParser {
    buf: Vec<u8>,
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
    /// The next complete reply; parses the enhanced code when the text starts with one.
    pub fn next_reply(&mut self) -> Option<Result<Reply, ReplyError>> {
        todo!()
    }
}
