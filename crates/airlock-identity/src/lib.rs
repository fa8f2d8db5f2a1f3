//! Airlock identities.
//!
//! An identity is an Ed25519 signing key plus its *change history*: a chain of signed changes, one
//! per key. The first change fixes the [`Identifier`] (a hash of it), so the identifier survives key
//! rotation: a rotation appends a change signed by both the old and the new key.
//!
//! Secure channels do not use the Ed25519 key directly. Each identity attests an X25519
//! *purpose key* ([`PurposeKeyAttestation`]) with an expiry; a peer accepts a Noise static key only
//! if it equals the attested key of a valid history.
//!
//! Everything here is pure: time is passed in as Unix seconds, randomness comes from the OS RNG.

#![warn(missing_docs)]

mod history;
mod identifier;
mod purpose_key;

pub use history::{Change, ChangeHistory, IdentityError, IdentitySecret, VerifiedIdentity};
pub use identifier::Identifier;
pub use purpose_key::{
    PurposeKeyAttestation, PurposeKeySecret, ATTESTATION_LEN, DEFAULT_PURPOSE_KEY_TTL,
};

/// Identity keys are valid for this long after their change is created (10 years).
pub const IDENTITY_KEY_TTL: u64 = 10 * 365 * 24 * 3600;
