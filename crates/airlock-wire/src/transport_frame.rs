//! TCP transport framing (sans-IO).
//!
//! A connection starts with a 4-byte preamble from each side: `b"ALK"` and the protocol version
//! (`0x01`). Then both directions carry frames: a big-endian `u32` body length followed by the
//! body. A body starts with a kind byte:
//!
//! * `0x01` routed message: onward route, return route, payload (the rest of the frame);
//! * `0x02` heartbeat: no body; keeps idle connections (and NAT bindings) alive.
//!
//! Frames larger than [`MAX_FRAME_LEN`] are refused and the connection is closed: a peer cannot
//! make us buffer without bound.

use crate::address::Route;
use crate::codec::{DecodeError, Reader};
use crate::packet::Packet;
use bytes::BytesMut;

/// The connection preamble: magic and protocol version 1.
pub const PREAMBLE: [u8; 4] = *b"ALK\x01";
/// Largest accepted frame body.
pub const MAX_FRAME_LEN: usize = 1024 * 1024 + 4096;
/// Frame kind: routed message.
pub const KIND_MESSAGE: u8 = 0x01;
/// Frame kind: heartbeat.
pub const KIND_HEARTBEAT: u8 = 0x02;

/// A decoded inbound frame.
#[derive(Debug, PartialEq, Eq)]
pub enum InboundFrame {
    /// A routed message.
    Message {
        /// Where the message still has to go.
        onward: Route,
        /// How to answer.
        ret: Route,
        /// The payload, in place inside the receive buffer.
        payload: Packet,
    },
    /// A heartbeat.
    Heartbeat,
}

/// Why the byte stream is not a valid Airlock transport stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The peer did not start with our preamble.
    #[error("peer is not an Airlock node (bad preamble {0:02x?})")]
    BadPreamble([u8; 4]),
    /// The peer speaks another protocol version.
    #[error("unsupported transport protocol version {0} (this node speaks version 1)")]
    UnsupportedVersion(u8),
    /// A frame announced a size over the limit.
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME_LEN} bytes")]
    TooLarge(usize),
    /// A route has more hops than a peer accepts (checked before sending).
    #[error("a route of {0} hops exceeds the maximum of {max}", max = crate::address::MAX_ROUTE_LEN)]
    RouteTooLong(usize),
    /// A frame body did not decode.
    #[error("malformed frame: {0}")]
    Malformed(#[from] DecodeError),
}

/// Incremental decoder for one direction of a connection.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    preamble_seen: bool,
}

impl FrameDecoder {
    /// A decoder expecting the preamble first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes the next complete frame from the front of `buf`, consuming it. Returns
    /// `Ok(None)` if more bytes are needed. Errors are fatal for the connection.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<InboundFrame>, FrameError> {
        if !self.preamble_seen {
            if buf.len() < 4 {
                // Reject garbage early, even before 4 bytes arrived.
                if !PREAMBLE[..3].starts_with(&buf[..buf.len().min(3)]) {
                    let mut got = [0u8; 4];
                    got[..buf.len()].copy_from_slice(buf);
                    return Err(FrameError::BadPreamble(got));
                }
                return Ok(None);
            }
            let got: [u8; 4] = buf[..4].try_into().expect("4 bytes");
            if got[..3] != PREAMBLE[..3] {
                return Err(FrameError::BadPreamble(got));
            }
            if got[3] != PREAMBLE[3] {
                return Err(FrameError::UnsupportedVersion(got[3]));
            }
            let _ = buf.split_to(4);
            self.preamble_seen = true;
        }
        if buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
        if len > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge(len));
        }
        if len == 0 {
            return Err(FrameError::Malformed(DecodeError::invalid(
                "frame",
                "empty frame body",
            )));
        }
        if buf.len() < 4 + len {
            buf.reserve(4 + len - buf.len());
            return Ok(None);
        }
        let frame = buf.split_to(4 + len);
        decode_body(frame).map(Some)
    }
}

fn decode_body(frame: BytesMut) -> Result<InboundFrame, FrameError> {
    let (onward, ret, header_len) = {
        let mut r = Reader::new(&frame[4..]);
        match r.u8("frame kind")? {
            KIND_MESSAGE => {}
            KIND_HEARTBEAT => {
                r.finish("heartbeat")?;
                return Ok(InboundFrame::Heartbeat);
            }
            k => {
                return Err(FrameError::Malformed(DecodeError::invalid(
                    "frame kind",
                    format!("unknown kind 0x{k:02x}"),
                )))
            }
        }
        let onward = Route::decode(&mut r)?;
        let ret = Route::decode(&mut r)?;
        (onward, ret, 4 + r.position())
    };
    Ok(InboundFrame::Message {
        onward,
        ret,
        payload: Packet::from_parts(frame, header_len),
    })
}

/// Checks, before sending, that a message frame with these routes and a payload of
/// `payload_len` bytes is one the peer accepts: a node never sends what its peer must refuse
/// (the peer would close the connection and every channel on it).
pub fn check_message(onward: &Route, ret: &Route, payload_len: usize) -> Result<(), FrameError> {
    check_routes(onward, ret)?;
    let body_len = 1 + onward.encoded_len() + ret.encoded_len() + payload_len;
    if body_len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(body_len));
    }
    Ok(())
}

/// Checks that both routes have at most [`crate::address::MAX_ROUTE_LEN`] hops.
pub fn check_routes(onward: &Route, ret: &Route) -> Result<(), FrameError> {
    for r in [onward, ret] {
        if r.len() > crate::address::MAX_ROUTE_LEN {
            return Err(FrameError::RouteTooLong(r.len()));
        }
    }
    Ok(())
}

/// Encodes a routed message frame around `payload` in place (using its headroom).
pub fn encode_message(payload: &mut Packet, onward: &Route, ret: &Route) {
    let body_len = 1 + onward.encoded_len() + ret.encoded_len() + payload.len();
    let mut header = Vec::with_capacity(5 + onward.encoded_len() + ret.encoded_len());
    header.extend_from_slice(&(body_len as u32).to_be_bytes());
    header.push(KIND_MESSAGE);
    onward.encode(&mut header);
    ret.encode(&mut header);
    payload.prepend(&header);
}

/// The bytes of a heartbeat frame.
pub fn heartbeat() -> [u8; 5] {
    [0, 0, 0, 1, KIND_HEARTBEAT]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;

    fn route(names: &[&str]) -> Route {
        Route::new(names.iter().map(|n| Address::new(*n).unwrap()).collect())
    }

    #[test]
    fn test_vector_message_frame() {
        // docs/protocol.md §3, vector T1.
        let mut p = Packet::copy_from(b"hi");
        encode_message(&mut p, &route(&["echo"]), &route(&["r"]));
        assert_eq!(
            hex::encode(p.data()),
            "0000000c01".to_owned() + "01046563686f" + "010172" + "6869"
        );
    }

    #[test]
    fn decode_round_trip_byte_by_byte() {
        let mut p = Packet::copy_from(b"payload");
        encode_message(&mut p, &route(&["a", "b"]), &route(&["c"]));
        let mut wire = PREAMBLE.to_vec();
        wire.extend_from_slice(p.data());
        wire.extend_from_slice(&heartbeat());
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for b in wire {
            buf.extend_from_slice(&[b]);
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 2);
        match &frames[0] {
            InboundFrame::Message {
                onward,
                ret,
                payload,
            } => {
                assert_eq!(onward, &route(&["a", "b"]));
                assert_eq!(ret, &route(&["c"]));
                assert_eq!(payload.data(), b"payload");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(frames[1], InboundFrame::Heartbeat);
    }

    #[test]
    fn garbage_preamble_is_refused_early() {
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::from(&b"GE"[..]);
        assert!(matches!(
            dec.decode(&mut buf),
            Err(FrameError::BadPreamble(_))
        ));
    }

    #[test]
    fn wrong_version_is_named() {
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::from(&b"ALK\x07"[..]);
        assert_eq!(dec.decode(&mut buf), Err(FrameError::UnsupportedVersion(7)));
    }

    #[test]
    fn absurd_length_is_refused_without_buffering() {
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::from(&b"ALK\x01\xff\xff\xff\xff"[..]);
        assert!(matches!(dec.decode(&mut buf), Err(FrameError::TooLarge(_))));
    }

    proptest::proptest! {
        #[test]
        fn decoder_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let mut dec = FrameDecoder::new();
            let mut buf = BytesMut::from(&PREAMBLE[..]);
            buf.extend_from_slice(&data);
            for _ in 0..64 {
                match dec.decode(&mut buf) {
                    Ok(Some(_)) => continue,
                    _ => break,
                }
            }
        }
    }
}
