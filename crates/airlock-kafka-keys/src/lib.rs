//! The keys of Kafka record encryption (docs/kafka-encryption.md §3), as a sans-IO core.
//!
//! * [`consumer_key`] — a consuming node's X25519 key pair, attested by its identity with a
//!   purpose-key attestation (docs/protocol.md §4.5, purpose `kafka-consumer`).
//! * [`grant`] — a data key (DEK) sealed to one consumer key with HPKE (RFC 9180: base mode,
//!   DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM), and the producer's signature over it.
//! * [`record`] — the key record a producer stores in the project's key directory: who made the
//!   DEK, for which topic, and one signed grant per admitted consumer.
//!
//! Everything here encodes, decodes, seals, opens, signs and verifies; time is passed in as Unix
//! seconds and randomness as an RNG, so tests can fix both (the test vector in
//! docs/kafka-encryption.md §9 is checked that way). Decoders take hostile bytes and answer with
//! a [`KeyError`], never a panic. Storage and transport (the `kafka_keys` directory service) live
//! in `airlock-project`; the record blobs that use a DEK live in `airlock-kafka`.
//!
//! A separate crate, not a module of `airlock-credential`: these keys are no credential (nothing
//! here is issued by an authority), they bring their own cryptography (HPKE, AES-GCM) that the
//! credential core, linked into every node, does not need, and both the Kafka inlet and the
//! project's directory depend on them without depending on each other.

#![deny(missing_docs)]

pub mod consumer_key;
pub mod grant;
pub mod record;

pub use consumer_key::{ConsumerKey, ConsumerKeyAttestation, CONSUMER_KEY_ATTESTATION_LEN};
pub use grant::{Grant, GrantAddition, SignedGrant, GRANT_ADDITION_LEN, GRANT_LEN};
/// The RNG traits [`Grant::seal_with`] takes (rand_core 0.9, as `hpke` uses).
pub use rand_core;
pub use record::{KeyRecord, MAX_GRANTS};

use airlock_identity::Identifier;
use airlock_wire::codec::DecodeError;

/// Default lifetime of a consumer key attestation: 30 days, as secure-channel purpose keys.
pub const DEFAULT_CONSUMER_KEY_TTL: u64 = 30 * 24 * 3600;
/// Longest Kafka topic name (Kafka's own limit).
pub const MAX_TOPIC_LEN: usize = 249;

/// The name of one DEK: 8 random bytes, unique in a project's key directory.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl std::str::FromStr for KeyId {
    type Err = KeyError;
    /// 16 lowercase or uppercase hex digits.
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let mut id = [0u8; 8];
        hex::decode_to_slice(s, &mut id)
            .map_err(|_| KeyError::Invalid(format!("key id {s:.32?} is not 16 hex digits")))?;
        Ok(KeyId(id))
    }
}

/// A data encryption key: 32 bytes for AES-256-GCM. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Dek(pub [u8; 32]);

impl std::fmt::Debug for Dek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dek(…)")
    }
}

/// Why a key, grant or record was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes do not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A value is out of range (topic name, grant count, key id text).
    #[error("{0}")]
    Invalid(String),
    /// The consumer key attestation does not hold for this identity now (the reason says why).
    #[error("consumer key attestation refused: {0}")]
    BadAttestation(String),
    /// A signature does not verify with the signer's current key.
    #[error("the {what} is not signed by {signer}")]
    BadSignature {
        /// What was signed (`key record`, `grant`).
        what: &'static str,
        /// Who should have signed it.
        signer: Identifier,
    },
    /// The record or grant names another producer, key id or recipient than expected.
    #[error("{0}")]
    Mismatch(String),
    /// HPKE could not seal to this public key (it is not a usable X25519 key).
    #[error("cannot seal a grant to this consumer key: {0}")]
    Seal(String),
    /// The grant does not open with this consumer key for this key id and topic.
    #[error(
        "the grant does not open with this consumer key (wrong key, key id or topic, or tampered)"
    )]
    Open,
}

/// Checks a Kafka topic name: 1–249 of `[A-Za-z0-9._-]`, as Kafka requires.
pub fn check_topic(topic: &str) -> Result<(), KeyError> {
    let ok = !topic.is_empty()
        && topic.len() <= MAX_TOPIC_LEN
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(KeyError::Invalid(format!(
            "invalid Kafka topic name {:.64?}: 1-{MAX_TOPIC_LEN} of [A-Za-z0-9._-]",
            topic
        )))
    }
}

/// Verifies an Ed25519 `signature` by `key` over `msg`.
pub(crate) fn verify_signature(key: &[u8; 32], msg: &[u8], signature: &[u8; 64]) -> bool {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    VerifyingKey::from_bytes(key)
        .is_ok_and(|k| k.verify(msg, &Signature::from_bytes(signature)).is_ok())
}
