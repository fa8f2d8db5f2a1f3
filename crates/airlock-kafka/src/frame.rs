//! Kafka framing: every request and response is a 4-byte big-endian length, then that many bytes.
//!
//! [`FrameReader`] reassembles frames from a byte stream delivered in arbitrary pieces (one frame
//! split over many reads, several frames in one read). A *frame* in this crate always includes its
//! length prefix, so an interceptor that forwards a frame unchanged hands the runtime the very
//! bytes it read, ready to write in one call.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::KafkaError;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX: usize = 4;
/// Default largest frame accepted (without its prefix): 64 MiB, above a consumer's default
/// `fetch.max.bytes` (50 MiB) and a producer's default `max.request.size` (1 MiB). Clusters tuned
/// beyond that need a larger limit.
pub const DEFAULT_MAX_FRAME: u32 = 64 * 1024 * 1024;

/// Reassembles length-prefixed Kafka frames from a byte stream.
///
/// ```
/// use airlock_kafka::frame::{encode_frame, FrameReader};
/// let mut reader = FrameReader::new();
/// let frame = encode_frame(b"hello");
/// reader.push(&frame[..3]);
/// assert_eq!(reader.pop().unwrap(), None);
/// reader.push(&frame[3..]);
/// assert_eq!(reader.pop().unwrap(), Some(frame));
/// ```
#[derive(Debug)]
pub struct FrameReader {
    buf: BytesMut,
    max: u32,
    failed: Option<KafkaError>,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameReader {
    /// A reader accepting frames up to [`DEFAULT_MAX_FRAME`] bytes.
    pub fn new() -> Self {
        Self::with_max_frame(DEFAULT_MAX_FRAME)
    }

    /// A reader accepting frames up to `max` bytes (not counting the length prefix).
    pub fn with_max_frame(max: u32) -> Self {
        Self {
            buf: BytesMut::new(),
            max,
            failed: None,
        }
    }

    /// The largest frame this reader accepts (not counting the length prefix).
    pub fn max_frame(&self) -> u32 {
        self.max
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes held that do not yet form a whole frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame (length prefix included), `None` while more bytes are needed.
    ///
    /// A negative or oversized length is an error, and the reader keeps returning it: a stream
    /// that lost its framing cannot be resynchronised.
    pub fn pop(&mut self) -> Result<Option<Bytes>, KafkaError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.buf.len() < LENGTH_PREFIX {
            return Ok(None);
        }
        let len = (&self.buf[..LENGTH_PREFIX]).get_i32();
        let checked = if len < 0 {
            Err(KafkaError::NegativeLength { len })
        } else if len as u32 > self.max {
            Err(KafkaError::FrameTooLarge {
                len: len as u32,
                max: self.max,
            })
        } else {
            Ok(len as usize)
        };
        let len = match checked {
            Ok(len) => len,
            Err(e) => {
                self.buf = BytesMut::new();
                self.failed = Some(e.clone());
                return Err(e);
            }
        };
        let total = LENGTH_PREFIX + len;
        if self.buf.len() < total {
            // Reserve once for the whole frame instead of growing piecemeal.
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(total).freeze()))
    }
}

/// Prefixes `body` (a header plus a message) with its length, making a frame.
pub fn encode_frame(body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(LENGTH_PREFIX + body.len());
    out.put_u32(body.len() as u32);
    out.put_slice(body);
    out.freeze()
}

/// The body of a whole frame (the bytes after the prefix), checking that the prefix matches.
pub fn frame_body(frame: &Bytes) -> Result<Bytes, KafkaError> {
    if frame.len() < LENGTH_PREFIX {
        return Err(KafkaError::LengthMismatch {
            announced: 0,
            actual: frame.len(),
        });
    }
    let announced = (&frame[..LENGTH_PREFIX]).get_i32();
    let actual = frame.len() - LENGTH_PREFIX;
    if announced < 0 {
        return Err(KafkaError::NegativeLength { len: announced });
    }
    if announced as usize != actual {
        return Err(KafkaError::LengthMismatch {
            announced: announced as usize,
            actual,
        });
    }
    Ok(frame.slice(LENGTH_PREFIX..))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn several_frames_in_one_push() {
        let mut r = FrameReader::new();
        let (a, b) = (encode_frame(b"one"), encode_frame(b""));
        let mut both = a.to_vec();
        both.extend_from_slice(&b);
        both.extend_from_slice(&[0, 0]); // start of a third frame
        r.push(&both);
        assert_eq!(r.pop().unwrap(), Some(a));
        assert_eq!(r.pop().unwrap(), Some(b));
        assert_eq!(r.pop().unwrap(), None);
        assert_eq!(r.buffered(), 2);
    }

    #[test]
    fn negative_length_is_refused_and_sticks() {
        let mut r = FrameReader::new();
        r.push(&(-5i32).to_be_bytes());
        assert_eq!(r.pop(), Err(KafkaError::NegativeLength { len: -5 }));
        r.push(&encode_frame(b"x"));
        assert!(r.pop().is_err());
    }

    #[test]
    fn oversized_length_is_refused_before_buffering() {
        let mut r = FrameReader::with_max_frame(10);
        r.push(&11u32.to_be_bytes());
        assert_eq!(r.pop(), Err(KafkaError::FrameTooLarge { len: 11, max: 10 }));
        let mut ok = FrameReader::with_max_frame(10);
        ok.push(&encode_frame(&[7; 10]));
        assert_eq!(ok.pop().unwrap().unwrap().len(), 14);
    }

    #[test]
    fn frame_body_checks_the_prefix() {
        let f = encode_frame(b"abc");
        assert_eq!(&frame_body(&f).unwrap()[..], b"abc");
        assert!(matches!(
            frame_body(&f.slice(..5)),
            Err(KafkaError::LengthMismatch {
                announced: 3,
                actual: 1
            })
        ));
        assert!(frame_body(&Bytes::from_static(&[0, 0])).is_err());
    }

    proptest! {
        /// Any split of a stream of frames yields the same frames.
        #[test]
        fn arbitrary_splits_reassemble(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6),
                                       cuts in proptest::collection::vec(1usize..17, 0..40)) {
            let frames: Vec<Bytes> = bodies.iter().map(|b| encode_frame(b)).collect();
            let stream: Vec<u8> = frames.iter().flat_map(|f| f.to_vec()).collect();
            let mut r = FrameReader::new();
            let mut got = Vec::new();
            let mut pos = 0;
            let mut cuts = cuts.into_iter();
            while pos < stream.len() {
                let n = cuts.next().unwrap_or(stream.len()).min(stream.len() - pos);
                r.push(&stream[pos..pos + n]);
                pos += n;
                while let Some(f) = r.pop().unwrap() {
                    got.push(f);
                }
            }
            prop_assert_eq!(got, frames);
            prop_assert_eq!(r.buffered(), 0);
        }

        /// Random bytes never panic the reader.
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut r = FrameReader::with_max_frame(1024);
            r.push(&data);
            while let Ok(Some(_)) = r.pop() {}
        }
    }
}
