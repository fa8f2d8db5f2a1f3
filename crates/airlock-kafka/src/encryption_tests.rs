//! Tests of the inlet's record encryption hooks, with frames built by kafka-protocol's encoders
//! and record batches by its record encoder.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchResponse, MetadataResponse, ProduceRequest, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::*;
use crate::frame::frame_body;
use crate::tests::{request, response};
use crate::{BrokerMap, InletInterceptor, RequestAction, ResponseAction};

const ID: KeyId = KeyId([9; 8]);
const TOPIC_ID: [u8; 16] = [0x42; 16];

fn key() -> DataKey {
    DataKey::new(ID, [3; 32])
}

/// A runtime stand-in: topics it encrypts, keys made on demand.
#[derive(Default)]
struct Keys {
    sealers: HashMap<String, Sealer>,
    encrypted: Vec<String>,
    cache: HashMap<KeyId, DataKey>,
    unavailable: Vec<KeyId>,
    fields: Vec<String>,
}

impl ProduceEncryptor for Keys {
    fn encrypted_fields(&self) -> &[String] {
        &self.fields
    }

    fn sealer(&mut self, topic: &str) -> Result<Option<&mut Sealer>, KeyNotReady> {
        if !self.encrypted.iter().any(|t| t == topic) {
            return Ok(None);
        }
        self.sealers.get_mut(topic).map(Some).ok_or(KeyNotReady)
    }
}

impl FetchDecryptor for Keys {
    fn data_key(&mut self, id: KeyId) -> KeyLookup<'_> {
        if self.unavailable.contains(&id) {
            return KeyLookup::Unavailable;
        }
        self.cache
            .get(&id)
            .map_or(KeyLookup::Missing, KeyLookup::Ready)
    }
    fn must_be_encrypted(&self, topic: &str) -> bool {
        self.encrypted.iter().any(|t| t == topic)
    }
}

fn keys() -> Keys {
    Keys {
        encrypted: vec!["orders".into()],
        ..Keys::default()
    }
}

fn batch(values: &[Option<&'static str>], compression: Compression) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: 77,
            producer_epoch: 1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: 5 + i as i32,
            timestamp: 1000,
            key: Some(Bytes::from(format!("k{i}"))),
            value: v.map(|v| Bytes::from_static(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.freeze()
}

fn values(records: &Bytes) -> (Compression, Vec<Record>) {
    let set = RecordBatchDecoder::decode(&mut records.clone()).unwrap();
    (set.compression, set.records)
}

fn produce(version: i16, topic: &'static str, records: Bytes) -> Bytes {
    let mut t =
        TopicProduceData::default().with_partition_data(vec![PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(records))]);
    if version >= 13 {
        t = t.with_topic_id(uuid::Uuid::from_bytes(TOPIC_ID));
    } else {
        t = t.with_name(TopicName(StrBytes::from_static_str(topic)));
    }
    let m = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![t]);
    let mut body = BytesMut::new();
    m.encode(&mut body, version).unwrap();
    request(ApiKey::Produce as i16, version, 1, &body)
}

fn produced(frame: &Bytes, version: i16) -> ProduceRequest {
    let mut body = frame_body(frame).unwrap();
    RequestHeader::decode(&mut body, ApiKey::Produce.request_header_version(version)).unwrap();
    ProduceRequest::decode(&mut body, version).unwrap()
}

fn fetch(version: i16, correlation_id: i32, records: Bytes) -> Bytes {
    let mut t = FetchableTopicResponse::default().with_partitions(vec![PartitionData::default()
        .with_partition_index(3)
        .with_high_watermark(10)
        .with_records(Some(records))]);
    if version >= 13 {
        t = t.with_topic_id(uuid::Uuid::from_bytes(TOPIC_ID));
    } else {
        t = t.with_topic(TopicName(StrBytes::from_static_str("orders")));
    }
    response(
        ApiKey::Fetch,
        version,
        correlation_id,
        &FetchResponse::default().with_responses(vec![t]),
    )
}

fn fetched(frame: &Bytes, version: i16) -> PartitionData {
    let mut body = frame_body(frame).unwrap();
    ResponseHeader::decode(&mut body, ApiKey::Fetch.response_header_version(version)).unwrap();
    let mut m = FetchResponse::decode(&mut body, version).unwrap();
    m.responses.remove(0).partitions.remove(0)
}

/// Seals through the inlet, as the producer's node does; returns the sealed records.
fn sealed_records(keys: &mut Keys, compression: Compression) -> Bytes {
    let mut inlet = InletInterceptor::new();
    let frame = produce(
        9,
        "orders",
        batch(&[Some("a"), None, Some("bc")], compression),
    );
    let topics = TopicNames::new();
    let action = inlet
        .on_request_encrypting(frame.clone(), &topics, keys)
        .unwrap();
    assert_eq!(
        action,
        RequestAction::NeedKey {
            topic: "orders".into()
        }
    );
    assert_eq!(
        inlet.in_flight(),
        0,
        "nothing remembered while waiting for the key"
    );
    keys.sealers.insert("orders".into(), Sealer::new(key()));
    let RequestAction::Sealed {
        frame: out,
        encrypted,
    } = inlet.on_request_encrypting(frame, &topics, keys).unwrap()
    else {
        panic!("not sealed")
    };
    assert_eq!(
        encrypted,
        [("orders".to_string(), 2)],
        "two values sealed, the tombstone not counted"
    );
    assert_eq!(inlet.in_flight(), 1);
    produced(&out, 9).topic_data[0].partition_data[0]
        .records
        .clone()
        .unwrap()
}

#[test]
fn produce_seals_values_and_keeps_codec_and_tombstones() {
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let mut keys = keys();
        let records = sealed_records(&mut keys, compression);
        let (codec, got) = values(&records);
        assert_eq!(codec, compression);
        assert_eq!(got[1].value, None, "tombstone stays null");
        for (r, want) in [(&got[0], "a"), (&got[2], "bc")] {
            let v = r.value.as_ref().unwrap();
            assert_eq!(peek_key_id(v), Some(ID));
            let plain = open(&key(), "orders", r.key.as_deref(), v).unwrap();
            assert_eq!(plain, want.as_bytes());
            assert_eq!((r.producer_id, r.producer_epoch), (77, 1));
        }
        assert_eq!(got[2].sequence, 7);
    }
}

#[test]
fn produce_to_a_clear_topic_is_forwarded_unchanged() {
    let mut inlet = InletInterceptor::new();
    let frame = produce(9, "logs", batch(&[Some("x")], Compression::None));
    let action = inlet
        .on_request_encrypting(frame.clone(), &TopicNames::new(), &mut keys())
        .unwrap();
    assert_eq!(action, RequestAction::Forward(frame));
}

#[test]
fn produce_by_topic_id_needs_the_name() {
    let mut inlet = InletInterceptor::new();
    let frame = produce(13, "", batch(&[Some("x")], Compression::None));
    let mut topics = TopicNames::new();
    assert!(matches!(
        inlet.on_request_encrypting(frame.clone(), &topics, &mut keys()),
        Err(crate::KafkaError::Encrypt { .. })
    ));
    topics.learn(TOPIC_ID, "orders");
    let mut k = keys();
    k.sealers.insert("orders".into(), Sealer::new(key()));
    let RequestAction::Sealed {
        frame: out,
        encrypted,
    } = inlet.on_request_encrypting(frame, &topics, &mut k).unwrap()
    else {
        panic!("not sealed")
    };
    assert_eq!(encrypted, [("orders".to_string(), 1)]);
    let records = produced(&out, 13).topic_data[0].partition_data[0]
        .records
        .clone()
        .unwrap();
    let v = values(&records).1[0].value.clone().unwrap();
    assert_eq!(open(&key(), "orders", Some(b"k0"), &v).unwrap(), b"x");
}

fn fetch_through(
    keys: &mut Keys,
    topics: &mut TopicNames,
    version: i16,
    records: Bytes,
) -> ResponseAction {
    let mut inlet = InletInterceptor::new();
    let mut brokers = BrokerMap::new("127.0.0.1", 9093..=9099).unwrap();
    inlet
        .on_request(request(ApiKey::Fetch as i16, version, 5, &[]))
        .unwrap();
    let frame = fetch(version, 5, records);
    let mut action = inlet
        .on_response_decrypting(frame.clone(), &mut brokers, topics, keys)
        .unwrap();
    if let ResponseAction::NeedKeys(ids) = &action {
        assert_eq!(ids, &[ID]);
        assert_eq!(inlet.in_flight(), 1, "still awaited while keys are fetched");
        keys.cache.insert(ID, key());
        action = inlet
            .on_response_decrypting(frame, &mut brokers, topics, keys)
            .unwrap();
    }
    assert_eq!(inlet.in_flight(), 0);
    action
}

#[test]
fn fetch_opens_values_after_fetching_keys_and_decompresses() {
    for version in [4, 12] {
        let mut keys = keys();
        let records = sealed_records(&mut keys, Compression::Snappy);
        keys.sealers.clear();
        let action = fetch_through(&mut keys, &mut TopicNames::new(), version, records);
        let ResponseAction::Decrypted {
            frame,
            failures,
            decrypted,
        } = action
        else {
            panic!("not decrypted: {action:?}")
        };
        assert!(failures.is_empty());
        assert_eq!(decrypted, [("orders".to_string(), 2)]);
        let p = fetched(&frame, version);
        assert_eq!((p.error_code, p.high_watermark), (0, 10));
        let (codec, got) = values(&p.records.unwrap());
        assert_eq!(codec, Compression::None);
        let got: Vec<_> = got.iter().map(|r| r.value.clone()).collect();
        assert_eq!(got, [Some("a".into()), None, Some("bc".into())]);
    }
}

#[test]
fn fetch_failures_become_corrupt_message_partitions() {
    let mut keys = keys();
    let records = sealed_records(&mut keys, Compression::None);
    // A flipped ciphertext byte (the CRC fixed, as a broker could).
    let mut bad = records.to_vec();
    let last = bad.len() - 2;
    bad[last] ^= 1;
    let crc = crc32c::crc32c(&bad[21..]);
    bad[17..21].copy_from_slice(&crc.to_be_bytes());
    let plaintext = batch(&[Some("clear")], Compression::None);
    let unavailable = {
        let mut k = keys.clone_for_fetch();
        k.unavailable.push(ID);
        k
    };
    for (mut k, records, reason) in [
        (keys.clone_for_fetch(), Bytes::from(bad), "tag"),
        (keys.clone_for_fetch(), plaintext, "plain"),
        (unavailable, records, "unavailable"),
    ] {
        let action = fetch_through(&mut k, &mut TopicNames::new(), 12, records);
        let ResponseAction::Decrypted {
            frame,
            failures,
            decrypted,
        } = action
        else {
            panic!("{reason}: {action:?}")
        };
        assert!(
            decrypted.is_empty(),
            "{reason}: a withheld partition counts no decrypted record: {decrypted:?}"
        );
        let p = fetched(&frame, 12);
        assert_eq!(p.error_code, DECRYPT_FAILURE_ERROR, "{reason}");
        assert_eq!(p.records.as_deref(), Some(&b""[..]), "{reason}");
        assert_eq!(
            (failures[0].topic.as_str(), failures[0].partition),
            ("orders", 3)
        );
        let ok = match reason {
            "tag" => failures[0].reason == FailureReason::Undecryptable(CryptoError::TagMismatch),
            "plain" => failures[0].reason == FailureReason::Plaintext,
            _ => failures[0].reason == FailureReason::KeyUnavailable(ID),
        };
        assert!(ok, "{reason}: {failures:?}");
    }
}

#[test]
fn plaintext_on_a_clear_topic_passes_unchanged() {
    let mut k = Keys::default();
    let records = batch(&[Some("clear")], Compression::Gzip);
    let action = fetch_through(&mut k, &mut TopicNames::new(), 12, records.clone());
    assert_eq!(action, ResponseAction::Forward(fetch(12, 5, records)));
}

#[test]
fn fetch_by_topic_id_uses_names_learned_from_metadata() {
    let mut keys = keys();
    let records = sealed_records(&mut keys, Compression::Lz4);
    keys.cache.insert(ID, key());
    let mut topics = TopicNames::new();
    let action = fetch_through(&mut keys, &mut topics, 13, records.clone());
    let ResponseAction::Decrypted {
        failures,
        decrypted,
        ..
    } = action
    else {
        panic!("{action:?}")
    };
    assert_eq!(failures[0].reason, FailureReason::UnknownTopicId);
    assert!(decrypted.is_empty());
    // A Metadata v12 response through the same inlet teaches the id.
    let mut inlet = InletInterceptor::new();
    let mut brokers = BrokerMap::new("127.0.0.1", 9093..=9099).unwrap();
    inlet
        .on_request(request(ApiKey::Metadata as i16, 12, 8, &[]))
        .unwrap();
    let metadata = MetadataResponse::default().with_topics(vec![MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_static_str("orders"))))
        .with_topic_id(uuid::Uuid::from_bytes(TOPIC_ID))]);
    inlet
        .on_response_decrypting(
            response(ApiKey::Metadata, 12, 8, &metadata),
            &mut brokers,
            &mut topics,
            &mut keys,
        )
        .unwrap();
    assert_eq!(topics.name(&TOPIC_ID), Some("orders"));
    let action = fetch_through(&mut keys, &mut topics, 13, records);
    let ResponseAction::Decrypted {
        frame,
        failures,
        decrypted,
    } = action
    else {
        panic!("{action:?}")
    };
    assert!(failures.is_empty());
    assert_eq!(decrypted, [("orders".to_string(), 2)]);
    assert_eq!(
        values(&fetched(&frame, 13).records.unwrap()).1[0].value,
        Some("a".into())
    );
}

impl Keys {
    fn clone_for_fetch(&self) -> Keys {
        Keys {
            encrypted: self.encrypted.clone(),
            cache: [(ID, key())].into(),
            ..Keys::default()
        }
    }
}

#[test]
fn api_versions_cap_produce_and_fetch_to_what_we_decode() {
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::ApiVersionsResponse;
    let mut r = ApiVersionsResponse::default().with_api_keys(vec![
        ApiVersion::default()
            .with_api_key(0)
            .with_min_version(3)
            .with_max_version(14),
        ApiVersion::default()
            .with_api_key(1)
            .with_min_version(4)
            .with_max_version(19),
    ]);
    assert!(crate::cap_api_versions(&mut r).unwrap());
    let max: Vec<i16> = r.api_keys.iter().map(|v| v.max_version).collect();
    assert_eq!(max, [13, 18]);
    let too_new = request(ApiKey::Produce as i16, 14, 1, &[]);
    assert!(matches!(
        InletInterceptor::new().on_request(too_new),
        Err(crate::KafkaError::UnsupportedVersion { max: 13, .. })
    ));
}

/// SASL (clients speaking SASL_PLAINTEXT/PLAIN to the inlet, the outlet speaking TLS to a
/// SASL_SSL listener): SaslHandshake and SaslAuthenticate pass through the encrypting inlet and
/// the outlet as the same bytes, in both directions — even a SaslAuthenticate that comes before
/// any other request — and the requests after them are handled as usual.
#[test]
fn sasl_passes_through_the_encrypting_inlet_and_the_outlet_untouched() {
    use crate::tests::sasl_exchange;
    let mut inlet = InletInterceptor::new();
    let mut outlet = crate::OutletInterceptor::new();
    let mut known = crate::KnownBrokers::new();
    let mut brokers = BrokerMap::new("127.0.0.1", 10001..=10010).unwrap();
    let mut topics = TopicNames::new();
    let mut k = keys();
    for (req, resp) in sasl_exchange() {
        let RequestAction::Forward(fwd) = inlet
            .on_request_encrypting(req.clone(), &topics, &mut k)
            .unwrap()
        else {
            panic!("a SASL request is forwarded")
        };
        assert_eq!(fwd.as_ptr(), req.as_ptr(), "the same bytes");
        let RequestAction::Forward(at_broker) = outlet.on_request(fwd).unwrap() else {
            panic!("the outlet forwards it")
        };
        assert_eq!(at_broker, req);
        let back = outlet.on_response(resp.clone(), &mut known).unwrap();
        assert_eq!(back.frame.as_ptr(), resp.as_ptr());
        assert!(back.learned.is_empty());
        let ResponseAction::Forward(to_client) = inlet
            .on_response_decrypting(back.frame, &mut brokers, &mut topics, &mut k)
            .unwrap()
        else {
            panic!("a SASL response is forwarded")
        };
        assert_eq!(to_client.as_ptr(), resp.as_ptr(), "the same bytes");
    }
    assert_eq!((inlet.in_flight(), outlet.in_flight()), (0, 0));
    // After authentication, a Produce is sealed as ever.
    let frame = produce(9, "orders", batch(&[Some("a")], Compression::None));
    assert_eq!(
        inlet.on_request_encrypting(frame, &topics, &mut k).unwrap(),
        RequestAction::NeedKey {
            topic: "orders".into()
        }
    );
}

/// `--encrypted-field pin`: only that field of each JSON value is sealed; the consumer side
/// opens it with no configuration; a value that is not a JSON object with the field is refused
/// at produce time; a tampered field withholds the partition.
#[test]
fn named_json_fields_are_sealed_and_opened() {
    let mut fk = Keys {
        fields: vec!["pin".into()],
        ..keys()
    };
    fk.sealers.insert("orders".into(), Sealer::new(key()));
    let mut inlet = InletInterceptor::new();
    let json = [
        Some(r#"{"id": 1, "pin": "1234"}"#),
        None,
        Some(r#"{"pin":[5,6],"x":true}"#),
    ];
    let frame = produce(9, "orders", batch(&json, Compression::Lz4));
    let topics = TopicNames::new();
    let RequestAction::Sealed { frame: out, .. } = inlet
        .on_request_encrypting(frame, &topics, &mut fk)
        .unwrap()
    else {
        panic!("not sealed")
    };
    let records = produced(&out, 9).topic_data[0].partition_data[0]
        .records
        .clone()
        .unwrap();
    let (_, got) = values(&records);
    let first = String::from_utf8(got[0].value.clone().unwrap().to_vec()).unwrap();
    assert!(
        first.starts_with(r#"{"id":1,"pin":"airlock:v1:"#),
        "{first}"
    );
    assert!(!first.contains("1234"));
    assert_eq!(got[1].value, None);

    fk.sealers.clear();
    let action = fetch_through(&mut fk, &mut TopicNames::new(), 12, records.clone());
    let ResponseAction::Decrypted {
        frame,
        failures,
        decrypted,
    } = action
    else {
        panic!("not decrypted: {action:?}")
    };
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(decrypted, [("orders".to_string(), 2)]);
    let (_, opened) = values(&fetched(&frame, 12).records.unwrap());
    let opened: Vec<_> = opened.iter().map(|r| r.value.clone()).collect();
    assert_eq!(
        opened,
        [
            Some(r#"{"id":1,"pin":"1234"}"#.into()),
            None,
            Some(r#"{"pin":[5,6],"x":true}"#.into())
        ]
    );

    // A field moved under another name does not open: the partition is withheld.
    let moved = first.replacen("\"pin\"", "\"pan\"", 1);
    let moved: &'static str = Box::leak(moved.into_boxed_str());
    let mut k2 = keys();
    k2.cache.insert(ID, key());
    let action = fetch_through(
        &mut k2,
        &mut TopicNames::new(),
        12,
        batch(&[Some(moved)], Compression::None),
    );
    let ResponseAction::Decrypted { failures, .. } = action else {
        panic!("{action:?}")
    };
    assert!(
        matches!(&failures[0].reason, FailureReason::BadField(_)),
        "{failures:?}"
    );

    // Not a JSON object, or without the field: refused before anything is sent.
    for bad in ["plain", r#"{"id":2}"#] {
        let mut inlet = InletInterceptor::new();
        fk.sealers.insert("orders".into(), Sealer::new(key()));
        let frame = produce(9, "orders", batch(&[Some(bad)], Compression::None));
        assert!(
            matches!(
                inlet.on_request_encrypting(frame, &topics, &mut fk),
                Err(crate::KafkaError::Encrypt { .. })
            ),
            "{bad}"
        );
    }
}
