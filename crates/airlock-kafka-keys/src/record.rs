//! Key records: one DEK's public facts (key id, topic, producer, creation time) signed by its
//! producer, with one signed grant per admitted consumer.
//!
//! Encoding (docs/kafka-encryption.md §9):
//!
//! ```text
//! header  = version(1)=1 ‖ key_id(8) ‖ u16 len ‖ topic ‖ producer(20) ‖ created(u64)
//! record  = header ‖ signature(64) ‖ u16 count ‖ count × (grant(100) ‖ grant signature(64))
//! ```
//!
//! The header signature is Ed25519 by the producer's current key over
//! `"airlock/kafka-key/v1" ‖ header`; each grant's over `"airlock/kafka-grant/v1" ‖ key_id ‖
//! grant` ([`SignedGrant`]). A record with only some of its grants (the directory answers a
//! consumer with its own grant alone) still verifies.

use crate::grant::SIGNED_GRANT_LEN;
use crate::{check_topic, ConsumerKey, Dek, GrantAddition, KeyError, KeyId, SignedGrant};
use airlock_identity::{Identifier, IdentitySecret, VerifiedIdentity};
use airlock_wire::codec::{put_bytes16, DecodeError, Reader};
use std::collections::HashSet;

const HEADER_CONTEXT: &[u8] = b"airlock/kafka-key/v1";
/// Most grants one record holds (one per admitted consumer).
pub const MAX_GRANTS: usize = 1024;
/// Version of the record format.
pub const KEY_RECORD_VERSION: u8 = 1;

/// A DEK's key record (see the module documentation for its encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Format version (1).
    pub version: u8,
    /// The DEK's name.
    pub key_id: KeyId,
    /// The Kafka topic the DEK encrypts.
    pub topic: String,
    /// The producing identity, which signs the record.
    pub producer: Identifier,
    /// Creation, Unix seconds.
    pub created: u64,
    /// The producer's signature over the header.
    pub signature: [u8; 64],
    /// One signed grant per recipient (recipients are unique).
    pub grants: Vec<SignedGrant>,
}

impl KeyRecord {
    /// `producer` signs a record of DEK `key_id` for `topic` with `grants` (sealed with
    /// [`crate::Grant::seal`]).
    pub fn sign(
        producer: &IdentitySecret,
        key_id: KeyId,
        topic: &str,
        created: u64,
        grants: Vec<crate::Grant>,
    ) -> Result<Self, KeyError> {
        check_topic(topic)?;
        let mut r = KeyRecord {
            version: KEY_RECORD_VERSION,
            key_id,
            topic: topic.to_string(),
            producer: producer.identifier(),
            created,
            signature: [0; 64],
            grants: Vec::new(),
        };
        r.signature = producer.sign(&r.header_message());
        for g in grants {
            r.add(GrantAddition::sign(producer, key_id, g))?;
        }
        Ok(r)
    }

    fn header(&self) -> Vec<u8> {
        let mut h = vec![self.version];
        h.extend_from_slice(&self.key_id.0);
        put_bytes16(&mut h, self.topic.as_bytes());
        h.extend_from_slice(&self.producer.0);
        h.extend_from_slice(&self.created.to_be_bytes());
        h
    }

    fn header_message(&self) -> Vec<u8> {
        [HEADER_CONTEXT, &self.header()].concat()
    }

    /// Checks that `producer` is the record's producer and signed the header and every grant,
    /// and that no recipient has two grants.
    pub fn verify(&self, producer: &VerifiedIdentity) -> Result<(), KeyError> {
        if producer.identifier != self.producer {
            return Err(KeyError::Mismatch(format!(
                "key record {} names producer {}, not {}",
                self.key_id, self.producer, producer.identifier
            )));
        }
        if !crate::verify_signature(
            &producer.current_key,
            &self.header_message(),
            &self.signature,
        ) {
            return Err(KeyError::BadSignature {
                what: "key record",
                signer: producer.identifier,
            });
        }
        let mut seen = HashSet::new();
        for g in &self.grants {
            if !seen.insert(g.grant.recipient) {
                return Err(KeyError::Invalid(format!(
                    "key record {} has two grants for {}",
                    self.key_id, g.grant.recipient
                )));
            }
            g.verify(producer, self.key_id)?;
        }
        Ok(())
    }

    /// Adds (or replaces) the grant of `addition`'s recipient. Does not verify the signature.
    pub fn add(&mut self, addition: GrantAddition) -> Result<(), KeyError> {
        if addition.key_id != self.key_id {
            return Err(KeyError::Mismatch(format!(
                "a grant for key {} cannot be added to key {}",
                addition.key_id, self.key_id
            )));
        }
        let recipient = addition.grant.grant.recipient;
        if let Some(g) = self
            .grants
            .iter_mut()
            .find(|g| g.grant.recipient == recipient)
        {
            *g = addition.grant;
        } else if self.grants.len() >= MAX_GRANTS {
            return Err(KeyError::Invalid(format!(
                "a key record holds at most {MAX_GRANTS} grants"
            )));
        } else {
            self.grants.push(addition.grant);
        }
        Ok(())
    }

    /// The grant for `recipient`, if any.
    pub fn grant_for(&self, recipient: &Identifier) -> Option<&SignedGrant> {
        self.grants.iter().find(|g| g.grant.recipient == *recipient)
    }

    /// This record with only `recipient`'s grant (none if it has none): what the directory
    /// tells a consumer.
    pub fn only_for(&self, recipient: &Identifier) -> KeyRecord {
        KeyRecord {
            grants: self.grant_for(recipient).cloned().into_iter().collect(),
            ..self.clone()
        }
    }

    /// Opens this record's grant for `key`'s identity. Verify the record first.
    pub fn open(&self, key: &ConsumerKey) -> Result<Dek, KeyError> {
        let me = key.attestation.identifier;
        let g = self.grant_for(&me).ok_or_else(|| {
            KeyError::Mismatch(format!("key record {} has no grant for {me}", self.key_id))
        })?;
        key.open(self.key_id, &self.topic, &g.grant)
    }

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.header();
        out.extend_from_slice(&self.signature);
        let n = u16::try_from(self.grants.len()).expect("at most MAX_GRANTS grants");
        out.extend_from_slice(&n.to_be_bytes());
        out.reserve(self.grants.len() * SIGNED_GRANT_LEN);
        for g in &self.grants {
            g.write(&mut out);
        }
        out
    }

    /// Decodes exactly one record (does not verify signatures).
    pub fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("key record version")?;
        if version != KEY_RECORD_VERSION {
            return Err(DecodeError::invalid("key record version", version).into());
        }
        let key_id = KeyId(r.array("key id")?);
        let topic = std::str::from_utf8(r.bytes16("topic")?)
            .map_err(|_| DecodeError::invalid("topic", "not UTF-8"))?
            .to_string();
        check_topic(&topic)?;
        let producer = Identifier(r.array("producer")?);
        let created = r.u64("created")?;
        let signature = r.array("key record signature")?;
        let n = r.u16("grant count")? as usize;
        if n > MAX_GRANTS {
            return Err(KeyError::Invalid(format!(
                "{n} grants: a key record holds at most {MAX_GRANTS}"
            )));
        }
        let mut grants = Vec::with_capacity(n.min(r.remaining() / SIGNED_GRANT_LEN));
        for _ in 0..n {
            grants.push(SignedGrant::read(&mut r)?);
        }
        r.finish("key record")?;
        Ok(KeyRecord {
            version,
            key_id,
            topic,
            producer,
            created,
            signature,
            grants,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Grant;
    use proptest::prelude::*;
    const NOW: u64 = 1_800_000_000;

    struct Setup {
        producer: IdentitySecret,
        consumers: Vec<(IdentitySecret, ConsumerKey)>,
        record: KeyRecord,
        dek: Dek,
    }

    fn setup(n: usize) -> Setup {
        let producer = IdentitySecret::create(NOW);
        let consumers: Vec<_> = (0..n)
            .map(|_| {
                let c = IdentitySecret::create(NOW);
                let k = ConsumerKey::create(&c, NOW, 3600);
                (c, k)
            })
            .collect();
        let dek = Dek([0x42; 32]);
        let key_id = KeyId([9; 8]);
        let grants = consumers
            .iter()
            .map(|(c, k)| {
                Grant::seal(c.identifier(), &k.public_key(), key_id, "payments.v1", &dek).unwrap()
            })
            .collect();
        let record = KeyRecord::sign(&producer, key_id, "payments.v1", NOW, grants).unwrap();
        Setup {
            producer,
            consumers,
            record,
            dek,
        }
    }

    #[test]
    fn round_trip_verify_and_open_each_consumers_grant() {
        let s = setup(3);
        let bytes = s.record.encode();
        assert_eq!(bytes.len(), 1 + 8 + 2 + 11 + 20 + 8 + 64 + 2 + 3 * 164);
        let back = KeyRecord::decode(&bytes).unwrap();
        assert_eq!(back, s.record);
        let pv = s.producer.history().verify(NOW).unwrap();
        back.verify(&pv).unwrap();
        for (c, k) in &s.consumers {
            let mine = back.only_for(&c.identifier());
            assert_eq!(mine.grants.len(), 1);
            let mine = KeyRecord::decode(&mine.encode()).unwrap();
            mine.verify(&pv).unwrap();
            assert_eq!(mine.open(k).unwrap(), s.dek);
        }
        // Someone without a grant gets a record with none, and cannot open it.
        let other = IdentitySecret::create(NOW);
        let ok = ConsumerKey::create(&other, NOW, 3600);
        let none = back.only_for(&other.identifier());
        assert!(none.grants.is_empty());
        assert!(none.open(&ok).is_err());
    }

    #[test]
    fn a_record_signed_by_another_identity_fails() {
        let s = setup(1);
        let mallory = IdentitySecret::create(NOW);
        let mv = mallory.history().verify(NOW).unwrap();
        assert!(matches!(s.record.verify(&mv), Err(KeyError::Mismatch(_))));
        // Mallory re-signs it under Alice's producer name: the signatures do not hold.
        let mut forged =
            KeyRecord::sign(&mallory, s.record.key_id, "payments.v1", NOW, vec![]).unwrap();
        forged.producer = s.producer.identifier();
        let pv = s.producer.history().verify(NOW).unwrap();
        assert!(matches!(
            forged.verify(&pv),
            Err(KeyError::BadSignature { .. })
        ));
        // A grant Mallory signed, added to Alice's record, does not verify either.
        let mut mixed = s.record.clone();
        let g = s.record.grants[0].grant.clone();
        mixed
            .add(GrantAddition::sign(&mallory, s.record.key_id, g))
            .unwrap();
        assert!(mixed.verify(&pv).is_err());
    }

    #[test]
    fn every_tampered_byte_fails_decoding_or_verification() {
        let s = setup(2);
        let pv = s.producer.history().verify(NOW).unwrap();
        let bytes = s.record.encode();
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x04;
            if let Ok(r) = KeyRecord::decode(&t) {
                assert!(r.verify(&pv).is_err(), "flipping byte {i} still verifies");
            }
        }
    }

    #[test]
    fn additions_replace_a_recipients_grant_and_keep_the_key_id() {
        let mut s = setup(1);
        let (c, k) = &s.consumers[0];
        let dek2 = Dek([1; 32]);
        let g = Grant::seal(
            c.identifier(),
            &k.public_key(),
            s.record.key_id,
            "payments.v1",
            &dek2,
        )
        .unwrap();
        s.record
            .add(GrantAddition::sign(&s.producer, s.record.key_id, g.clone()))
            .unwrap();
        assert_eq!(s.record.grants.len(), 1);
        assert_eq!(s.record.open(k).unwrap(), dek2);
        assert_ne!(dek2, s.dek);
        let wrong = GrantAddition::sign(&s.producer, KeyId([0; 8]), g);
        assert!(matches!(s.record.add(wrong), Err(KeyError::Mismatch(_))));
    }

    proptest! {
        #[test]
        fn hostile_records_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..800)) {
            let _ = KeyRecord::decode(&bytes);
        }

        #[test]
        fn truncated_records_are_errors(cut in 0usize..400) {
            let s = setup(2);
            let bytes = s.record.encode();
            prop_assume!(cut < bytes.len());
            prop_assert!(KeyRecord::decode(&bytes[..cut]).is_err());
        }
    }
}
