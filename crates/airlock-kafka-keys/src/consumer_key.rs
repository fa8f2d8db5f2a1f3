//! Consumer keys: the X25519 key pair a consuming node receives DEKs under.
//!
//! The public half travels as a purpose-key attestation (docs/protocol.md §4.5) with purpose
//! `0x02` (`kafka-consumer`): the same 134 bytes and the same signature context as a
//! secure-channel purpose key, so the purpose byte (which is signed) keeps the two apart — a
//! secure-channel decoder refuses purpose `0x02`, this one refuses `0x01`. Only the identity's
//! current key can attest, so nobody can publish a consumer key in another identity's name.

use crate::{Dek, KeyError};
use airlock_identity::{Identifier, IdentitySecret, VerifiedIdentity};
use airlock_wire::codec::{DecodeError, Reader};
use x25519_dalek::{PublicKey, StaticSecret};

/// Signature context shared with secure-channel purpose keys (§4.5).
const ATTESTATION_CONTEXT: &[u8] = b"airlock/purpose-key/v1";
/// Purpose code of Kafka consumer keys.
pub const PURPOSE_KAFKA_CONSUMER: u8 = 2;
/// Encoded length of a consumer key attestation.
pub const CONSUMER_KEY_ATTESTATION_LEN: usize = 1 + 20 + 1 + 32 + 8 + 8 + 64;
/// Clock skew allowed on `created_at`, as for secure-channel purpose keys.
const MAX_SKEW: u64 = 300;

/// "This X25519 key receives Kafka DEKs for me until `expires_at`", signed by an identity's
/// current key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerKeyAttestation {
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

impl ConsumerKeyAttestation {
    /// Bytes 0–69 of the encoding: what the signature covers after the context.
    fn body(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(CONSUMER_KEY_ATTESTATION_LEN);
        m.push(1);
        m.extend_from_slice(&self.identifier.0);
        m.push(PURPOSE_KAFKA_CONSUMER);
        m.extend_from_slice(&self.public_key);
        m.extend_from_slice(&self.created_at.to_be_bytes());
        m.extend_from_slice(&self.expires_at.to_be_bytes());
        m
    }

    fn signed_message(&self) -> Vec<u8> {
        [ATTESTATION_CONTEXT, &self.body()].concat()
    }

    /// `version(1)=1 ‖ identifier(20) ‖ purpose(1)=2 ‖ key(32) ‖ created(8) ‖ expires(8) ‖
    /// signature(64)`: 134 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.body();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes exactly one attestation (does not verify).
    pub fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
        let mut r = Reader::new(bytes);
        let a = Self::read(&mut r)?;
        r.finish("consumer key attestation")?;
        Ok(a)
    }

    /// Reads one attestation from `r` (does not verify).
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = r.u8("consumer key attestation version")?;
        if v != 1 {
            return Err(DecodeError::invalid("consumer key attestation version", v));
        }
        let identifier = Identifier(r.array("attested identifier")?);
        let purpose = r.u8("purpose")?;
        if purpose != PURPOSE_KAFKA_CONSUMER {
            return Err(DecodeError::invalid(
                "purpose",
                format!("{purpose} is not a Kafka consumer key ({PURPOSE_KAFKA_CONSUMER})"),
            ));
        }
        Ok(ConsumerKeyAttestation {
            identifier,
            public_key: r.array("consumer public key")?,
            created_at: r.u64("attestation created_at")?,
            expires_at: r.u64("attestation expires_at")?,
            signature: r.array("attestation signature")?,
        })
    }

    /// Checks the attestation against `owner` (a verified history) at `now`, with the rules of
    /// §4.5: same identifier, not expired, created at most 300 s in the future, signed by the
    /// owner's **current** key. Returns the attested public key.
    pub fn verify(&self, owner: &VerifiedIdentity, now: u64) -> Result<[u8; 32], KeyError> {
        if self.identifier != owner.identifier {
            return Err(KeyError::BadAttestation(format!(
                "it attests a key of {} but {} presented it",
                self.identifier, owner.identifier
            )));
        }
        if now > self.expires_at {
            return Err(KeyError::BadAttestation(format!(
                "the consumer key expired {}; the consuming node publishes a new one when it starts",
                airlock_wire::time::relative(self.expires_at, now)
            )));
        }
        if self.created_at > now + MAX_SKEW {
            return Err(KeyError::BadAttestation(
                "the consumer key was created in the future (check the clocks)".into(),
            ));
        }
        if !crate::verify_signature(&owner.current_key, &self.signed_message(), &self.signature) {
            return Err(KeyError::BadAttestation(
                "the signature does not verify with the identity's current key".into(),
            ));
        }
        Ok(self.public_key)
    }
}

/// A consumer key pair with its attestation.
#[derive(Clone)]
pub struct ConsumerKey {
    secret: StaticSecret,
    /// The attestation published to the key directory.
    pub attestation: ConsumerKeyAttestation,
}

impl std::fmt::Debug for ConsumerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ConsumerKey({}, expires_at={})",
            self.attestation.identifier, self.attestation.expires_at
        )
    }
}

impl ConsumerKey {
    /// Generates a key and has `identity` attest it for `ttl` seconds from `now`.
    pub fn create(identity: &IdentitySecret, now: u64, ttl: u64) -> Self {
        Self::from_secret(
            identity,
            StaticSecret::random_from_rng(rand::rngs::OsRng).to_bytes(),
            now,
            ttl,
        )
    }

    /// Has `identity` attest the X25519 secret `secret` (test vectors; renewing the attestation
    /// of a kept key).
    pub fn from_secret(identity: &IdentitySecret, secret: [u8; 32], now: u64, ttl: u64) -> Self {
        let secret = StaticSecret::from(secret);
        let mut attestation = ConsumerKeyAttestation {
            identifier: identity.identifier(),
            public_key: PublicKey::from(&secret).to_bytes(),
            created_at: now,
            expires_at: now.saturating_add(ttl),
            signature: [0; 64],
        };
        attestation.signature = identity.sign(&attestation.signed_message());
        ConsumerKey {
            secret,
            attestation,
        }
    }

    /// The X25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.attestation.public_key
    }

    /// True when less than a tenth of the lifetime is left: time to attest a new key.
    pub fn needs_renewal(&self, now: u64) -> bool {
        let a = &self.attestation;
        let life = a.expires_at.saturating_sub(a.created_at);
        now.saturating_add(life / 10) >= a.expires_at
    }

    /// Opens `grant` (sealed for `key_id` and `topic`) with this key.
    pub fn open(
        &self,
        key_id: crate::KeyId,
        topic: &str,
        grant: &crate::Grant,
    ) -> Result<Dek, KeyError> {
        crate::grant::open(&self.secret.to_bytes(), key_id, topic, grant)
    }

    /// Storage encoding (never sent): `secret(32) ‖ attestation(134)`.
    pub fn to_secret_bytes(&self) -> Vec<u8> {
        let mut out = self.secret.to_bytes().to_vec();
        out.extend_from_slice(&self.attestation.encode());
        out
    }

    /// Restores from [`ConsumerKey::to_secret_bytes`], checking the secret matches the
    /// attestation.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let mut r = Reader::new(bytes);
        let secret = StaticSecret::from(r.array::<32>("consumer key secret")?);
        let attestation = ConsumerKeyAttestation::read(&mut r)?;
        r.finish("consumer key")?;
        if PublicKey::from(&secret).to_bytes() != attestation.public_key {
            return Err(KeyError::Mismatch(
                "the stored consumer key secret does not match its attestation".into(),
            ));
        }
        Ok(ConsumerKey {
            secret,
            attestation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_identity::PurposeKeyAttestation;
    use proptest::prelude::*;
    const NOW: u64 = 1_800_000_000;

    #[test]
    fn attestation_verifies_for_its_identity_only() {
        let id = IdentitySecret::create(NOW);
        let key = ConsumerKey::create(&id, NOW, 3600);
        let me = id.history().verify(NOW).unwrap();
        assert_eq!(key.attestation.verify(&me, NOW).unwrap(), key.public_key());
        let bytes = key.attestation.encode();
        assert_eq!(bytes.len(), CONSUMER_KEY_ATTESTATION_LEN);
        assert_eq!(
            ConsumerKeyAttestation::decode(&bytes).unwrap(),
            key.attestation
        );

        let other = IdentitySecret::create(NOW).history().verify(NOW).unwrap();
        assert!(matches!(
            key.attestation.verify(&other, NOW),
            Err(KeyError::BadAttestation(_))
        ));
        assert!(key.attestation.verify(&me, NOW + 3601).is_err());
        assert!(ConsumerKey::create(&id, NOW + 301, 10)
            .attestation
            .verify(&me, NOW)
            .is_err());
        let mut forged = key.attestation.clone();
        forged.public_key[0] ^= 1;
        assert!(forged.verify(&me, NOW).is_err());
    }

    #[test]
    fn a_consumer_key_is_no_secure_channel_key_and_back() {
        let id = IdentitySecret::create(NOW);
        let key = ConsumerKey::create(&id, NOW, 3600);
        let bytes = key.attestation.encode();
        let mut r = Reader::new(&bytes);
        assert!(PurposeKeyAttestation::decode(&mut r).is_err());
        let channel = airlock_identity::PurposeKeySecret::create(&id, NOW, 3600);
        assert!(ConsumerKeyAttestation::decode(&channel.attestation.encode()).is_err());
    }

    #[test]
    fn secret_bytes_round_trip_and_renewal() {
        let id = IdentitySecret::create(NOW);
        let key = ConsumerKey::create(&id, NOW, 1000);
        let back = ConsumerKey::from_secret_bytes(&key.to_secret_bytes()).unwrap();
        assert_eq!(back.attestation, key.attestation);
        let mut wrong = key.to_secret_bytes();
        wrong[0] ^= 0x40;
        assert!(ConsumerKey::from_secret_bytes(&wrong).is_err());
        assert!(!key.needs_renewal(NOW + 800));
        assert!(key.needs_renewal(NOW + 901));
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = ConsumerKeyAttestation::decode(&bytes);
            let _ = ConsumerKey::from_secret_bytes(&bytes);
        }

        #[test]
        fn truncations_are_errors(cut in 0usize..CONSUMER_KEY_ATTESTATION_LEN) {
            let id = IdentitySecret::create(NOW);
            let bytes = ConsumerKey::create(&id, NOW, 3600).attestation.encode();
            prop_assert!(ConsumerKeyAttestation::decode(&bytes[..cut]).is_err());
        }
    }
}
