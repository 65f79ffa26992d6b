//! Content checks for BDAT chunks (RFC 3030), which carry the message without dot-stuffing or an end
//! marker: the same judgement DATA gets from the scanner (no bare CR or LF, no NUL, text lines of at most
//! 1000 octets), kept across chunk boundaries so any split gives the same verdict. Pure.

use backupmx_smtp::{DataError, MAX_TEXT_LINE};

#[derive(Debug, Default)]
pub struct ChunkChecker {
    /// The previous byte was a CR (its LF may come in the next chunk).
    pending_cr: bool,
    /// Octets of the current line so far, CR included.
    line_len: usize,
    size: u64,
    error: Option<DataError>,
}

impl ChunkChecker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Judges the next piece of message content.
    pub fn feed(&mut self, data: &[u8]) {
        self.size += data.len() as u64;
        for &byte in data {
            if self.error.is_some() {
                return;
            }
            self.step(byte);
        }
    }

    fn step(&mut self, byte: u8) {
        if self.pending_cr && byte != b'\n' {
            self.error = Some(DataError::BareLineEnd);
            return;
        }
        match byte {
            b'\n' if !self.pending_cr => self.error = Some(DataError::BareLineEnd),
            b'\n' => {
                self.pending_cr = false;
                self.line_len = 0;
            }
            b'\0' => self.error = Some(DataError::Nul),
            b'\r' => {
                self.pending_cr = true;
                self.line_len += 1;
            }
            _ => self.line_len += 1,
        }
        // line_len counts the CR but not the LF yet: the CRLF-inclusive length is line_len + 1 at most.
        if self.error.is_none() && self.line_len + usize::from(!self.pending_cr) > MAX_TEXT_LINE - 1
        {
            self.error = Some(DataError::LineTooLong);
        }
    }

    /// True when the content so far does not end a line: the body needs a final CRLF.
    pub fn needs_final_crlf(&self) -> bool {
        self.size > 0 && (self.line_len > 0 || self.pending_cr)
    }

    /// The verdict after the LAST chunk: the content size, or the first problem found. A trailing lone
    /// CR is a bare CR.
    pub fn finish(&self) -> Result<u64, DataError> {
        match &self.error {
            Some(error) => Err(error.clone()),
            None if self.pending_cr => Err(DataError::BareLineEnd),
            None => Ok(self.size),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(chunks: &[&[u8]]) -> Result<u64, DataError> {
        let mut c = ChunkChecker::new();
        for chunk in chunks {
            c.feed(chunk);
        }
        c.finish()
    }

    /// Every two-way split of `data` gives the same verdict as the whole.
    fn split_invariant(data: &[u8]) -> Result<u64, DataError> {
        let whole = verdict(&[data]);
        for at in 0..=data.len() {
            assert_eq!(
                verdict(&[&data[..at], &data[at..]]),
                whole,
                "split at {at} of {data:?}"
            );
        }
        whole
    }

    #[test]
    fn clean_text_passes_with_its_size() {
        assert_eq!(split_invariant(b"a: b\r\n\r\n.\r\nbody\r\n"), Ok(17));
        assert_eq!(verdict(&[]), Ok(0));
    }

    #[test]
    fn bare_line_ends_and_nul_are_refused() {
        for bad in [
            &b"a\nb\r\n"[..],
            b"a\rb\r\n",
            b"a\r\r\n",
            b"\n.\n",
            b"\r.\r",
            b"end\r",
        ] {
            assert_eq!(split_invariant(bad), Err(DataError::BareLineEnd), "{bad:?}");
        }
        assert_eq!(split_invariant(b"a\0b\r\n"), Err(DataError::Nul));
    }

    #[test]
    fn line_length_limit_counts_crlf() {
        let ok = [vec![b'x'; 998], b"\r\n".to_vec()].concat();
        assert_eq!(split_invariant(&ok), Ok(1000));
        let long = [vec![b'x'; 999], b"\r\n".to_vec()].concat();
        assert_eq!(verdict(&[&long]), Err(DataError::LineTooLong));
        assert_eq!(
            verdict(&[&long[..500], &long[500..]]),
            Err(DataError::LineTooLong)
        );
    }

    #[test]
    fn final_crlf_detection() {
        let mut c = ChunkChecker::new();
        assert!(!c.needs_final_crlf());
        c.feed(b"a\r\n");
        assert!(!c.needs_final_crlf());
        c.feed(b"tail");
        assert!(c.needs_final_crlf());
    }
}
