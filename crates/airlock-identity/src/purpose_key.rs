//! Purpose keys: X25519 keys for secure channels, attested by the identity key.

use crate::{Identifier, IdentityError, IdentitySecret, VerifiedIdentity};
use airlock_wire::codec::{DecodeError, Reader};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use x25519_dalek::{PublicKey, StaticSecret};

/// Default lifetime of a secure-channel purpose key: 30 days.
pub const DEFAULT_PURPOSE_KEY_TTL: u64 = 30 * 24 * 3600;
const ATTESTATION_CONTEXT: &[u8] = b"airlock/purpose-key/v1";
/// Purpose code for secure-channel keys.
const PURPOSE_SECURE_CHANNEL: u8 = 1;
/// Encoded length of an attestation.
pub const ATTESTATION_LEN: usize = 1 + 20 + 1 + 32 + 8 + 8 + 64;

/// A statement, signed by an identity's current key: "this X25519 key is mine until `expires_at`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurposeKeyAttestation {
    /// The identity that owns the key.
    pub identifier: Identifier,
    /// The X25519 public key.
    pub public_key: [u8; 32],
    /// Creation, Unix seconds.
    pub created_at: u64,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// Ed25519 signature over the context and the fields above.
    pub signature: [u8; 64],
}

impl PurposeKeyAttestation {
    fn signed_part(&self) -> Vec<u8> {
        let mut m = ATTESTATION_CONTEXT.to_vec();
        m.push(1);
        m.extend_from_slice(&self.identifier.0);
        m.push(PURPOSE_SECURE_CHANNEL);
        m.extend_from_slice(&self.public_key);
        m.extend_from_slice(&self.created_at.to_be_bytes());
        m.extend_from_slice(&self.expires_at.to_be_bytes());
        m
    }

    /// Fixed-size encoding: `version(1)=1 ‖ identifier(20) ‖ purpose(1)=1 ‖ key(32) ‖ created(8) ‖ expires(8) ‖ sig(64)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.signed_part()[ATTESTATION_CONTEXT.len()..].to_vec();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes (does not verify).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = r.u8("attestation version")?;
        if v != 1 {
            return Err(DecodeError::invalid("attestation version", v));
        }
        let identifier = Identifier(r.array("attested identifier")?);
        let purpose = r.u8("purpose")?;
        if purpose != PURPOSE_SECURE_CHANNEL {
            return Err(DecodeError::invalid(
                "purpose",
                format!("unknown purpose {purpose}"),
            ));
        }
        Ok(PurposeKeyAttestation {
            identifier,
            public_key: r.array("purpose public key")?,
            created_at: r.u64("attestation created_at")?,
            expires_at: r.u64("attestation expires_at")?,
            signature: r.array("attestation signature")?,
        })
    }

    /// Checks the attestation against a verified identity at time `now`; returns the attested key.
    pub fn verify(&self, owner: &VerifiedIdentity, now: u64) -> Result<[u8; 32], IdentityError> {
        if self.identifier != owner.identifier {
            return Err(IdentityError::BadAttestation(format!(
                "attests a key for {} but was presented by {}",
                self.identifier, owner.identifier
            )));
        }
        if now > self.expires_at {
            return Err(IdentityError::BadAttestation(format!(
                "the purpose key expired {}",
                airlock_wire::time::relative(self.expires_at, now)
            )));
        }
        if self.created_at > now + 300 {
            return Err(IdentityError::BadAttestation(
                "the purpose key was created in the future".into(),
            ));
        }
        let key = VerifyingKey::from_bytes(&owner.current_key)
            .map_err(|_| IdentityError::BadAttestation("bad identity key".into()))?;
        key.verify(&self.signed_part(), &Signature::from_bytes(&self.signature))
            .map_err(|_| IdentityError::BadAttestation("signature does not verify".into()))?;
        Ok(self.public_key)
    }
}

/// An X25519 secret with its attestation.
#[derive(Clone)]
pub struct PurposeKeySecret {
    secret: StaticSecret,
    /// The attestation presented to peers.
    pub attestation: PurposeKeyAttestation,
}

impl std::fmt::Debug for PurposeKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PurposeKeySecret(expires_at={})",
            self.attestation.expires_at
        )
    }
}

impl PurposeKeySecret {
    /// Generates a key and has `identity` attest it for `ttl` seconds from `now`.
    pub fn create(identity: &IdentitySecret, now: u64, ttl: u64) -> Self {
        let secret = StaticSecret::random_from_rng(rand::rngs::OsRng);
        Self::attest(identity, secret, now, ttl)
    }

    fn attest(identity: &IdentitySecret, secret: StaticSecret, now: u64, ttl: u64) -> Self {
        let mut attestation = PurposeKeyAttestation {
            identifier: identity.identifier(),
            public_key: PublicKey::from(&secret).to_bytes(),
            created_at: now,
            expires_at: now + ttl,
            signature: [0; 64],
        };
        attestation.signature = identity.sign(&attestation.signed_part());
        PurposeKeySecret {
            secret,
            attestation,
        }
    }

    /// The raw X25519 private key (for the Noise handshake).
    pub fn private_bytes(&self) -> [u8; 32] {
        self.secret.to_bytes()
    }

    /// True when less than a tenth of the lifetime is left: time to rotate.
    pub fn needs_rotation(&self, now: u64) -> bool {
        let life = self
            .attestation
            .expires_at
            .saturating_sub(self.attestation.created_at);
        now + life / 10 >= self.attestation.expires_at
    }

    /// Storage encoding: `secret(32) ‖ attestation`.
    pub fn to_secret_bytes(&self) -> Vec<u8> {
        let mut out = self.secret.to_bytes().to_vec();
        out.extend_from_slice(&self.attestation.encode());
        out
    }

    /// Restores from [`PurposeKeySecret::to_secret_bytes`].
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, IdentityError> {
        let mut r = Reader::new(bytes);
        let secret = StaticSecret::from(r.array::<32>("purpose secret")?);
        let attestation = PurposeKeyAttestation::decode(&mut r)?;
        r.finish("purpose key")?;
        if PublicKey::from(&secret).to_bytes() != attestation.public_key {
            return Err(IdentityError::BadAttestation(
                "stored secret does not match the attestation".into(),
            ));
        }
        Ok(PurposeKeySecret {
            secret,
            attestation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const NOW: u64 = 1_800_000_000;

    #[test]
    fn attestation_verifies_and_binds_identity() {
        let id = IdentitySecret::create(NOW);
        let pk = PurposeKeySecret::create(&id, NOW, 3600);
        let v = id.history().verify(NOW).unwrap();
        assert_eq!(
            pk.attestation.verify(&v, NOW).unwrap(),
            pk.attestation.public_key
        );
        assert_eq!(pk.attestation.encode().len(), ATTESTATION_LEN);

        let other = IdentitySecret::create(NOW).history().verify(NOW).unwrap();
        assert!(pk.attestation.verify(&other, NOW).is_err());
        assert!(pk.attestation.verify(&v, NOW + 3601).is_err());

        let mut forged = pk.attestation.clone();
        forged.public_key[0] ^= 1;
        assert!(forged.verify(&v, NOW).is_err());
    }

    #[test]
    fn attestation_after_rotation_needs_new_key() {
        let mut id = IdentitySecret::create(NOW);
        let pk = PurposeKeySecret::create(&id, NOW, 3600);
        id.rotate(NOW + 1).unwrap();
        let v = id.history().verify(NOW + 1).unwrap();
        assert!(pk.attestation.verify(&v, NOW + 1).is_err());
        let pk2 = PurposeKeySecret::create(&id, NOW + 1, 3600);
        assert!(pk2.attestation.verify(&v, NOW + 1).is_ok());
    }

    #[test]
    fn rotation_due_near_expiry() {
        let id = IdentitySecret::create(NOW);
        let pk = PurposeKeySecret::create(&id, NOW, 1000);
        assert!(!pk.needs_rotation(NOW + 800));
        assert!(pk.needs_rotation(NOW + 901));
        let back = PurposeKeySecret::from_secret_bytes(&pk.to_secret_bytes()).unwrap();
        assert_eq!(back.attestation, pk.attestation);
    }
}
