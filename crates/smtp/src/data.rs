//! The DATA scanner: finds the one true end of data (`<CRLF>.<CRLF>`), removes dot-stuffing, and judges
//! the message (size, bare CR/LF, NUL, line length) without ever buffering more than it is given.

use crate::line::MAX_TEXT_LINE;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// 552 5.3.4
    #[error("message exceeds the size limit")]
    TooBig,
    /// 550 5.6.0 (SMTP smuggling defence)
    #[error("bare LF or bare CR in message data")]
    BareLineEnd,
    /// 550 5.6.0
    #[error("NUL byte in message data")]
    Nul,
    /// 550 5.5.6? see daemon; text lines over 1000 octets.
    #[error("text line longer than 1000 octets")]
    LineTooLong,
}

/// What one call of [`DataScanner::feed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataProgress {
    /// Input bytes consumed; the rest (after end of data) belongs to the next command.
    pub consumed: usize,
    /// True once `<CRLF>.<CRLF>` was seen.
    pub done: bool,
}

/// Where the scanner is in the byte stream. Only a CRLF moves to `LineStart`, so the end of data can
/// only be recognised after a real CRLF (or at the very beginning, right after the DATA command's CRLF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line.
    LineStart,
    /// Inside a line; the previous byte was not a CR.
    InLine,
    /// The previous byte was a CR inside a line (already output).
    Cr,
    /// The line began with a dot, held back: it is either stuffing or the end of data.
    Dot,
    /// The line is a dot and a CR so far, both held back.
    DotCr,
    /// `<CRLF>.<CRLF>` was seen.
    Done,
}

/// Incremental scanner; state is kept between calls so any split of the input gives the same result.
#[derive(Debug)]
pub struct DataScanner {
    max_size: u64,
    state: State,
    /// Message bytes after unstuffing, including those past `max_size` that were dropped.
    size: u64,
    /// Wire octets of the current line so far, CRLF included.
    line_len: usize,
    /// The first problem found.
    error: Option<DataError>,
}

impl DataScanner {
    /// `max_size`: the most message bytes (after unstuffing) kept; past it, bytes are counted and dropped.
    pub fn new(max_size: u64) -> Self {
        DataScanner {
            max_size,
            state: State::LineStart,
            size: 0,
            line_len: 0,
            error: None,
        }
    }

    /// Scans `input`, appending the unstuffed message bytes to `out` (never the terminating `.CRLF`).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> DataProgress {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::Done => break,
                State::InLine => pos += self.scan_line(&input[pos..], out),
                _ => {
                    self.step(input[pos], out);
                    pos += 1;
                }
            }
        }
        DataProgress {
            consumed: pos,
            done: self.is_done(),
        }
    }

    /// The verdict once `done`: the message size, or the first problem found. (Before `done` it judges
    /// what was seen so far; a connection lost mid-message is the caller's to handle.)
    pub fn finish(&self) -> Result<u64, DataError> {
        match &self.error {
            Some(error) => Err(error.clone()),
            None => Ok(self.size),
        }
    }

    /// True once `<CRLF>.<CRLF>` was seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Message bytes seen so far after unstuffing, counting those dropped past `max_size`.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The fast path inside a line: everything up to the next CR, LF or NUL is plain message text.
    /// Returns how many bytes were used.
    fn scan_line(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        match memchr::memchr3(b'\r', b'\n', 0, input) {
            None => {
                self.take(input, out);
                input.len()
            }
            Some(n) if input[n] == b'\r' && input.get(n + 1) == Some(&b'\n') => {
                self.take(&input[..n + 2], out);
                self.end_line();
                n + 2
            }
            Some(n) => {
                self.take(&input[..n], out);
                self.in_line(input[n], out);
                n + 1
            }
        }
    }

    /// One byte outside the fast path.
    fn step(&mut self, byte: u8, out: &mut Vec<u8>) {
        match (self.state, byte) {
            (State::Done, _) => {}
            (State::LineStart, b'.') => {
                self.count_line(1);
                self.state = State::Dot;
            }
            (State::Dot, b'\r') => {
                self.count_line(1);
                self.state = State::DotCr;
            }
            (State::DotCr, b'\n') => self.state = State::Done,
            (State::DotCr, _) => {
                // `.` CR X: the dot was stuffing and the held-back CR is bare.
                self.fail(DataError::BareLineEnd);
                if self.keep(b"\r", out).is_some() {
                    self.fail(DataError::TooBig);
                }
                self.in_line(byte, out);
            }
            (State::Cr, b'\n') => {
                self.take(b"\n", out);
                self.end_line();
            }
            (State::Cr, _) => {
                self.fail(DataError::BareLineEnd);
                self.in_line(byte, out);
            }
            (State::LineStart | State::InLine | State::Dot, _) => self.in_line(byte, out),
        }
    }

    /// A byte inside a line (a stuffing dot before it has already been dropped).
    fn in_line(&mut self, byte: u8, out: &mut Vec<u8>) {
        self.take(&[byte], out);
        self.state = State::InLine;
        match byte {
            b'\r' => self.state = State::Cr,
            b'\n' => self.fail(DataError::BareLineEnd),
            0 => self.fail(DataError::Nul),
            _ => {}
        }
    }

    fn end_line(&mut self) {
        self.state = State::LineStart;
        self.line_len = 0;
    }

    /// Counts `bytes` on the wire and outputs them, recording the limit crossed first: the result must
    /// not depend on how the input was split.
    fn take(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let over_line = self.count_line(bytes.len());
        let over_size = self.keep(bytes, out);
        if let (Some(line_at), Some(size_at)) = (over_line, over_size)
            && size_at < line_at
        {
            self.fail(DataError::TooBig);
        }
        if over_line.is_some() {
            self.fail(DataError::LineTooLong);
        }
        if over_size.is_some() {
            self.fail(DataError::TooBig);
        }
    }

    /// Adds `count` wire octets to the current line; the index among them that crossed the limit.
    fn count_line(&mut self, count: usize) -> Option<usize> {
        let crossed_at = MAX_TEXT_LINE
            .checked_sub(self.line_len)
            .filter(|&at| at < count);
        self.line_len = self.line_len.saturating_add(count);
        crossed_at
    }

    /// Appends `bytes` to `out` up to `max_size`; the index of the first byte dropped.
    fn keep(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        let room = self.max_size.saturating_sub(self.size);
        let kept = usize::try_from(room).map_or(bytes.len(), |room| room.min(bytes.len()));
        out.extend_from_slice(&bytes[..kept]);
        self.size = self.size.saturating_add(bytes.len() as u64);
        (kept < bytes.len()).then_some(kept)
    }

    fn fail(&mut self, error: DataError) {
        self.error.get_or_insert(error);
    }
}

#[cfg(test)]
mod tests;
