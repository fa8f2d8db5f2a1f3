//! Channel message encodings.
//!
//! Outer (what crosses the route, visible to relays): one kind byte, then
//! * `0x01..=0x03` handshake message 1..3 (Noise bytes);
//! * `0x10` data: `nonce u64 BE ‖ AES-256-GCM(ciphertext ‖ tag)`.
//!
//! Inner (the decrypted plaintext): one kind byte, then
//! * `0x01` payload: onward route, return route, payload (rest);
//! * `0x02` close: no body;
//! * `0x03` credential refresh: `u8 count` then `u16`-prefixed credentials.

use airlock_wire::codec::{put_bytes16, DecodeError, Reader};
use airlock_wire::{Packet, Route};

/// Outer channel message kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// Handshake message 1 (initiator → responder).
    Handshake1,
    /// Handshake message 2 (responder → initiator).
    Handshake2,
    /// Handshake message 3 (initiator → responder).
    Handshake3,
    /// Encrypted data.
    Data,
}

impl ChannelKind {
    /// The kind byte.
    pub fn byte(self) -> u8 {
        match self {
            ChannelKind::Handshake1 => 0x01,
            ChannelKind::Handshake2 => 0x02,
            ChannelKind::Handshake3 => 0x03,
            ChannelKind::Data => 0x10,
        }
    }

    /// Parses the kind byte.
    pub fn from_byte(b: u8) -> Result<Self, DecodeError> {
        Ok(match b {
            0x01 => ChannelKind::Handshake1,
            0x02 => ChannelKind::Handshake2,
            0x03 => ChannelKind::Handshake3,
            0x10 => ChannelKind::Data,
            _ => {
                return Err(DecodeError::invalid(
                    "channel message kind",
                    format!("unknown kind 0x{b:02x}"),
                ))
            }
        })
    }
}

/// Inner kind byte: routed payload.
pub const INNER_PAYLOAD: u8 = 0x01;
/// Inner kind byte: close.
pub const INNER_CLOSE: u8 = 0x02;
/// Inner kind byte: credential refresh.
pub const INNER_REFRESH: u8 = 0x03;

/// A decrypted inner message.
#[derive(Debug, PartialEq, Eq)]
pub enum InnerMessage {
    /// A routed message for the receiving node.
    Payload {
        /// Remaining onward route on the receiving node.
        onward: Route,
        /// Return route as seen from the sender.
        ret: Route,
        /// The payload (in place in the receive buffer).
        payload: Packet,
    },
    /// The sender closed the channel.
    Close,
    /// The sender presents new credentials.
    RefreshCredentials(Vec<Vec<u8>>),
}

impl InnerMessage {
    /// Writes the header of a payload message in front of `payload` (in its headroom).
    pub fn prepend_payload_header(payload: &mut Packet, onward: &Route, ret: &Route) {
        let mut h = Vec::with_capacity(1 + onward.encoded_len() + ret.encoded_len());
        h.push(INNER_PAYLOAD);
        onward.encode(&mut h);
        ret.encode(&mut h);
        payload.prepend(&h);
    }

    /// Encodes a close message.
    pub fn close() -> Packet {
        Packet::copy_from(&[INNER_CLOSE])
    }

    /// Encodes a credential refresh.
    pub fn refresh(credentials: &[Vec<u8>]) -> Packet {
        let mut b = vec![INNER_REFRESH, credentials.len() as u8];
        for c in credentials {
            put_bytes16(&mut b, c);
        }
        Packet::copy_from(&b)
    }

    /// Decodes a plaintext in place.
    pub fn decode(mut plaintext: Packet) -> Result<Self, DecodeError> {
        let (msg, consumed) = {
            let mut r = Reader::new(plaintext.data());
            match r.u8("inner message kind")? {
                INNER_PAYLOAD => {
                    let onward = Route::decode(&mut r)?;
                    let ret = Route::decode(&mut r)?;
                    (Some((onward, ret)), r.position())
                }
                INNER_CLOSE => {
                    r.finish("close message")?;
                    return Ok(InnerMessage::Close);
                }
                INNER_REFRESH => {
                    let n = r.u8("credential count")?;
                    let mut creds = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        creds.push(r.bytes16("credential")?.to_vec());
                    }
                    r.finish("credential refresh")?;
                    return Ok(InnerMessage::RefreshCredentials(creds));
                }
                k => {
                    return Err(DecodeError::invalid(
                        "inner message kind",
                        format!("unknown kind 0x{k:02x}"),
                    ))
                }
            }
        };
        let (onward, ret) = msg.expect("payload");
        plaintext.advance(consumed);
        Ok(InnerMessage::Payload {
            onward,
            ret,
            payload: plaintext,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_wire::Address;

    #[test]
    fn payload_round_trip_in_place() {
        let mut p = Packet::copy_from(b"data");
        let onward = Route::single(Address::new("echo").unwrap());
        let ret = Route::single(Address::new("r1").unwrap());
        InnerMessage::prepend_payload_header(&mut p, &onward, &ret);
        assert_eq!(p.data(), b"\x01\x01\x04echo\x01\x02r1data");
        match InnerMessage::decode(p).unwrap() {
            InnerMessage::Payload {
                onward: o,
                ret: r,
                payload,
            } => {
                assert_eq!(o, onward);
                assert_eq!(r, ret);
                assert_eq!(payload.data(), b"data");
            }
            m => panic!("{m:?}"),
        }
    }

    #[test]
    fn refresh_and_close_round_trip() {
        let creds = vec![b"c1".to_vec(), vec![7; 300]];
        assert_eq!(
            InnerMessage::decode(InnerMessage::refresh(&creds)).unwrap(),
            InnerMessage::RefreshCredentials(creds)
        );
        assert_eq!(
            InnerMessage::decode(InnerMessage::close()).unwrap(),
            InnerMessage::Close
        );
        assert!(InnerMessage::decode(Packet::copy_from(&[0x02, 0])).is_err());
        assert!(InnerMessage::decode(Packet::copy_from(&[])).is_err());
    }
}
