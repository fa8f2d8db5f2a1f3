//! A routed message as a stream stores it (one Kafka record value per message).

use airlock_wire::{DecodeError, Reader, Route};

/// Version byte of a stored message.
pub const STORED_VERSION: u8 = 1;

/// A routed message kept in a stream: where it goes on the reading node, where answers go (as
/// the reading node should see it, before the reader's own address), and the payload.
///
/// Layout: `version(1) = 1 ‖ onward route ‖ return route ‖ payload (the rest)`, routes as in
/// docs/protocol.md §2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The route on the reading node.
    pub onward: Route,
    /// The return route.
    pub ret: Route,
    /// The payload (for a secure channel: a handshake or data message, already encrypted).
    pub payload: Vec<u8>,
}

impl StoredMessage {
    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            1 + self.onward.encoded_len() + self.ret.encoded_len() + self.payload.len(),
        );
        Self::encode_parts(&self.onward, &self.ret, &self.payload, &mut out);
        out
    }

    /// Appends the encoding of a message given by parts (no copy of the routes).
    pub fn encode_parts(onward: &Route, ret: &Route, payload: &[u8], out: &mut Vec<u8>) {
        out.push(STORED_VERSION);
        onward.encode(out);
        ret.encode(out);
        out.extend_from_slice(payload);
    }

    /// Decodes a stored message; an unknown version, a bad route or an empty onward route is an
    /// error.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = r.u8("stored message version")?;
        if v != STORED_VERSION {
            return Err(DecodeError::invalid(
                "stored message version",
                format!("{v} (this node reads version {STORED_VERSION})"),
            ));
        }
        let onward = Route::decode(&mut r)?;
        if onward.is_empty() {
            return Err(DecodeError::invalid(
                "stored message",
                "empty onward route: the message goes nowhere",
            ));
        }
        let ret = Route::decode(&mut r)?;
        let payload = r.rest().to_vec();
        Ok(StoredMessage {
            onward,
            ret,
            payload,
        })
    }
}
