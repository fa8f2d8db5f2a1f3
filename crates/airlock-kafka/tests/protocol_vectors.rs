//! Checks the Kafka test vectors of `docs/protocol.md` §11 against the interceptor.
//!
//! Every ```` ```kafka-vector ```` block is parsed (`name`, `input`, `hex` lines, as the channel
//! vectors of §8). Each must be one this test recomputes with kafka-protocol's encoders and the
//! inlet interceptor, and every vector this test knows must be in the document.

use airlock_kafka::header::encode_response;
use airlock_kafka::{BrokerMap, InletInterceptor, RequestAction, ResponseAction};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
use kafka_protocol::messages::{ApiKey, BrokerId, MetadataResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Encodable, StrBytes};

const KNOWN: &[&str] = &[
    "K1-metadata-v12-response",
    "K2-metadata-v12-rewritten",
    "K3-api-versions-too-new",
];

fn request(key: ApiKey, version: i16, correlation_id: i32) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u32(0);
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("c")))
        .encode(&mut out, key.request_header_version(version))
        .unwrap();
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out.freeze()
}

/// K1: Metadata v12, correlation id 7, one broker (1, "kafka", 9092, no rack), cluster id "c",
/// controller 1, no topics.
fn k1() -> Bytes {
    let m = MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(1))
            .with_host(StrBytes::from_static_str("kafka"))
            .with_port(9092)])
        .with_cluster_id(Some(StrBytes::from_static_str("c")))
        .with_controller_id(BrokerId(1));
    let header = ResponseHeader::default().with_correlation_id(7);
    encode_response(ApiKey::Metadata, 12, &header, &m).unwrap()
}

fn compute(name: &str) -> Vec<u8> {
    match name {
        "K1-metadata-v12-response" => k1().to_vec(),
        "K2-metadata-v12-rewritten" => {
            let mut inlet = InletInterceptor::new();
            let mut brokers = BrokerMap::new("127.0.0.1", 9093..=9099).unwrap();
            inlet.on_request(request(ApiKey::Metadata, 12, 7)).unwrap();
            match inlet.on_response(k1(), &mut brokers).unwrap() {
                ResponseAction::Rewritten { frame, .. } => frame.to_vec(),
                other => panic!("not rewritten: {other:?}"),
            }
        }
        "K3-api-versions-too-new" => {
            match InletInterceptor::new()
                .on_request(request(ApiKey::ApiVersions, 9, 7))
                .unwrap()
            {
                RequestAction::Reply(frame) => frame.to_vec(),
                other => panic!("no local reply: {other:?}"),
            }
        }
        other => {
            panic!("vector {other} is not known to this test: add it to `compute` and `KNOWN`")
        }
    }
}

fn vectors() -> Vec<(String, Vec<u8>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```kafka-vector" {
            continue;
        }
        let (mut name, mut hex_text) = (None, None);
        for l in lines.by_ref() {
            let l = l.trim();
            if l == "```" {
                break;
            }
            match l.split_once(':') {
                Some(("name", v)) => name = Some(v.trim().to_string()),
                Some(("hex", v)) => hex_text = Some(v.trim().to_string()),
                Some(("input", _)) => {}
                _ => panic!("malformed kafka-vector line {l:?}"),
            }
        }
        let name = name.expect("kafka-vector without name");
        let bytes = hex::decode(hex_text.expect("kafka-vector without hex")).unwrap();
        out.push((name, bytes));
    }
    out
}

#[test]
fn document_vectors_match_the_implementation() {
    for (name, bytes) in vectors() {
        assert_eq!(
            hex::encode(compute(&name)),
            hex::encode(&bytes),
            "vector {name} differs from the implementation"
        );
    }
}

#[test]
fn every_known_vector_is_in_the_document() {
    let names: Vec<String> = vectors().into_iter().map(|(n, _)| n).collect();
    for k in KNOWN {
        assert!(names.iter().any(|n| n == k), "docs/protocol.md lacks {k}");
    }
}

#[test]
#[ignore = "prints the vectors for the document"]
fn print_vectors() {
    for k in KNOWN {
        println!("{k}: {}", hex::encode(compute(k)));
    }
}
