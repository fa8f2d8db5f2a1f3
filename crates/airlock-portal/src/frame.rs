//! Portal frame encoding.
//!
//! One kind byte, then the body:
//!
//! | kind | frame     | body |
//! |------|-----------|------|
//! | 0x01 | Hello     | `version u8 = 1 ‖ window u32` (inlet → outlet service: open a link) |
//! | 0x02 | HelloAck  | `window u32` (outlet link → inlet link; its return route names the link) |
//! | 0x10 | Open      | `stream u32` (the window comes from Hello/HelloAck) |
//! | 0x11 | Data      | `stream u32 ‖ bytes (rest of the message)` |
//! | 0x12 | Credit    | `stream u32 ‖ bytes u32` |
//! | 0x13 | Fin       | `stream u32` (sender will send no more data: half-close) |
//! | 0x14 | Reset     | `stream u32 ‖ reason u8` |
//! | 0x15 | Ping      | `nonce u64` (link liveness) |
//! | 0x16 | Pong      | `nonce u64` |
//!
//! All integers big-endian.

use airlock_wire::codec::{DecodeError, Reader};
use airlock_wire::Packet;

/// Header length in front of data bytes in a Data frame.
pub const DATA_HEADER_LEN: usize = 5;

/// Why a stream was reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// The outlet could not connect to its target.
    ConnectFailed,
    /// The TCP connection on the other side was reset or failed.
    ConnectionReset,
    /// Access denied or protocol violation.
    Refused,
    /// The link is shutting down.
    Shutdown,
}

impl ResetReason {
    fn byte(self) -> u8 {
        match self {
            ResetReason::ConnectFailed => 1,
            ResetReason::ConnectionReset => 2,
            ResetReason::Refused => 3,
            ResetReason::Shutdown => 4,
        }
    }
    fn from_byte(b: u8) -> Result<Self, DecodeError> {
        Ok(match b {
            1 => ResetReason::ConnectFailed,
            2 => ResetReason::ConnectionReset,
            3 => ResetReason::Refused,
            4 => ResetReason::Shutdown,
            _ => return Err(DecodeError::invalid("reset reason", b)),
        })
    }
}

/// A decoded portal frame.
#[derive(Debug, PartialEq, Eq)]
pub enum PortalFrame {
    /// Open a link.
    Hello {
        /// The opener's receive window for each stream.
        window: u32,
    },
    /// Link accepted.
    HelloAck {
        /// The acceptor's receive window for each stream.
        window: u32,
    },
    /// Open a stream.
    Open {
        /// Stream id, chosen by the opener.
        stream: u32,
    },
    /// Stream data (in place in the receive buffer).
    Data {
        /// Stream id.
        stream: u32,
        /// The bytes.
        data: Packet,
    },
    /// More credit for the sender of `stream`.
    Credit {
        /// Stream id.
        stream: u32,
        /// Bytes consumed since the last credit.
        bytes: u32,
    },
    /// No more data from the sender.
    Fin {
        /// Stream id.
        stream: u32,
    },
    /// Abort the stream.
    Reset {
        /// Stream id.
        stream: u32,
        /// Why.
        reason: ResetReason,
    },
    /// Liveness probe.
    Ping(u64),
    /// Liveness answer.
    Pong(u64),
}

impl PortalFrame {
    /// Encodes a control frame (anything but Data) into a fresh packet.
    pub fn encode(&self) -> Packet {
        let mut b = Vec::with_capacity(16);
        match self {
            PortalFrame::Hello { window } => {
                b.extend_from_slice(&[0x01, 1]);
                b.extend_from_slice(&window.to_be_bytes());
            }
            PortalFrame::HelloAck { window } => {
                b.push(0x02);
                b.extend_from_slice(&window.to_be_bytes());
            }
            PortalFrame::Open { stream } => {
                b.push(0x10);
                b.extend_from_slice(&stream.to_be_bytes());
            }
            PortalFrame::Data { stream, data } => {
                b.push(0x11);
                b.extend_from_slice(&stream.to_be_bytes());
                b.extend_from_slice(data.data());
            }
            PortalFrame::Credit { stream, bytes } => {
                b.push(0x12);
                b.extend_from_slice(&stream.to_be_bytes());
                b.extend_from_slice(&bytes.to_be_bytes());
            }
            PortalFrame::Fin { stream } => {
                b.push(0x13);
                b.extend_from_slice(&stream.to_be_bytes());
            }
            PortalFrame::Reset { stream, reason } => {
                b.push(0x14);
                b.extend_from_slice(&stream.to_be_bytes());
                b.push(reason.byte());
            }
            PortalFrame::Ping(n) => {
                b.push(0x15);
                b.extend_from_slice(&n.to_be_bytes());
            }
            PortalFrame::Pong(n) => {
                b.push(0x16);
                b.extend_from_slice(&n.to_be_bytes());
            }
        }
        Packet::copy_from(&b)
    }

    /// Writes a Data header in front of `data` (which already holds the bytes).
    pub fn prepend_data_header(stream: u32, data: &mut Packet) {
        let mut h = [0u8; DATA_HEADER_LEN];
        h[0] = 0x11;
        h[1..].copy_from_slice(&stream.to_be_bytes());
        data.prepend(&h);
    }

    /// Decodes a frame; Data frames keep their bytes in place.
    pub fn decode(mut p: Packet) -> Result<Self, DecodeError> {
        let mut r = Reader::new(p.data());
        let kind = r.u8("portal frame kind")?;
        let f = match kind {
            0x01 => {
                let v = r.u8("portal version")?;
                if v != 1 {
                    return Err(DecodeError::invalid(
                        "portal version",
                        format!("version {v} is not supported (this node speaks 1)"),
                    ));
                }
                PortalFrame::Hello {
                    window: r.u32("window")?,
                }
            }
            0x02 => PortalFrame::HelloAck {
                window: r.u32("window")?,
            },
            0x10 => PortalFrame::Open {
                stream: r.u32("stream id")?,
            },
            0x11 => {
                let stream = r.u32("stream id")?;
                p.advance(DATA_HEADER_LEN);
                return Ok(PortalFrame::Data { stream, data: p });
            }
            0x12 => PortalFrame::Credit {
                stream: r.u32("stream id")?,
                bytes: r.u32("credit")?,
            },
            0x13 => PortalFrame::Fin {
                stream: r.u32("stream id")?,
            },
            0x14 => PortalFrame::Reset {
                stream: r.u32("stream id")?,
                reason: ResetReason::from_byte(r.u8("reset reason")?)?,
            },
            0x15 => PortalFrame::Ping(r.u64("ping")?),
            0x16 => PortalFrame::Pong(r.u64("pong")?),
            k => {
                return Err(DecodeError::invalid(
                    "portal frame kind",
                    format!("unknown kind 0x{k:02x}"),
                ))
            }
        };
        r.finish("portal frame")?;
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_frames_round_trip() {
        let frames = vec![
            PortalFrame::Hello { window: 1 << 20 },
            PortalFrame::HelloAck { window: 7 },
            PortalFrame::Open { stream: 3 },
            PortalFrame::Credit {
                stream: 3,
                bytes: 65536,
            },
            PortalFrame::Fin { stream: 9 },
            PortalFrame::Reset {
                stream: 9,
                reason: ResetReason::ConnectFailed,
            },
            PortalFrame::Ping(42),
            PortalFrame::Pong(42),
        ];
        for f in frames {
            let p = f.encode();
            assert_eq!(PortalFrame::decode(p).unwrap(), f);
        }
    }

    #[test]
    fn data_frame_vector_and_in_place_decode() {
        let mut p = Packet::copy_from(b"abc");
        PortalFrame::prepend_data_header(0x0102_0304, &mut p);
        // docs/protocol.md §6, vector T5.
        assert_eq!(p.data(), b"\x11\x01\x02\x03\x04abc");
        match PortalFrame::decode(p).unwrap() {
            PortalFrame::Data { stream, data } => {
                assert_eq!(stream, 0x0102_0304);
                assert_eq!(data.data(), b"abc");
            }
            f => panic!("{f:?}"),
        }
    }

    #[test]
    fn malformed_frames_are_errors() {
        for bad in [
            &b""[..],
            b"\x10\x00",
            b"\x14\x00\x00\x00\x01\x09",
            b"\x01\x02\0\0\0\0",
            b"\x99",
            b"\x13\0\0\0\x01\xff",
        ] {
            assert!(
                PortalFrame::decode(Packet::copy_from(bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = PortalFrame::decode(Packet::copy_from(&data));
        }
    }
}
