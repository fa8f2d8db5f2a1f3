//! Checks the record encryption vectors of `docs/kafka-encryption.md` §9.
//!
//! Every ```` ```kafka-record-vector ```` block holds `name`, `dek`, `key_id`, `counter`,
//! `topic`, `record_key` (hex, or `null`), `value` and `blob` (hex) lines. Each blob must be what
//! [`Sealer`] produces for the `counter`-th value under that key, and must open to the value: a
//! later version of Airlock has to read records this one wrote.

use airlock_kafka::record_crypto::{open, open_field, peek_key_id, DataKey, KeyId, Sealer};

const KNOWN: &[&str] = &[
    "R1-record-with-key",
    "R2-record-without-key",
    "R3-json-field",
];

struct Vector {
    name: String,
    dek: [u8; 32],
    key_id: KeyId,
    counter: u64,
    topic: String,
    record_key: Option<Vec<u8>>,
    /// A sealed JSON field's name (`--encrypted-field`); none: a whole value.
    field: Option<String>,
    value: Vec<u8>,
    blob: Vec<u8>,
}

fn vectors() -> Vec<Vector> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/kafka-encryption.md"
    );
    let doc = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```kafka-record-vector" {
            continue;
        }
        let mut fields = std::collections::HashMap::new();
        for l in lines.by_ref() {
            let l = l.trim();
            if l == "```" {
                break;
            }
            let (k, v) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("malformed kafka-record-vector line {l:?}"));
            fields.insert(k.trim().to_string(), v.trim().to_string());
        }
        let get = |k: &str| {
            fields
                .get(k)
                .unwrap_or_else(|| panic!("kafka-record-vector without {k}"))
                .clone()
        };
        let hex = |k: &str| hex::decode(get(k)).unwrap();
        out.push(Vector {
            name: get("name"),
            dek: hex("dek").try_into().unwrap(),
            key_id: KeyId(hex("key_id").try_into().unwrap()),
            counter: get("counter").parse().unwrap(),
            topic: get("topic"),
            record_key: match get("record_key").as_str() {
                "null" => None,
                h => Some(hex::decode(h).unwrap()),
            },
            field: fields.get("field").cloned(),
            value: hex("value"),
            blob: hex("blob"),
        });
    }
    out
}

fn seal(v: &Vector) -> Vec<u8> {
    let mut sealer = Sealer::new(DataKey::new(v.key_id, v.dek));
    for _ in 0..v.counter {
        sealer.seal(&v.topic, None, b"").unwrap();
    }
    match &v.field {
        None => sealer.seal(&v.topic, v.record_key.as_deref(), &v.value),
        Some(f) => sealer.seal_field(&v.topic, v.record_key.as_deref(), f, &v.value),
    }
    .unwrap()
}

#[test]
fn document_vectors_match_the_implementation() {
    let vectors = vectors();
    assert!(!vectors.is_empty());
    for v in vectors {
        assert_eq!(
            hex::encode(seal(&v)),
            hex::encode(&v.blob),
            "vector {} differs from the implementation",
            v.name
        );
        assert_eq!(peek_key_id(&v.blob), Some(v.key_id));
        let key = DataKey::new(v.key_id, v.dek);
        let opened = match &v.field {
            None => open(&key, &v.topic, v.record_key.as_deref(), &v.blob),
            Some(f) => open_field(&key, &v.topic, v.record_key.as_deref(), f, &v.blob),
        }
        .unwrap();
        assert_eq!(opened, v.value, "vector {}", v.name);
    }
}

#[test]
fn every_known_vector_is_in_the_document() {
    let names: Vec<String> = vectors().into_iter().map(|v| v.name).collect();
    for k in KNOWN {
        assert!(
            names.iter().any(|n| n == k),
            "docs/kafka-encryption.md lacks {k}"
        );
    }
}
