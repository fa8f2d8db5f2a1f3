//! The Airlock secure channel, as a sans-IO core.
//!
//! * [`handshake`] — Noise `XX_25519_AESGCM_SHA256` (via the `snow` crate) whose messages 2 and 3
//!   carry each side's change history, purpose-key attestation and credentials. The peer's Noise
//!   static key must equal its attested purpose key, and a [`TrustPolicy`] decides whether the
//!   authenticated identifier is acceptable.
//! * [`cipher`] — the transport after the handshake: AES-256-GCM in place on caller-owned
//!   packets, 64-bit explicit nonces, a sliding replay window, and deterministic rekeying by
//!   nonce epoch (so both sides agree on the key without extra messages).
//! * [`message`] — the channel's outer kinds (handshake / abort notice / data) and inner plaintext messages
//!   (routed payload, close, credential refresh).
//!
//! Nothing here touches sockets or clocks; the node runtime drives it.

#![warn(missing_docs)]

pub mod cipher;
pub mod handshake;
pub mod message;
mod replay;

pub use cipher::{CipherError, RecvCipher, RekeyPolicy, SendCipher};
pub use handshake::{
    Handshake, HandshakeError, HandshakeStep, LocalIdentity, PeerIdentity, Role, TrustPolicy,
};
pub use message::{AbortCode, AbortNotice, ChannelKind, InnerMessage};
pub use replay::ReplayWindow;
