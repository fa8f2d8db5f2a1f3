//! Kafka record encryption: arbitrary bytes as record batches, blobs, Produce request bodies and
//! Fetch response bodies.
//!
//! The first byte picks the path: the batch rewriter (fetch and produce options, with a small
//! decompression cap), the blob opener and the JSON field sealer/opener, the encrypting inlet's Produce path or the decrypting
//! inlet's Fetch path at a version the byte also picks.
#![no_main]
use airlock_kafka::fields;
use airlock_kafka::record_crypto::{open, peek_key_id, DataKey, KeyId, Sealer};
use airlock_kafka::records::{map_values, MapOptions, RecordsError};
use airlock_kafka::{
    encode_frame, BrokerMap, FetchDecryptor, InletInterceptor, KeyLookup, KeyNotReady,
    ProduceEncryptor, TopicNames,
};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

const ID: KeyId = KeyId([1; 8]);

struct Keys {
    sealer: Sealer,
    key: DataKey,
}

impl ProduceEncryptor for Keys {
    fn sealer(&mut self, _topic: &str) -> Result<Option<&mut Sealer>, KeyNotReady> {
        Ok(Some(&mut self.sealer))
    }
}

impl FetchDecryptor for Keys {
    fn data_key(&mut self, id: KeyId) -> KeyLookup<'_> {
        if id == ID {
            KeyLookup::Ready(&self.key)
        } else {
            KeyLookup::Unavailable
        }
    }
    fn must_be_encrypted(&self, topic: &str) -> bool {
        topic.len() % 2 == 0
    }
}

/// A request frame with a v1 or v2 header (client id null), correlation id 1, then `body`.
fn request(key: i16, version: i16, flexible: bool, body: &[u8]) -> Bytes {
    let mut out = Vec::new();
    out.extend_from_slice(&key.to_be_bytes());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&(-1i16).to_be_bytes());
    if flexible {
        out.push(0);
    }
    out.extend_from_slice(body);
    encode_frame(&out)
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut keys = Keys {
        sealer: Sealer::new(DataKey::new(ID, [2; 32])),
        key: DataKey::new(ID, [2; 32]),
    };
    match pick % 4 {
        0 => {
            let records = Bytes::copy_from_slice(rest);
            for mut options in [MapOptions::fetch(), MapOptions::produce()] {
                options.max_batch_bytes = 1 << 20;
                let _ = map_values(&records, &options, |_, v| Ok::<_, RecordsError>(v));
            }
        }
        1 => {
            let _ = peek_key_id(rest);
            let _ = open(&keys.key, "t", Some(b"k"), rest);
            let _ = open(&keys.key, "t", None, rest);
            // JSON values with sealed fields (--encrypted-field), both ways.
            if let Ok(Some(found)) = fields::SealedFields::find(rest) {
                let _ = fields::open_fields_with(&found, &keys.key, "t", Some(b"k"));
            }
            let _ = fields::seal_fields(&mut keys.sealer, "t", None, &["a".to_string()], rest);
        }
        2 => {
            let version = 3 + (pick / 4) as i16 % 11;
            let mut inlet = InletInterceptor::new();
            let mut topics = TopicNames::new();
            topics.learn([7; 16], "t");
            let frame = request(0, version, version >= 9, rest);
            let _ = inlet.on_request_encrypting(frame, &topics, &mut keys);
        }
        _ => {
            let version = 4 + (pick / 4) as i16 % 15;
            let mut inlet = InletInterceptor::new();
            let mut topics = TopicNames::new();
            topics.learn([7; 16], "t");
            let mut brokers = BrokerMap::new("127.0.0.1", 20000..=20002).unwrap();
            if inlet
                .on_request(request(1, version, version >= 12, &[]))
                .is_ok()
            {
                let mut response = 1i32.to_be_bytes().to_vec();
                if version >= 12 {
                    response.push(0);
                }
                response.extend_from_slice(rest);
                let _ = inlet.on_response_decrypting(
                    encode_frame(&response),
                    &mut brokers,
                    &mut topics,
                    &mut keys,
                );
            }
        }
    }
});
