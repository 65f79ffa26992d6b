//! Byte-level encoding of spool records: little-endian integers, length-prefixed strings, and the
//! CRC-checked frame around each record. Pure; no I/O.

/// Bytes before each record: payload length (u32 LE) and CRC-32 of the payload (u32 LE).
pub const FRAME_HEADER: usize = 8;
/// Refuse absurd lengths read from a damaged file instead of allocating them.
pub const MAX_RECORD: usize = 64 * 1024 * 1024;

#[derive(Default)]
pub struct Encoder {
    pub buf: Vec<u8>,
}

impl Encoder {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn str(&mut self, v: &str) {
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v.as_bytes());
    }
    pub fn opt_str(&mut self, v: Option<&str>) {
        match v {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
}

/// Appends `payload` to `out` as one CRC-checked frame.
pub fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The result of looking for one frame at the start of `input`.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole, intact record payload and the bytes it used.
    Record(&'a [u8], usize),
    /// Input ends inside a frame: a torn write at the end of a file.
    Truncated,
    /// The frame is damaged (CRC mismatch or absurd length).
    Damaged(&'static str),
}

pub fn unframe(input: &[u8]) -> Frame<'_> {
    if input.len() < FRAME_HEADER {
        return Frame::Truncated;
    }
    let len = u32::from_le_bytes([input[0], input[1], input[2], input[3]]) as usize;
    let crc = u32::from_le_bytes([input[4], input[5], input[6], input[7]]);
    if len > MAX_RECORD {
        return Frame::Damaged("record length out of range");
    }
    let Some(payload) = input.get(FRAME_HEADER..FRAME_HEADER + len) else {
        return Frame::Truncated;
    };
    if crc32fast::hash(payload) != crc {
        return Frame::Damaged("checksum mismatch");
    }
    Frame::Record(payload, FRAME_HEADER + len)
}

/// Reads fields back; every read checks bounds and fails with a reason instead of panicking.
pub struct Decoder<'a> {
    input: &'a [u8],
}

pub type DecodeResult<T> = Result<T, &'static str>;

impl<'a> Decoder<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Decoder { input }
    }
    fn take(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        if self.input.len() < n {
            return Err("record ends early");
        }
        let (head, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(head)
    }
    pub fn u8(&mut self) -> DecodeResult<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn bool(&mut self) -> DecodeResult<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("bad boolean"),
        }
    }
    pub fn u32(&mut self) -> DecodeResult<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self) -> DecodeResult<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    pub fn str(&mut self) -> DecodeResult<String> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "string is not UTF-8")
    }
    pub fn opt_str(&mut self) -> DecodeResult<Option<String>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.str()?)),
            _ => Err("bad option tag"),
        }
    }
    /// True when every byte was read (an optional trailing section is absent).
    pub fn at_end(&self) -> bool {
        self.input.is_empty()
    }
    pub fn finish(self) -> DecodeResult<()> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err("trailing bytes in record")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip() {
        let mut out = Vec::new();
        frame(b"hello", &mut out);
        assert_eq!(unframe(&out), Frame::Record(b"hello", out.len()));
    }

    #[test]
    fn every_truncation_is_detected() {
        let mut out = Vec::new();
        frame(b"some payload", &mut out);
        for cut in 0..out.len() {
            assert_eq!(unframe(&out[..cut]), Frame::Truncated, "cut at {cut}");
        }
    }

    #[test]
    fn every_flipped_payload_bit_is_detected() {
        let mut out = Vec::new();
        frame(b"abc", &mut out);
        for i in FRAME_HEADER..out.len() {
            for bit in 0..8 {
                let mut bad = out.clone();
                bad[i] ^= 1 << bit;
                assert!(matches!(unframe(&bad), Frame::Damaged(_)));
            }
        }
    }

    #[test]
    fn absurd_length_is_damage_not_allocation() {
        let bad = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(matches!(unframe(&bad), Frame::Damaged(_)));
    }

    #[test]
    fn decoder_rejects_short_and_trailing_input() {
        let mut e = Encoder::default();
        e.str("abc");
        e.u64(7);
        let mut d = Decoder::new(&e.buf);
        assert_eq!(d.str(), Ok("abc".to_string()));
        assert_eq!(d.u64(), Ok(7));
        assert!(d.finish().is_ok());
        let mut d = Decoder::new(&e.buf[..5]);
        assert!(d.str().is_err());
        let d = Decoder::new(&e.buf);
        assert!(d.finish().is_err());
    }
}
