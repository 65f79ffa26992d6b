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
///
/// Memory stays bounded by what one `push` brings plus [`MAX_COMMAND_LINE`], provided the caller takes
/// the available lines (`next_line` until None) after each push: an unterminated line is cut off as soon
/// as it is known to be too long, and the rest of it is dropped as it arrives.
#[derive(Debug, Default)]
pub struct LineFramer {
    /// Raw received bytes; those before `start` were already returned as lines. While `discarding`,
    /// the pending part is either empty (still inside the overlong line) or starts with the LF that
    /// ended it.
    buf: Vec<u8>,
    /// Where the pending bytes begin in `buf`: lines are taken by moving it, and the buffer is
    /// compacted once per push instead of once per line.
    start: usize,
    /// Inside an overlong line whose bytes are dropped until its LF.
    discarding: bool,
}

impl LineFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes. Memory stays bounded: an overlong line is discarded as it arrives.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.drain(..self.start);
        self.start = 0;
        if self.discarding && self.buf.is_empty() {
            // Keep the LF ending the overlong line as the marker `next_line` reports it on.
            if let Some(lf) = find_lf(data) {
                self.buf.extend_from_slice(&data[lf..]);
            }
            return;
        }
        // Only an unterminated first line can be cut here: bytes after a complete line may be
        // message data pipelined behind DATA/BDAT, which `take_rest` must return intact.
        if !self.discarding && find_lf(&self.buf).is_none() {
            let line_end = find_lf(data).unwrap_or(data.len());
            if self.buf.len() + line_end >= MAX_COMMAND_LINE {
                self.buf.clear();
                self.discarding = true;
                self.buf.extend_from_slice(&data[line_end..]);
                return;
            }
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete line without its CRLF, or an error for a bad line (which is consumed), or None
    /// when more input is needed.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, LineError>> {
        let pending = &self.buf[self.start..];
        if self.discarding {
            if pending.is_empty() {
                return None;
            }
            self.start += 1;
            self.discarding = false;
            return Some(Err(LineError::TooLong));
        }
        let Some(lf) = find_lf(pending) else {
            if pending.len() >= MAX_COMMAND_LINE {
                // An overlong tail that arrived in the same push as earlier complete lines.
                self.buf.clear();
                self.start = 0;
                self.discarding = true;
            }
            return None;
        };
        let line = check_line(&pending[..=lf]);
        self.start += lf + 1;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Some(line)
    }

    /// Takes the bytes received after the last complete line (e.g. message data pipelined behind DATA
    /// or BDAT), leaving the framer empty.
    pub fn take_rest(&mut self) -> Vec<u8> {
        self.discarding = false;
        self.buf.drain(..self.start);
        self.start = 0;
        std::mem::take(&mut self.buf)
    }

    /// True when buffered bytes wait (a pipelining client sent more than one command).
    pub fn has_buffered(&self) -> bool {
        self.buf.len() > self.start
    }
}

fn find_lf(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

/// Judges one line ending in LF; the line without its CRLF.
fn check_line(line: &[u8]) -> Result<Vec<u8>, LineError> {
    if line.len() > MAX_COMMAND_LINE {
        return Err(LineError::TooLong);
    }
    let content = match line.strip_suffix(b"\r\n") {
        Some(content) if memchr::memchr(b'\r', content).is_none() => content,
        _ => return Err(LineError::BareLineEnd),
    };
    if memchr::memchr(0, content).is_some() {
        return Err(LineError::Nul);
    }
    Ok(content.to_vec())
}

#[cfg(test)]
mod tests;
