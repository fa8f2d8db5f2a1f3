//! The key test vector of docs/kafka-encryption.md §9 (the ```` ```kafka-key-vector ```` block):
//! fixed identities, consumer key, DEK, key id, topic and HPKE randomness give fixed bytes, and
//! the bytes in the document decode, verify and open to the DEK. A later version must keep
//! reading what this one wrote.
//!
//! `AIRLOCK_PRINT_KEY_VECTOR=1 cargo test -p airlock-kafka-keys --test vector -- --nocapture`
//! prints the block (after an intended format change, paste it into the document).

use airlock_identity::{IdentitySecret, IDENTITY_KEY_TTL};
use airlock_kafka_keys::rand_core::{CryptoRng, RngCore};
use airlock_kafka_keys::{
    ConsumerKey, ConsumerKeyAttestation, Dek, Grant, KeyId, KeyRecord, DEFAULT_CONSUMER_KEY_TTL,
};
use ed25519_dalek::{Signer, SigningKey};
use std::collections::BTreeMap;

const CREATED: u64 = 1_800_000_000;

/// An identity with one change made from `seed` at [`CREATED`] (what `IdentitySecret::create`
/// does, with the key fixed).
fn identity(seed: [u8; 32]) -> IdentitySecret {
    let sk = SigningKey::from_bytes(&seed);
    let mut data = vec![1u8];
    data.extend_from_slice(&[0; 32]);
    data.extend_from_slice(&sk.verifying_key().to_bytes());
    data.extend_from_slice(&CREATED.to_be_bytes());
    data.extend_from_slice(&(CREATED + IDENTITY_KEY_TTL).to_be_bytes());
    let sig = sk.sign(&[&b"airlock/change/v1"[..], &data].concat());
    let mut bytes = seed.to_vec();
    bytes.push(1);
    bytes.extend_from_slice(&(data.len() as u16).to_be_bytes());
    bytes.extend_from_slice(&data);
    bytes.extend_from_slice(&sig.to_bytes());
    bytes.push(0);
    IdentitySecret::from_secret_bytes(&bytes, CREATED).expect("a valid identity")
}

/// "Randomness" that is one byte repeated: fixes HPKE's ephemeral key.
struct Fixed(u8);

impl RngCore for Fixed {
    fn next_u32(&mut self) -> u32 {
        u32::from_ne_bytes([self.0; 4])
    }
    fn next_u64(&mut self) -> u64 {
        u64::from_ne_bytes([self.0; 8])
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        dst.fill(self.0)
    }
}
impl CryptoRng for Fixed {}

fn hex32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// The `key = value` lines of the document's ```` ```kafka-key-vector ```` block.
fn document_vector() -> BTreeMap<String, String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/kafka-encryption.md"
    );
    let doc = std::fs::read_to_string(path).expect("docs/kafka-encryption.md");
    let block = doc
        .split("```kafka-key-vector\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a ```kafka-key-vector block in docs/kafka-encryption.md");
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').expect("key = value");
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

/// Everything the vector derives from its inputs, as `key = value` lines.
fn compute(input: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let producer = identity(hex32(&input["producer_seed"]));
    let consumer = identity(hex32(&input["consumer_seed"]));
    let key = ConsumerKey::from_secret(
        &consumer,
        hex32(&input["consumer_x25519_secret"]),
        CREATED,
        DEFAULT_CONSUMER_KEY_TTL,
    );
    let key_id: KeyId = input["key_id"].parse().unwrap();
    let topic = &input["topic"];
    let dek = Dek(hex32(&input["dek"]));
    let rng_byte = hex::decode(&input["hpke_rng_byte"]).unwrap()[0];
    let grant = Grant::seal_with(
        &mut Fixed(rng_byte),
        consumer.identifier(),
        &key.public_key(),
        key_id,
        topic,
        &dek,
    )
    .unwrap();
    let record = KeyRecord::sign(&producer, key_id, topic, CREATED, vec![grant]).unwrap();
    let mut out = input.clone();
    for (k, v) in [
        ("producer", producer.identifier().to_string()),
        ("consumer", consumer.identifier().to_string()),
        (
            "consumer_key_attestation",
            hex::encode(key.attestation.encode()),
        ),
        ("key_record", hex::encode(record.encode())),
    ] {
        out.insert(k.to_string(), v);
    }
    out
}

#[test]
fn the_documented_vector_matches_the_implementation() {
    let doc = document_vector();
    let computed = compute(&doc);
    if std::env::var_os("AIRLOCK_PRINT_KEY_VECTOR").is_some() {
        println!("```kafka-key-vector");
        for k in [
            "producer_seed",
            "consumer_seed",
            "consumer_x25519_secret",
            "created",
            "dek",
            "key_id",
            "topic",
            "hpke_rng_byte",
            "producer",
            "consumer",
            "consumer_key_attestation",
            "key_record",
        ] {
            println!("{k} = {}", computed[k]);
        }
        println!("```");
    }
    assert_eq!(doc["created"], CREATED.to_string());
    assert_eq!(
        doc, computed,
        "docs/kafka-encryption.md §9 and the implementation disagree"
    );
}

#[test]
fn the_documented_bytes_decode_verify_and_open() {
    let doc = document_vector();
    let producer = identity(hex32(&doc["producer_seed"]));
    let consumer = identity(hex32(&doc["consumer_seed"]));
    let att =
        ConsumerKeyAttestation::decode(&hex::decode(&doc["consumer_key_attestation"]).unwrap())
            .unwrap();
    let cv = consumer.history().verify(CREATED).unwrap();
    att.verify(&cv, CREATED).unwrap();
    let record = KeyRecord::decode(&hex::decode(&doc["key_record"]).unwrap()).unwrap();
    assert_eq!(record.producer.to_string(), doc["producer"]);
    assert_eq!(record.topic, doc["topic"]);
    record
        .verify(&producer.history().verify(CREATED).unwrap())
        .unwrap();
    let key = ConsumerKey::from_secret(
        &consumer,
        hex32(&doc["consumer_x25519_secret"]),
        CREATED,
        DEFAULT_CONSUMER_KEY_TTL,
    );
    assert_eq!(key.attestation, att);
    assert_eq!(record.open(&key).unwrap(), Dek(hex32(&doc["dek"])));
}
