//! [`Packet`]: a byte buffer with reserved headroom.
//!
//! The data path builds each message once: the portal reads socket data straight into a packet
//! whose front is left free, the secure channel encrypts it in place and prepends its header, and
//! the TCP transport prepends the frame header into the same headroom. One allocation, no copy
//! of the payload between socket read and socket write.

use bytes::{Bytes, BytesMut};

/// Headroom reserved by default in front of outbound data: enough for a frame header with two
/// full routes and a channel header.
pub const DEFAULT_HEADROOM: usize = 768;

/// A buffer whose data starts at `start`; the bytes before are free headroom.
#[derive(Clone, PartialEq, Eq)]
pub struct Packet {
    buf: BytesMut,
    start: usize,
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Packet({} bytes, headroom {})", self.len(), self.start)
    }
}

impl Packet {
    /// An empty packet with `headroom` free bytes in front and room for `capacity` data bytes.
    pub fn with_headroom(headroom: usize, capacity: usize) -> Self {
        let mut buf = BytesMut::with_capacity(headroom + capacity);
        buf.resize(headroom, 0);
        Packet {
            buf,
            start: headroom,
        }
    }

    /// A packet over `buf` whose data starts at `start`.
    pub fn from_parts(buf: BytesMut, start: usize) -> Self {
        assert!(start <= buf.len());
        Packet { buf, start }
    }

    /// A packet holding a copy of `data`, with default headroom.
    pub fn copy_from(data: &[u8]) -> Self {
        let mut p = Packet::with_headroom(DEFAULT_HEADROOM, data.len() + 32);
        p.extend_from_slice(data);
        p
    }

    /// The data bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The data bytes, mutable (for in-place encryption).
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }

    /// Number of data bytes.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// True if there are no data bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Free bytes in front of the data.
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Writes `header` in front of the data, using headroom when there is enough and
    /// reallocating (one copy) when there is not.
    pub fn prepend(&mut self, header: &[u8]) {
        let n = header.len();
        if n <= self.start {
            self.start -= n;
            self.buf[self.start..self.start + n].copy_from_slice(header);
        } else {
            let mut fresh = BytesMut::with_capacity(DEFAULT_HEADROOM + n + self.len() + 32);
            fresh.resize(DEFAULT_HEADROOM, 0);
            fresh.extend_from_slice(header);
            fresh.extend_from_slice(self.data());
            self.buf = fresh;
            self.start = DEFAULT_HEADROOM;
        }
    }

    /// Appends bytes after the data.
    pub fn extend_from_slice(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Drops `n` bytes from the front of the data.
    pub fn advance(&mut self, n: usize) {
        assert!(n <= self.len());
        self.start += n;
    }

    /// Keeps only the first `len` data bytes.
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(self.start + len);
    }

    /// The underlying buffer, for appending (e.g. `read_buf` from a socket).
    pub fn buf_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Spare capacity after the data.
    pub fn spare_capacity(&self) -> usize {
        self.buf.capacity() - self.buf.len()
    }

    /// The data as immutable shared bytes (no copy).
    pub fn freeze(self) -> Bytes {
        let start = self.start;
        self.buf.freeze().slice(start..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_uses_headroom_without_moving_data() {
        let mut p = Packet::with_headroom(16, 64);
        p.extend_from_slice(b"payload");
        let data_ptr = p.data().as_ptr();
        p.prepend(b"hdr");
        assert_eq!(p.data(), b"hdrpayload");
        assert_eq!(unsafe { data_ptr.offset(-3) }, p.data().as_ptr());
        assert_eq!(p.headroom(), 13);
    }

    #[test]
    fn prepend_beyond_headroom_reallocates() {
        let mut p = Packet::with_headroom(2, 8);
        p.extend_from_slice(b"xy");
        p.prepend(b"abcd");
        assert_eq!(p.data(), b"abcdxy");
        assert_eq!(p.freeze().as_ref(), b"abcdxy");
    }

    #[test]
    fn advance_and_truncate() {
        let mut p = Packet::copy_from(b"0123456789");
        p.advance(2);
        p.truncate(3);
        assert_eq!(p.data(), b"234");
    }
}
