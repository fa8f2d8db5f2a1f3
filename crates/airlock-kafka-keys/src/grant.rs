//! Grants: one DEK sealed to one consumer key, and the producer's signature over it.
//!
//! Sealing is HPKE (RFC 9180) in base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and
//! AES-256-GCM, `info = "airlock kafka dek v1" ‖ key_id(8) ‖ u16 len ‖ topic` and no AAD: the
//! info binds the DEK to its key id and topic, so a grant moved to another key or topic does not
//! open. 32 bytes of encapsulated key plus 48 of ciphertext (DEK and tag).
//!
//! Each grant carries its own producer signature (over `key_id ‖ grant`) rather than one
//! signature over the whole record: the directory hands a consumer only its own grant, and the
//! consumer must still be able to check that the producer made it. Grants added to a record
//! later ([`GrantAddition`]) are signed the same way.

use crate::{check_topic, Dek, KeyError, KeyId};
use airlock_identity::{Identifier, IdentitySecret, VerifiedIdentity};
use airlock_wire::codec::{put_bytes16, DecodeError, Reader};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use rand_core::{CryptoRng, RngCore};

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::AesGcm256;

const INFO_CONTEXT: &[u8] = b"airlock kafka dek v1";
const GRANT_CONTEXT: &[u8] = b"airlock/kafka-grant/v1";
/// Encoded length of a [`Grant`]: recipient(20) ‖ enc(32) ‖ wrapped(48).
pub const GRANT_LEN: usize = 20 + 32 + 48;
/// Encoded length of a [`SignedGrant`].
pub const SIGNED_GRANT_LEN: usize = GRANT_LEN + 64;
/// Encoded length of a [`GrantAddition`]: version(1) ‖ key_id(8) ‖ signed grant.
pub const GRANT_ADDITION_LEN: usize = 1 + 8 + SIGNED_GRANT_LEN;

/// A DEK sealed to one recipient's consumer key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The consumer identity it is for.
    pub recipient: Identifier,
    /// HPKE encapsulated key (the sender's ephemeral X25519 public key).
    pub enc: [u8; 32],
    /// The sealed DEK: 32 bytes of ciphertext and a 16-byte tag.
    pub wrapped: [u8; 48],
}

/// `"airlock kafka dek v1" ‖ key_id ‖ u16 len ‖ topic`.
fn info(key_id: KeyId, topic: &str) -> Vec<u8> {
    let mut m = INFO_CONTEXT.to_vec();
    m.extend_from_slice(&key_id.0);
    put_bytes16(&mut m, topic.as_bytes());
    m
}

impl Grant {
    /// Seals `dek` to `recipient`'s consumer public key for `key_id` and `topic`, with fresh
    /// randomness from the operating system.
    pub fn seal(
        recipient: Identifier,
        consumer_public_key: &[u8; 32],
        key_id: KeyId,
        topic: &str,
        dek: &Dek,
    ) -> Result<Grant, KeyError> {
        let mut rng = rand_core::UnwrapErr(rand_core::OsRng);
        Self::seal_with(&mut rng, recipient, consumer_public_key, key_id, topic, dek)
    }

    /// [`Grant::seal`] drawing the ephemeral key from `rng` (fixed in test vectors).
    pub fn seal_with<R: RngCore + CryptoRng>(
        rng: &mut R,
        recipient: Identifier,
        consumer_public_key: &[u8; 32],
        key_id: KeyId,
        topic: &str,
        dek: &Dek,
    ) -> Result<Grant, KeyError> {
        check_topic(topic)?;
        let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(consumer_public_key)
            .map_err(|e| KeyError::Seal(e.to_string()))?;
        let (enc, ct) = hpke::single_shot_seal::<Aead, Kdf, Kem, _>(
            &OpModeS::Base,
            &pk,
            &info(key_id, topic),
            &dek.0,
            b"",
            rng,
        )
        .map_err(|e| KeyError::Seal(e.to_string()))?;
        let mut wrapped = [0u8; 48];
        wrapped.copy_from_slice(&ct);
        let mut e = [0u8; 32];
        e.copy_from_slice(&enc.to_bytes());
        Ok(Grant {
            recipient,
            enc: e,
            wrapped,
        })
    }

    /// `recipient(20) ‖ enc(32) ‖ wrapped(48)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(GRANT_LEN);
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.recipient.0);
        out.extend_from_slice(&self.enc);
        out.extend_from_slice(&self.wrapped);
    }

    /// Reads one grant.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Grant {
            recipient: Identifier(r.array("grant recipient")?),
            enc: r.array("grant encapsulated key")?,
            wrapped: r.array("grant wrapped key")?,
        })
    }
}

/// Opens `grant` with the X25519 secret `secret`.
pub(crate) fn open(
    secret: &[u8; 32],
    key_id: KeyId,
    topic: &str,
    grant: &Grant,
) -> Result<Dek, KeyError> {
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(secret).map_err(|_| KeyError::Open)?;
    let enc =
        <Kem as hpke::Kem>::EncappedKey::from_bytes(&grant.enc).map_err(|_| KeyError::Open)?;
    let pt = hpke::single_shot_open::<Aead, Kdf, Kem>(
        &OpModeR::Base,
        &sk,
        &enc,
        &info(key_id, topic),
        &grant.wrapped,
        b"",
    )
    .map_err(|_| KeyError::Open)?;
    let dek: [u8; 32] = pt.as_slice().try_into().map_err(|_| KeyError::Open)?;
    Ok(Dek(dek))
}

/// A grant with the producer's signature over `"airlock/kafka-grant/v1" ‖ key_id ‖ grant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedGrant {
    /// The grant.
    pub grant: Grant,
    /// Ed25519 signature by the producer's current key.
    pub signature: [u8; 64],
}

fn grant_message(key_id: KeyId, grant: &Grant) -> Vec<u8> {
    let mut m = GRANT_CONTEXT.to_vec();
    m.extend_from_slice(&key_id.0);
    grant.write(&mut m);
    m
}

impl SignedGrant {
    /// `producer` signs `grant` as part of key `key_id`.
    pub fn sign(producer: &IdentitySecret, key_id: KeyId, grant: Grant) -> Self {
        let signature = producer.sign(&grant_message(key_id, &grant));
        SignedGrant { grant, signature }
    }

    /// Checks the signature with `producer`'s current key.
    pub fn verify(&self, producer: &VerifiedIdentity, key_id: KeyId) -> Result<(), KeyError> {
        if crate::verify_signature(
            &producer.current_key,
            &grant_message(key_id, &self.grant),
            &self.signature,
        ) {
            Ok(())
        } else {
            Err(KeyError::BadSignature {
                what: "grant",
                signer: producer.identifier,
            })
        }
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        self.grant.write(out);
        out.extend_from_slice(&self.signature);
    }

    /// Reads one signed grant (does not verify).
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedGrant {
            grant: Grant::read(r)?,
            signature: r.array("grant signature")?,
        })
    }
}

/// A grant added to a stored key record by its producer (a consumer admitted after the epoch
/// started): `version(1)=1 ‖ key_id(8) ‖ grant(100) ‖ signature(64)`, 173 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantAddition {
    /// The key record it belongs to.
    pub key_id: KeyId,
    /// The grant and the producer's signature.
    pub grant: SignedGrant,
}

impl GrantAddition {
    /// `producer` signs `grant` for key `key_id`.
    pub fn sign(producer: &IdentitySecret, key_id: KeyId, grant: Grant) -> Self {
        GrantAddition {
            key_id,
            grant: SignedGrant::sign(producer, key_id, grant),
        }
    }

    /// Checks the producer's signature.
    pub fn verify(&self, producer: &VerifiedIdentity) -> Result<(), KeyError> {
        self.grant.verify(producer, self.key_id)
    }

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(GRANT_ADDITION_LEN);
        out.push(1);
        out.extend_from_slice(&self.key_id.0);
        self.grant.write(&mut out);
        out
    }

    /// Decodes exactly one addition (does not verify).
    pub fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
        let mut r = Reader::new(bytes);
        let v = r.u8("grant addition version")?;
        if v != 1 {
            return Err(DecodeError::invalid("grant addition version", v).into());
        }
        let key_id = KeyId(r.array("grant addition key id")?);
        let grant = SignedGrant::read(&mut r)?;
        r.finish("grant addition")?;
        Ok(GrantAddition { key_id, grant })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConsumerKey;
    use proptest::prelude::*;
    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_grant_opens_only_with_the_right_key_key_id_and_topic() {
        let alice = IdentitySecret::create(NOW);
        let bob = IdentitySecret::create(NOW);
        let ka = ConsumerKey::create(&alice, NOW, 3600);
        let kb = ConsumerKey::create(&bob, NOW, 3600);
        let dek = Dek([7; 32]);
        let id = KeyId([1; 8]);
        let g = Grant::seal(alice.identifier(), &ka.public_key(), id, "orders", &dek).unwrap();
        assert_eq!(g.encode().len(), GRANT_LEN);
        assert_eq!(ka.open(id, "orders", &g).unwrap(), dek);
        assert!(matches!(kb.open(id, "orders", &g), Err(KeyError::Open)));
        assert!(ka.open(KeyId([2; 8]), "orders", &g).is_err());
        assert!(ka.open(id, "orders2", &g).is_err());
        let mut t = g.clone();
        t.wrapped[47] ^= 1;
        assert!(ka.open(id, "orders", &t).is_err());
        let mut t = g.clone();
        t.enc[0] ^= 1;
        assert!(ka.open(id, "orders", &t).is_err());
    }

    #[test]
    fn sealing_to_a_useless_key_is_an_error() {
        let e = Grant::seal(
            Identifier([0; 20]),
            &[0; 32],
            KeyId([0; 8]),
            "t",
            &Dek([0; 32]),
        );
        assert!(matches!(e, Err(KeyError::Seal(_))), "{e:?}");
        let e = Grant::seal(
            Identifier([0; 20]),
            &[9; 32],
            KeyId([0; 8]),
            "no spaces",
            &Dek([0; 32]),
        );
        assert!(matches!(e, Err(KeyError::Invalid(_))), "{e:?}");
    }

    #[test]
    fn grant_additions_round_trip_and_verify_for_their_producer_only() {
        let p = IdentitySecret::create(NOW);
        let c = IdentitySecret::create(NOW);
        let ck = ConsumerKey::create(&c, NOW, 3600);
        let id = KeyId([3; 8]);
        let g = Grant::seal(c.identifier(), &ck.public_key(), id, "t", &Dek([1; 32])).unwrap();
        let add = GrantAddition::sign(&p, id, g);
        let bytes = add.encode();
        assert_eq!(bytes.len(), GRANT_ADDITION_LEN);
        let back = GrantAddition::decode(&bytes).unwrap();
        assert_eq!(back, add);
        let pv = p.history().verify(NOW).unwrap();
        back.verify(&pv).unwrap();
        let cv = c.history().verify(NOW).unwrap();
        assert!(matches!(
            back.verify(&cv),
            Err(KeyError::BadSignature { .. })
        ));
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x01;
            if let Ok(t) = GrantAddition::decode(&t) {
                assert!(t.verify(&pv).is_err(), "flipping byte {i} still verifies");
            }
        }
    }

    proptest! {
        #[test]
        fn hostile_additions_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = GrantAddition::decode(&bytes);
        }
    }
}
