//! The message body on the wire: dot-stuffing (RFC 5321 §4.5.2) of the stored bytes, streamed in
//! chunks so a large message never sits in memory, and the `.` terminator.

use tokio::io::{AsyncRead, AsyncReadExt};

use super::ClientError;
use super::io::Wire;

/// Bytes read from the body per write to the server.
const CHUNK: usize = 64 * 1024;

/// Incremental dot-stuffer: feed the body in any chunking, then [`DotStuffer::finish`].
#[derive(Debug, Clone)]
pub struct DotStuffer {
    at_line_start: bool,
    /// The last two body bytes seen (to know whether the body ends with CRLF).
    tail: [u8; 2],
    seen: u64,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer {
            at_line_start: true,
            tail: [0; 2],
            seen: 0,
        }
    }
}

impl DotStuffer {
    pub fn new() -> DotStuffer {
        DotStuffer::default()
    }

    /// Appends `input` to `out`, doubling a `.` that starts a line.
    pub fn stuff(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &byte in input {
            if self.at_line_start && byte == b'.' {
                out.push(b'.');
            }
            out.push(byte);
            self.at_line_start = byte == b'\n';
            self.tail = [self.tail[1], byte];
        }
        self.seen += input.len() as u64;
    }

    /// Appends the end of data: a CRLF first when a non-empty body does not end with one, then
    /// `.` CRLF.
    pub fn finish(&self, out: &mut Vec<u8>) {
        if self.seen > 0 && self.tail != *b"\r\n" {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// Streams `body` dot-stuffed and terminated to the server (after its 354); `trailer` (pipelined
/// commands, usually empty) goes out in the same final write as the terminator.
pub(crate) async fn send_body<R: AsyncRead + Unpin>(
    wire: &mut Wire,
    mut body: R,
    trailer: &[u8],
) -> Result<(), ClientError> {
    let mut stuffer = DotStuffer::new();
    let mut input = vec![0u8; CHUNK];
    let mut output = Vec::with_capacity(CHUNK + CHUNK / 8);
    loop {
        let n = body
            .read(&mut input)
            .await
            .map_err(|e| ClientError::Body(e.to_string()))?;
        if n == 0 {
            break;
        }
        stuffer.stuff(&input[..n], &mut output);
        // Small bodies go out with their terminator in one write (one syscall, one segment).
        if output.len() >= CHUNK {
            wire.write("DATA", &output).await?;
            output.clear();
        }
    }
    stuffer.finish(&mut output);
    output.extend_from_slice(trailer);
    wire.write("end of data", &output).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuffed(chunks: &[&[u8]]) -> Vec<u8> {
        let mut stuffer = DotStuffer::new();
        let mut out = Vec::new();
        for chunk in chunks {
            stuffer.stuff(chunk, &mut out);
        }
        stuffer.finish(&mut out);
        out
    }

    #[test]
    fn doubles_leading_dots_only() {
        assert_eq!(
            stuffed(&[b".a\r\nb.c\r\n..\r\n"]),
            b"..a\r\nb.c\r\n...\r\n.\r\n"
        );
    }

    #[test]
    fn a_lone_dot_line_cannot_end_the_data() {
        assert_eq!(stuffed(&[b"x\r\n.\r\ny\r\n"]), b"x\r\n..\r\ny\r\n.\r\n");
    }

    #[test]
    fn works_across_chunk_boundaries() {
        let whole = stuffed(&[b"a\r\n.b\r\n.\r\n"]);
        for split in 0..=10 {
            let (a, b) = b"a\r\n.b\r\n.\r\n".split_at(split);
            assert_eq!(stuffed(&[a, b]), whole, "split at {split}");
        }
    }

    #[test]
    fn adds_a_missing_final_crlf() {
        assert_eq!(stuffed(&[b"no newline"]), b"no newline\r\n.\r\n");
        assert_eq!(stuffed(&[b"bare lf\n"]), b"bare lf\n\r\n.\r\n");
        assert_eq!(stuffed(&[b"ends\r\n"]), b"ends\r\n.\r\n");
    }

    #[test]
    fn empty_body_is_just_the_terminator() {
        assert_eq!(stuffed(&[]), b".\r\n");
    }

    #[test]
    fn eight_bit_bytes_pass_unchanged() {
        assert_eq!(
            stuffed(&["é\r\n.ü\r\n".as_bytes()]),
            "é\r\n..ü\r\n.\r\n".as_bytes()
        );
    }
}
