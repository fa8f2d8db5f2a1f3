//! A bounds-checked reader for untrusted input and the matching writers.
//!
//! Every decoder in Airlock reads through [`Reader`]: it never indexes out of bounds and reports
//! *what* it was reading when input ends early, so errors on hostile input are precise and never
//! panics.

use std::fmt;

/// Why a byte string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Input ended before `what` was complete.
    #[error(
        "truncated input while reading {what}: needed {needed} more bytes, {available} available"
    )]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A field had a value that is not allowed.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The field being read.
        what: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// Bytes remained after a complete value.
    #[error("{count} unexpected trailing bytes after {what}")]
    Trailing {
        /// The value that was decoded.
        what: &'static str,
        /// How many bytes were left.
        count: usize,
    },
}

impl DecodeError {
    /// Shorthand for [`DecodeError::Invalid`].
    pub fn invalid(what: &'static str, reason: impl fmt::Display) -> Self {
        DecodeError::Invalid {
            what,
            reason: reason.to_string(),
        }
    }
}

/// A cursor over untrusted bytes. All reads are bounds-checked.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes exactly `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                what,
                needed: n - self.remaining(),
                available: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian u64.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Reads a byte string prefixed by a one-byte length.
    pub fn bytes8(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.u8(what)? as usize;
        self.take(n, what)
    }

    /// Reads a byte string prefixed by a big-endian u16 length.
    pub fn bytes16(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.u16(what)? as usize;
        self.take(n, what)
    }

    /// Reads a byte string prefixed by a big-endian u32 length, refusing lengths above `max`.
    pub fn bytes32(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let n = self.u32(what)? as usize;
        if n > max {
            return Err(DecodeError::invalid(
                what,
                format!("length {n} exceeds the maximum of {max}"),
            ));
        }
        self.take(n, what)
    }

    /// Reads everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// Fails if any bytes remain.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.remaining() != 0 {
            return Err(DecodeError::Trailing {
                what,
                count: self.remaining(),
            });
        }
        Ok(())
    }
}

/// Appends a byte string with a one-byte length prefix. Panics if longer than 255 bytes,
/// which callers rule out by construction (types that use it validate their length).
pub fn put_bytes8(out: &mut Vec<u8>, b: &[u8]) {
    let n = u8::try_from(b.len()).expect("bytes8 value longer than 255 bytes");
    out.push(n);
    out.extend_from_slice(b);
}

/// Appends a byte string with a big-endian u16 length prefix. Panics above 65535 bytes.
pub fn put_bytes16(out: &mut Vec<u8>, b: &[u8]) {
    let n = u16::try_from(b.len()).expect("bytes16 value longer than 65535 bytes");
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(b);
}

/// Appends a byte string with a big-endian u32 length prefix.
pub fn put_bytes32(out: &mut Vec<u8>, b: &[u8]) {
    let n = u32::try_from(b.len()).expect("bytes32 value longer than 4 GiB");
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_is_reported_with_field_name() {
        let mut r = Reader::new(&[0, 1]);
        let err = r.u32("length").unwrap_err();
        assert_eq!(
            err,
            DecodeError::Truncated {
                what: "length",
                needed: 2,
                available: 2
            }
        );
    }

    #[test]
    fn bytes32_refuses_absurd_lengths() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            r.bytes32("blob", 1024),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn round_trip_prefixed_strings() {
        let mut out = Vec::new();
        put_bytes8(&mut out, b"abc");
        put_bytes16(&mut out, b"defg");
        put_bytes32(&mut out, b"");
        let mut r = Reader::new(&out);
        assert_eq!(r.bytes8("a").unwrap(), b"abc");
        assert_eq!(r.bytes16("b").unwrap(), b"defg");
        assert_eq!(r.bytes32("c", 10).unwrap(), b"");
        r.finish("all").unwrap();
    }
}
