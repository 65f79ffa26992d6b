//! Command-line framing: splits the client's byte stream into CRLF-terminated lines with a hard length
//! limit, refusing bare LF/CR line ends and NUL bytes.

/// Longest accepted command line including CRLF: RFC 5321's 512 plus what advertised extensions add
/// (DSN's ORCPT/NOTIFY +500 on RCPT, ENVID/RET +100 on MAIL, SIZE, BODY, SMTPUTF8).
pub const MAX_COMMAND_LINE: usize = 1024;
/// Longest text line in DATA including CRLF (RFC 5321 §4.5.3.1.6).
pub const MAX_TEXT_LINE: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line exceeded [`MAX_COMMAND_LINE`]; its bytes up to the next LF were discarded. 500 5.5.2
    #[error("line too long")]
    TooLong,
    /// A line ended in a bare LF (or contained a bare CR). 500 5.5.2
    #[error("bare LF or CR in command line")]
    BareLineEnd,
    /// A NUL byte in a command line. 500 5.5.2
    #[error("NUL byte in command line")]
    Nul,
}

/// Incremental line splitter: `push` bytes as they arrive, then take complete lines.
#[derive(Debug, Default)]
pub struct LineFramer {
    buf: Vec<u8>,
}

impl LineFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes. Memory stays bounded: an overlong line is discarded as it arrives.
    pub fn push(&mut self, data: &[u8]) {
        let _ = data;
        todo!()
    }

    /// The next complete line without its CRLF, or an error for a bad line (which is consumed), or None
    /// when more input is needed.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, LineError>> {
        let _ = &self.buf;
        todo!()
    }

    /// Takes the bytes received after the last complete line (e.g. message data pipelined behind DATA
    /// or BDAT), leaving the framer empty.
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// True when buffered bytes wait (a pipelining client sent more than one command).
    pub fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }
}
