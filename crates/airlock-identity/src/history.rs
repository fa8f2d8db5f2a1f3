//! Change histories: creation, rotation, encoding and verification.

use crate::{Identifier, IDENTITY_KEY_TTL};
use airlock_wire::codec::{put_bytes16, DecodeError, Reader};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// Domain-separation prefix of change signatures.
const CHANGE_CONTEXT: &[u8] = b"airlock/change/v1";
/// Encoded size of a change's signed data.
const CHANGE_DATA_LEN: usize = 1 + 32 + 32 + 8 + 8;
/// Maximum number of changes (key rotations + 1) in one history.
pub const MAX_CHANGES: usize = 64;

/// Everything that can go wrong with an identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The encoding is malformed.
    #[error("malformed identity: {0}")]
    Decode(#[from] DecodeError),
    /// A signature does not verify.
    #[error("invalid signature on change {index} of the identity history")]
    BadSignature {
        /// Index of the change.
        index: usize,
    },
    /// A change does not point at its predecessor.
    #[error("change {index} does not follow change {prev}", prev = index - 1)]
    BrokenChain {
        /// Index of the change.
        index: usize,
    },
    /// The newest key has expired.
    #[error("the identity's current key expired {}", airlock_wire::time::relative(*expires_at, *now))]
    Expired {
        /// Expiry, Unix seconds.
        expires_at: u64,
        /// Current time, Unix seconds.
        now: u64,
    },
    /// The text is not an identifier.
    #[error("{0:?} is not an identifier (expected I followed by 40 hex digits)")]
    BadIdentifier(String),
    /// A purpose key attestation is not valid.
    #[error("purpose key attestation rejected: {0}")]
    BadAttestation(String),
}

/// The signed data of one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// SHA-256 of the previous change's data; zeros for the first change.
    pub prev_hash: [u8; 32],
    /// The Ed25519 public key this change introduces.
    pub public_key: [u8; 32],
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Expiry of the key, Unix seconds.
    pub expires_at: u64,
}

impl Change {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CHANGE_DATA_LEN);
        out.push(1);
        out.extend_from_slice(&self.prev_hash);
        out.extend_from_slice(&self.public_key);
        out.extend_from_slice(&self.created_at.to_be_bytes());
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = r.u8("change version")?;
        if v != 1 {
            return Err(DecodeError::invalid(
                "change version",
                format!("version {v} is not supported"),
            ));
        }
        let c = Change {
            prev_hash: r.array("previous change hash")?,
            public_key: r.array("public key")?,
            created_at: r.u64("created_at")?,
            expires_at: r.u64("expires_at")?,
        };
        r.finish("change")?;
        Ok(c)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SignedChange {
    data: Vec<u8>,
    self_signature: [u8; 64],
    prev_signature: Option<[u8; 64]>,
}

fn signed_message(data: &[u8]) -> Vec<u8> {
    let mut m = CHANGE_CONTEXT.to_vec();
    m.extend_from_slice(data);
    m
}

/// A chain of signed changes: the public part of an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeHistory {
    changes: Vec<SignedChange>,
}

/// A change history that verified, with the facts a peer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The stable identifier.
    pub identifier: Identifier,
    /// The current (newest) Ed25519 public key.
    pub current_key: [u8; 32],
    /// Expiry of the current key.
    pub expires_at: u64,
    /// The verified history.
    pub history: ChangeHistory,
}

impl ChangeHistory {
    /// The identifier (hash of the first change).
    pub fn identifier(&self) -> Identifier {
        let h = Sha256::digest(&self.changes[0].data);
        let mut id = [0u8; 20];
        id.copy_from_slice(&h[..20]);
        Identifier(id)
    }

    /// Number of changes (1 + number of rotations).
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Always false: a history has at least one change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The decoded changes, oldest first.
    pub fn changes(&self) -> Vec<Change> {
        self.changes
            .iter()
            .map(|c| Change::decode(&c.data).expect("validated at construction"))
            .collect()
    }

    /// Binary encoding: `u8 count`, then per change `u16 len ‖ data ‖ sig(64) ‖ has_prev(1) [‖ prev_sig(64)]`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.changes.len() * 220);
        out.push(self.changes.len() as u8);
        for c in &self.changes {
            put_bytes16(&mut out, &c.data);
            out.extend_from_slice(&c.self_signature);
            match &c.prev_signature {
                Some(s) => {
                    out.push(1);
                    out.extend_from_slice(s);
                }
                None => out.push(0),
            }
        }
        out
    }

    /// Decodes (does not verify signatures; call [`ChangeHistory::verify`]).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, IdentityError> {
        let n = r.u8("change count")? as usize;
        if n == 0 || n > MAX_CHANGES {
            return Err(DecodeError::invalid(
                "change count",
                format!("{n} changes (must be 1..={MAX_CHANGES})"),
            )
            .into());
        }
        let mut changes = Vec::with_capacity(n);
        for _ in 0..n {
            let data = r.bytes16("change data")?.to_vec();
            Change::decode(&data)?;
            let self_signature = r.array("change signature")?;
            let prev_signature = match r.u8("previous-signature flag")? {
                0 => None,
                1 => Some(r.array("previous-key signature")?),
                f => {
                    return Err(DecodeError::invalid(
                        "previous-signature flag",
                        format!("value {f} (must be 0 or 1)"),
                    )
                    .into())
                }
            };
            changes.push(SignedChange {
                data,
                self_signature,
                prev_signature,
            });
        }
        Ok(ChangeHistory { changes })
    }

    /// Decodes a complete byte string (no trailing bytes) and verifies it.
    pub fn import(bytes: &[u8], now: u64) -> Result<VerifiedIdentity, IdentityError> {
        let mut r = Reader::new(bytes);
        let h = ChangeHistory::decode(&mut r)?;
        r.finish("change history")?;
        h.verify(now)
    }

    /// Checks every signature and link, and that the newest key has not expired.
    pub fn verify(&self, now: u64) -> Result<VerifiedIdentity, IdentityError> {
        let mut prev: Option<(Change, VerifyingKey, [u8; 32])> = None;
        for (index, sc) in self.changes.iter().enumerate() {
            let change = Change::decode(&sc.data)?;
            let key = VerifyingKey::from_bytes(&change.public_key)
                .map_err(|_| IdentityError::BadSignature { index })?;
            let msg = signed_message(&sc.data);
            key.verify(&msg, &Signature::from_bytes(&sc.self_signature))
                .map_err(|_| IdentityError::BadSignature { index })?;
            match (&prev, &sc.prev_signature) {
                (None, None) => {
                    if change.prev_hash != [0u8; 32] {
                        return Err(IdentityError::BrokenChain { index });
                    }
                }
                (Some((pc, pkey, phash)), Some(psig)) => {
                    if change.prev_hash != *phash || change.created_at < pc.created_at {
                        return Err(IdentityError::BrokenChain { index });
                    }
                    pkey.verify(&msg, &Signature::from_bytes(psig))
                        .map_err(|_| IdentityError::BadSignature { index })?;
                }
                _ => return Err(IdentityError::BrokenChain { index }),
            }
            let hash: [u8; 32] = Sha256::digest(&sc.data).into();
            prev = Some((change, key, hash));
        }
        let (last, _, _) = prev.expect("history has at least one change");
        if now > last.expires_at {
            return Err(IdentityError::Expired {
                expires_at: last.expires_at,
                now,
            });
        }
        Ok(VerifiedIdentity {
            identifier: self.identifier(),
            current_key: last.public_key,
            expires_at: last.expires_at,
            history: self.clone(),
        })
    }

    /// The export string: `airlock-identity:` followed by the hex encoding.
    pub fn export(&self) -> String {
        format!("airlock-identity:{}", hex::encode(self.encode()))
    }

    /// Parses and verifies an export string.
    pub fn import_text(text: &str, now: u64) -> Result<VerifiedIdentity, IdentityError> {
        let body = text
            .trim()
            .strip_prefix("airlock-identity:")
            .ok_or_else(|| {
                DecodeError::invalid("identity export", "must start with 'airlock-identity:'")
            })?;
        let bytes = hex::decode(body)
            .map_err(|e| DecodeError::invalid("identity export", format!("not hex: {e}")))?;
        ChangeHistory::import(&bytes, now)
    }
}

/// The private part of an identity: its history and current signing key.
#[derive(Clone)]
pub struct IdentitySecret {
    history: ChangeHistory,
    signing_key: SigningKey,
}

impl std::fmt::Debug for IdentitySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdentitySecret({})", self.identifier())
    }
}

impl IdentitySecret {
    /// Creates a new identity at time `now`.
    pub fn create(now: u64) -> Self {
        let signing_key = SigningKey::generate(&mut rand::rngs::OsRng);
        let change = Change {
            prev_hash: [0; 32],
            public_key: signing_key.verifying_key().to_bytes(),
            created_at: now,
            expires_at: now + IDENTITY_KEY_TTL,
        };
        let data = change.encode();
        let self_signature = signing_key.sign(&signed_message(&data)).to_bytes();
        IdentitySecret {
            history: ChangeHistory {
                changes: vec![SignedChange {
                    data,
                    self_signature,
                    prev_signature: None,
                }],
            },
            signing_key,
        }
    }

    /// Replaces the signing key with a fresh one, appending a change signed by both keys.
    /// The identifier does not change.
    pub fn rotate(&mut self, now: u64) -> Result<(), IdentityError> {
        if self.history.changes.len() >= MAX_CHANGES {
            return Err(DecodeError::invalid("change count", "too many rotations").into());
        }
        let new_key = SigningKey::generate(&mut rand::rngs::OsRng);
        let prev = self.history.changes.last().expect("non-empty");
        let change = Change {
            prev_hash: Sha256::digest(&prev.data).into(),
            public_key: new_key.verifying_key().to_bytes(),
            created_at: now,
            expires_at: now + IDENTITY_KEY_TTL,
        };
        let data = change.encode();
        let msg = signed_message(&data);
        let self_signature = new_key.sign(&msg).to_bytes();
        let prev_signature = Some(self.signing_key.sign(&msg).to_bytes());
        self.history.changes.push(SignedChange {
            data,
            self_signature,
            prev_signature,
        });
        self.signing_key = new_key;
        Ok(())
    }

    /// The identifier.
    pub fn identifier(&self) -> Identifier {
        self.history.identifier()
    }

    /// The public history.
    pub fn history(&self) -> &ChangeHistory {
        &self.history
    }

    /// Signs `msg` with the current key.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing_key.sign(msg).to_bytes()
    }

    /// Storage encoding: `32-byte secret key ‖ history`.
    pub fn to_secret_bytes(&self) -> Vec<u8> {
        let mut out = self.signing_key.to_bytes().to_vec();
        out.extend_from_slice(&self.history.encode());
        out
    }

    /// Restores from [`IdentitySecret::to_secret_bytes`], checking the key matches the history.
    pub fn from_secret_bytes(bytes: &[u8], now: u64) -> Result<Self, IdentityError> {
        let mut r = Reader::new(bytes);
        let sk: [u8; 32] = r.array("secret key")?;
        let history = ChangeHistory::decode(&mut r)?;
        r.finish("identity secret")?;
        let verified = history.verify(now)?;
        let signing_key = SigningKey::from_bytes(&sk);
        if signing_key.verifying_key().to_bytes() != verified.current_key {
            return Err(IdentityError::BadSignature {
                index: history.len() - 1,
            });
        }
        Ok(IdentitySecret {
            history,
            signing_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn create_verify_and_export() {
        let id = IdentitySecret::create(NOW);
        let v = id.history().verify(NOW).unwrap();
        assert_eq!(v.identifier, id.identifier());
        let text = id.history().export();
        let back = ChangeHistory::import_text(&text, NOW).unwrap();
        assert_eq!(back.identifier, id.identifier());
    }

    #[test]
    fn rotation_keeps_identifier_and_changes_key() {
        let mut id = IdentitySecret::create(NOW);
        let before = id.history().verify(NOW).unwrap();
        id.rotate(NOW + 10).unwrap();
        let after = ChangeHistory::import(&id.history().encode(), NOW + 10).unwrap();
        assert_eq!(before.identifier, after.identifier);
        assert_ne!(before.current_key, after.current_key);
        assert_eq!(after.history.len(), 2);
        let restored = IdentitySecret::from_secret_bytes(&id.to_secret_bytes(), NOW + 10).unwrap();
        assert_eq!(restored.identifier(), id.identifier());
    }

    #[test]
    fn tampering_is_detected() {
        let mut id = IdentitySecret::create(NOW);
        id.rotate(NOW + 1).unwrap();
        let good = id.history().encode();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert!(
                ChangeHistory::import(&bad, NOW + 1).is_err(),
                "flipping byte {i} was not detected"
            );
        }
    }

    #[test]
    fn dropping_the_rotation_signature_breaks_the_chain() {
        let mut id = IdentitySecret::create(NOW);
        id.rotate(NOW + 1).unwrap();
        let mut h = id.history().clone();
        h.changes[1].prev_signature = None;
        assert_eq!(
            h.verify(NOW + 1),
            Err(IdentityError::BrokenChain { index: 1 })
        );
    }

    #[test]
    fn expired_key_is_refused() {
        let id = IdentitySecret::create(NOW);
        assert!(matches!(
            id.history().verify(NOW + IDENTITY_KEY_TTL + 1),
            Err(IdentityError::Expired { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn decoding_garbage_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = ChangeHistory::import(&data, NOW);
            let _ = IdentitySecret::from_secret_bytes(&data, NOW);
        }
    }
}
