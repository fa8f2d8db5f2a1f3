//! Channel message encodings.
//!
//! Outer (what crosses the route, visible to relays): one kind byte, then
//! * `0x01..=0x03` handshake message 1..3 (Noise bytes);
//! * `0x04` abort notice: `code u8 ‖ UTF-8 reason` ([`AbortNotice`]; unauthenticated);
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
    /// Abort notice (responder → initiator, unauthenticated): see [`AbortNotice`].
    Abort,
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
            ChannelKind::Abort => 0x04,
            ChannelKind::Data => 0x10,
        }
    }

    /// Parses the kind byte.
    pub fn from_byte(b: u8) -> Result<Self, DecodeError> {
        Ok(match b {
            0x01 => ChannelKind::Handshake1,
            0x02 => ChannelKind::Handshake2,
            0x03 => ChannelKind::Handshake3,
            0x04 => ChannelKind::Abort,
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

/// Why a handshake was aborted: the code byte of an [`AbortNotice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortCode {
    /// `0x01`: the sender authenticated the initiator and refuses it (trust policy, revoked
    /// member); retrying will not help until the sender's configuration changes.
    Refused,
    /// `0x02`: anything else (nothing at the address, a malformed handshake); worth retrying.
    /// Unknown code bytes decode as this.
    Failed,
}

impl AbortCode {
    /// The code byte.
    pub fn byte(self) -> u8 {
        match self {
            AbortCode::Refused => 0x01,
            AbortCode::Failed => 0x02,
        }
    }

    /// Parses a code byte; unknown codes count as [`AbortCode::Failed`] (docs/protocol.md §5.4).
    pub fn from_byte(b: u8) -> Self {
        match b {
            0x01 => AbortCode::Refused,
            _ => AbortCode::Failed,
        }
    }
}

/// The outer abort notice `0x04 ‖ code ‖ UTF-8 reason` (docs/protocol.md §5.4, §9.6).
///
/// Sent without encryption by a responder whose handshake failed, and by a node that has nothing
/// (or nothing this message may reach) at the address a handshake message 1 — or anything that
/// starts like one, such as a portal `Hello` — was sent to. It is informational: it can end a
/// handshake that has not authenticated its peer, or a portal link still waiting for its
/// `HelloAck`, and nothing else. Like a TCP RST, anyone on the path can forge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbortNotice {
    /// Whether retrying can help.
    pub code: AbortCode,
    /// Human-readable reason (at most [`AbortNotice::MAX_REASON_CHARS`] characters once decoded).
    pub reason: String,
}

impl AbortNotice {
    /// A receiver keeps (and shows) at most this many characters of the reason.
    pub const MAX_REASON_CHARS: usize = 200;

    /// A notice with code [`AbortCode::Refused`].
    pub fn refused(reason: impl Into<String>) -> Self {
        AbortNotice {
            code: AbortCode::Refused,
            reason: reason.into(),
        }
    }

    /// A notice with code [`AbortCode::Failed`].
    pub fn failed(reason: impl Into<String>) -> Self {
        AbortNotice {
            code: AbortCode::Failed,
            reason: reason.into(),
        }
    }

    /// True if `bytes` starts with the abort kind byte (a cheap check before [`Self::decode`]).
    pub fn is_abort(bytes: &[u8]) -> bool {
        bytes.first() == Some(&ChannelKind::Abort.byte())
    }

    /// Encodes `0x04 ‖ code ‖ reason`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(2 + self.reason.len());
        v.push(ChannelKind::Abort.byte());
        v.push(self.code.byte());
        v.extend_from_slice(self.reason.as_bytes());
        v
    }

    /// Decodes a notice. The kind byte must be `0x04` and the code byte present; unknown codes
    /// are [`AbortCode::Failed`]; the reason is decoded lossily (it is only shown) and cut to
    /// [`AbortNotice::MAX_REASON_CHARS`] characters.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let kind = r.u8("channel message kind")?;
        if kind != ChannelKind::Abort.byte() {
            return Err(DecodeError::invalid(
                "abort notice",
                format!("kind 0x{kind:02x} is not an abort notice (0x04)"),
            ));
        }
        let code = AbortCode::from_byte(r.u8("abort code")?);
        let text = &bytes[r.position()..];
        let reason = String::from_utf8_lossy(text)
            .chars()
            .take(Self::MAX_REASON_CHARS)
            .collect();
        Ok(AbortNotice { code, reason })
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
    fn abort_notice_round_trip_and_limits() {
        let n = AbortNotice::failed("no outlet");
        let bytes = n.encode();
        assert_eq!(bytes, b"\x04\x02no outlet");
        assert_eq!(AbortNotice::decode(&bytes).unwrap(), n);
        assert!(AbortNotice::is_abort(&bytes));
        assert_eq!(
            ChannelKind::from_byte(bytes[0]).unwrap(),
            ChannelKind::Abort
        );
        let r = AbortNotice::refused("revoked");
        assert_eq!(AbortNotice::decode(&r.encode()).unwrap(), r);
        // Unknown codes count as failed; no code byte is an error; so is another kind.
        assert_eq!(
            AbortNotice::decode(b"\x04\x7fx").unwrap(),
            AbortNotice::failed("x")
        );
        assert!(AbortNotice::decode(b"\x04").is_err());
        assert!(AbortNotice::decode(b"").is_err());
        assert!(AbortNotice::decode(b"\x11\x02x").is_err());
        assert!(!AbortNotice::is_abort(b"\x11\x02x"));
        // Invalid UTF-8 is shown lossily; long reasons are cut.
        assert_eq!(
            AbortNotice::decode(b"\x04\x02a\xffb").unwrap().reason,
            "a\u{fffd}b"
        );
        let long = AbortNotice::failed("x".repeat(1000)).encode();
        assert_eq!(
            AbortNotice::decode(&long).unwrap().reason.chars().count(),
            AbortNotice::MAX_REASON_CHARS
        );
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
