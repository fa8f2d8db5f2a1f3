//! Interceptor tests with real frames built by kafka-protocol's encoders.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, DescribeClusterResponse, FindCoordinatorResponse,
    MetadataResponse, ProduceRequest, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use proptest::prelude::*;

use crate::frame::frame_body;
use crate::header::encode_response;
use crate::*;

/// A request frame: header for `key` (v1 header for keys kafka-protocol does not know) + body.
pub(crate) fn request(key: i16, version: i16, correlation_id: i32, body: &[u8]) -> Bytes {
    let header_version = ApiKey::try_from(key).map_or(1, |a| a.request_header_version(version));
    let header = RequestHeader::default()
        .with_request_api_key(key)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("test-client")));
    let mut out = BytesMut::new();
    out.put_u32(0);
    header.encode(&mut out, header_version).unwrap();
    out.put_slice(body);
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out.freeze()
}

pub(crate) fn response<M: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    m: &M,
) -> Bytes {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    encode_response(api, version, &header, m).unwrap()
}

fn decode_response<M: Decodable>(api: ApiKey, version: i16, frame: &Bytes) -> M {
    let mut body = frame_body(frame).unwrap();
    ResponseHeader::decode(&mut body, api.response_header_version(version)).unwrap();
    let m = M::decode(&mut body, version).unwrap();
    assert!(body.is_empty());
    m
}

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

fn broker(id: i32, host: &'static str, port: i32) -> MetadataResponseBroker {
    MetadataResponseBroker::default()
        .with_node_id(BrokerId(id))
        .with_host(s(host))
        .with_port(port)
        .with_rack(Some(s("rack-a")))
}

/// A three-broker cluster with one topic of two partitions.
fn metadata(version: i16) -> MetadataResponse {
    let partition = |i: i32| {
        MetadataResponsePartition::default()
            .with_partition_index(i)
            .with_leader_id(BrokerId(i + 1))
            .with_replica_nodes(vec![BrokerId(1), BrokerId(2), BrokerId(3)])
            .with_isr_nodes(vec![BrokerId(1), BrokerId(2)])
    };
    MetadataResponse::default()
        .with_brokers(vec![
            broker(1, "kafka-1.internal", 9092),
            broker(2, "kafka-2.internal", 9092),
            broker(3, "kafka-3.internal", 9192),
        ])
        .with_cluster_id(if version >= 2 {
            Some(s("cluster-x"))
        } else {
            None
        })
        .with_controller_id(BrokerId(if version >= 1 { 2 } else { -1 }))
        .with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some(TopicName(s("orders"))))
            .with_partitions(vec![partition(0), partition(1)])])
}

fn map() -> BrokerMap {
    BrokerMap::new("127.0.0.1", 10001..=10010).unwrap()
}

fn forward(action: RequestAction) -> Bytes {
    match action {
        RequestAction::Forward(f) => f,
        other => panic!("expected Forward, got {other:?}"),
    }
}

#[test]
fn metadata_brokers_are_rewritten_at_every_version() {
    for version in 0..=13 {
        let mut inlet = InletInterceptor::new();
        let mut brokers = map();
        let req = request(3, version, 42, &[]);
        assert_eq!(forward(inlet.on_request(req.clone()).unwrap()), req);
        let original_frame = response(ApiKey::Metadata, version, 42, &metadata(version));
        // What the client would have read without us (fields absent at this version dropped).
        let original: MetadataResponse =
            decode_response(ApiKey::Metadata, version, &original_frame);
        let action = inlet.on_response(original_frame, &mut brokers).unwrap();
        let ResponseAction::Rewritten { frame, new_brokers } = action else {
            panic!("v{version}: not rewritten");
        };
        assert_eq!(
            new_brokers
                .iter()
                .map(|b| (b.node_id, b.local_port))
                .collect::<Vec<_>>(),
            vec![(1, 10001), (2, 10002), (3, 10003)],
            "v{version}"
        );
        assert_eq!(new_brokers[2].advertised.host, "kafka-3.internal");
        assert_eq!(new_brokers[2].advertised.port, 9192);
        let rewritten: MetadataResponse = decode_response(ApiKey::Metadata, version, &frame);
        let mut expected = original.clone();
        for (b, port) in expected.brokers.iter_mut().zip([10001, 10002, 10003]) {
            b.host = s("127.0.0.1");
            b.port = port;
        }
        assert_eq!(rewritten, expected, "v{version}: only addresses change");
        assert_eq!(inlet.in_flight(), 0);
    }
}

#[test]
fn ports_are_shared_by_connections_and_stable() {
    let mut brokers = map();
    let mut first = InletInterceptor::new();
    first.on_request(request(3, 12, 1, &[])).unwrap();
    first
        .on_response(
            response(ApiKey::Metadata, 12, 1, &metadata(12)),
            &mut brokers,
        )
        .unwrap();
    // A second connection sees the same brokers plus a new one, in another order.
    let mut second = InletInterceptor::new();
    second.on_request(request(3, 12, 1, &[])).unwrap();
    let mut m = metadata(12);
    m.brokers.reverse();
    m.brokers.push(broker(9, "kafka-9.internal", 9092));
    let action = second
        .on_response(response(ApiKey::Metadata, 12, 1, &m), &mut brokers)
        .unwrap();
    let ResponseAction::Rewritten { frame, new_brokers } = action else {
        panic!()
    };
    assert_eq!(new_brokers.len(), 1);
    assert_eq!(
        (new_brokers[0].node_id, new_brokers[0].local_port),
        (9, 10004)
    );
    let got: MetadataResponse = decode_response(ApiKey::Metadata, 12, &frame);
    let ports: Vec<(i32, i32)> = got.brokers.iter().map(|b| (b.node_id.0, b.port)).collect();
    assert_eq!(ports, vec![(3, 10003), (2, 10002), (1, 10001), (9, 10004)]);
}

#[test]
fn an_exhausted_port_range_is_an_error() {
    let mut brokers = BrokerMap::new("127.0.0.1", 10001..=10002).unwrap();
    let mut inlet = InletInterceptor::new();
    inlet.on_request(request(3, 9, 5, &[])).unwrap();
    let err = inlet
        .on_response(response(ApiKey::Metadata, 9, 5, &metadata(9)), &mut brokers)
        .unwrap_err();
    assert_eq!(
        err,
        KafkaError::PortRangeExhausted {
            node_id: 3,
            first: 10001,
            last: 10002
        }
    );
    assert!(err.to_string().contains("configure a larger range"));
}

#[test]
fn find_coordinator_single_node_and_coordinators_array() {
    let mut brokers = map();
    let mut inlet = InletInterceptor::new();
    for version in 0..=3 {
        inlet.on_request(request(10, version, 7, &[])).unwrap();
        let fc = FindCoordinatorResponse::default()
            .with_node_id(BrokerId(2))
            .with_host(s("kafka-2.internal"))
            .with_port(9092);
        let action = inlet
            .on_response(
                response(ApiKey::FindCoordinator, version, 7, &fc),
                &mut brokers,
            )
            .unwrap();
        let got: FindCoordinatorResponse =
            decode_response(ApiKey::FindCoordinator, version, action.frame().unwrap());
        assert_eq!(
            (got.node_id.0, got.host.as_str(), got.port),
            (2, "127.0.0.1", 10001)
        );
    }
    for version in 4..=6 {
        inlet.on_request(request(10, version, 8, &[])).unwrap();
        let ok = Coordinator::default()
            .with_key(s("group-a"))
            .with_node_id(BrokerId(3))
            .with_host(s("kafka-3.internal"))
            .with_port(9092);
        let failed = Coordinator::default()
            .with_key(s("group-b"))
            .with_node_id(BrokerId(-1))
            .with_host(s(""))
            .with_port(-1)
            .with_error_code(15); // COORDINATOR_NOT_AVAILABLE
        let fc = FindCoordinatorResponse::default().with_coordinators(vec![ok, failed.clone()]);
        let action = inlet
            .on_response(
                response(ApiKey::FindCoordinator, version, 8, &fc),
                &mut brokers,
            )
            .unwrap();
        let got: FindCoordinatorResponse =
            decode_response(ApiKey::FindCoordinator, version, action.frame().unwrap());
        let c = &got.coordinators[0];
        assert_eq!(
            (c.node_id.0, c.host.as_str(), c.port),
            (3, "127.0.0.1", 10002)
        );
        assert_eq!(got.coordinators[1], failed, "an error entry is left alone");
    }
    // An error response names no broker: forwarded as is.
    inlet.on_request(request(10, 3, 9, &[])).unwrap();
    let fc = FindCoordinatorResponse::default()
        .with_error_code(15)
        .with_node_id(BrokerId(-1))
        .with_port(-1);
    let frame = response(ApiKey::FindCoordinator, 3, 9, &fc);
    assert_eq!(
        inlet.on_response(frame.clone(), &mut brokers).unwrap(),
        ResponseAction::Forward(frame)
    );
}

#[test]
fn describe_cluster_is_rewritten_and_controllers_refused() {
    let mut brokers = map();
    let mut inlet = InletInterceptor::new();
    for version in 0..=2 {
        inlet.on_request(request(60, version, 3, &[])).unwrap();
        let dc = DescribeClusterResponse::default()
            .with_cluster_id(s("cluster-x"))
            .with_brokers(vec![DescribeClusterBroker::default()
                .with_broker_id(BrokerId(1))
                .with_host(s("kafka-1.internal"))
                .with_port(9092)]);
        let action = inlet
            .on_response(
                response(ApiKey::DescribeCluster, version, 3, &dc),
                &mut brokers,
            )
            .unwrap();
        let got: DescribeClusterResponse =
            decode_response(ApiKey::DescribeCluster, version, action.frame().unwrap());
        assert_eq!(
            (got.brokers[0].host.as_str(), got.brokers[0].port),
            ("127.0.0.1", 10001)
        );
    }
    inlet.on_request(request(60, 1, 4, &[])).unwrap();
    let controllers = DescribeClusterResponse::default()
        .with_endpoint_type(2)
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(100))
            .with_host(s("c"))
            .with_port(9093)]);
    assert_eq!(
        inlet.on_response(
            response(ApiKey::DescribeCluster, 1, 4, &controllers),
            &mut brokers
        ),
        Err(KafkaError::ControllerEndpoints { endpoint_type: 2 })
    );
}

fn api_versions(features: bool) -> ApiVersionsResponse {
    let v = |key: i16, min: i16, max: i16| {
        ApiVersion::default()
            .with_api_key(key)
            .with_min_version(min)
            .with_max_version(max)
    };
    let mut r = ApiVersionsResponse::default().with_api_keys(vec![
        v(0, 3, 13),  // Produce: passes untouched
        v(1, 4, 18),  // Fetch
        v(3, 0, 15),  // Metadata: capped to 13
        v(4, 0, 7),   // LeaderAndIsr: removed
        v(10, 0, 7),  // FindCoordinator: capped to 6
        v(18, 0, 4),  // ApiVersions: already within
        v(60, 0, 2),  // DescribeCluster
        v(63, 0, 1),  // BrokerHeartbeat: removed
        v(300, 0, 0), // unknown: removed
    ]);
    if features {
        r = r
            .with_supported_features(vec![
                kafka_protocol::messages::api_versions_response::SupportedFeatureKey::default()
                    .with_name(s("metadata.version"))
                    .with_min_version(1)
                    .with_max_version(27),
            ])
            .with_finalized_features_epoch(5);
    }
    r
}

#[test]
fn api_versions_are_capped_identically_on_both_sides() {
    for version in 0..=4 {
        let original = api_versions(version >= 3);
        let frame = response(ApiKey::ApiVersions, version, 1, &original);
        let mut outlet = OutletInterceptor::new();
        outlet.on_request(request(18, version, 1, &[])).unwrap();
        let out = outlet.on_response(frame, &mut KnownBrokers::new()).unwrap();
        let got: ApiVersionsResponse = decode_response(ApiKey::ApiVersions, version, &out.frame);
        let keys: Vec<(i16, i16, i16)> = got
            .api_keys
            .iter()
            .map(|v| (v.api_key, v.min_version, v.max_version))
            .collect();
        assert_eq!(
            keys,
            vec![
                (0, 3, 13),
                (1, 4, 18),
                (3, 0, 13),
                (10, 0, 6),
                (18, 0, 4),
                (60, 0, 2)
            ],
            "v{version}"
        );
        assert_eq!(got.supported_features, original.supported_features);
        assert_eq!(
            got.finalized_features_epoch,
            original.finalized_features_epoch
        );
        // The inlet caps the same way: the outlet's capped response passes it unchanged.
        let mut inlet = InletInterceptor::new();
        inlet.on_request(request(18, version, 1, &[])).unwrap();
        let action = inlet.on_response(out.frame.clone(), &mut map()).unwrap();
        assert_eq!(action, ResponseAction::Forward(out.frame));
    }
}

#[test]
fn api_versions_fallback_body_at_v0_is_read() {
    // The client asked for v4; a broker that only knows v0–2 answers with a v0 body.
    let original = api_versions(false).with_error_code(35);
    let mut inlet = InletInterceptor::new();
    inlet.on_request(request(18, 4, 2, &[])).unwrap();
    let action = inlet
        .on_response(response(ApiKey::ApiVersions, 0, 2, &original), &mut map())
        .unwrap();
    let got: ApiVersionsResponse = decode_response(ApiKey::ApiVersions, 0, action.frame().unwrap());
    assert_eq!(got.error_code, 35);
    assert_eq!(got.api_keys.len(), 6);
}

#[test]
fn api_versions_request_newer_than_we_read_is_answered_locally() {
    let mut inlet = InletInterceptor::new();
    let RequestAction::Reply(reply) = inlet.on_request(request(18, 5, 77, &[])).unwrap() else {
        panic!("expected a local reply");
    };
    let mut body = frame_body(&reply).unwrap();
    assert_eq!(
        ResponseHeader::decode(&mut body, 0).unwrap().correlation_id,
        77
    );
    let got = ApiVersionsResponse::decode(&mut body, 0).unwrap();
    assert_eq!(got.error_code, 35);
    assert_eq!(
        (got.api_keys[0].api_key, got.api_keys[0].max_version),
        (18, 4)
    );
    assert_eq!(inlet.in_flight(), 0, "nothing was forwarded");
}

#[test]
fn broker_only_and_unknown_apis_are_refused_on_both_sides() {
    for key in [
        4, 5, 6, 7, 27, 52, 53, 54, 56, 58, 59, 62, 63, 67, 70, 73, 82, 83, 87,
    ] {
        let frame = request(key, 0, 1, &[]);
        assert_eq!(
            InletInterceptor::new().on_request(frame.clone()),
            Err(KafkaError::RefusedApi { api_key: key })
        );
        assert_eq!(
            OutletInterceptor::new().on_request(frame),
            Err(KafkaError::RefusedApi { api_key: key })
        );
    }
    let err = InletInterceptor::new()
        .on_request(request(4, 0, 1, &[]))
        .unwrap_err();
    assert!(err.to_string().contains("LeaderAndIsr (4)"), "{err}");
    assert_eq!(
        InletInterceptor::new().on_request(request(300, 0, 1, &[])),
        Err(KafkaError::UnknownApi { api_key: 300 })
    );
}

#[test]
fn intercepted_versions_beyond_ours_are_refused() {
    let mut inlet = InletInterceptor::new();
    assert_eq!(
        inlet.on_request(request(3, 14, 1, &[])),
        Err(KafkaError::UnsupportedVersion {
            api_key: 3,
            version: 14,
            max: 13
        })
    );
    assert_eq!(
        inlet.on_request(request(10, 7, 1, &[])),
        Err(KafkaError::UnsupportedVersion {
            api_key: 10,
            version: 7,
            max: 6
        })
    );
    assert!(matches!(
        inlet.on_request(request(0, -1, 1, &[])),
        Err(KafkaError::UnsupportedVersion { .. })
    ));
}

#[test]
fn other_responses_pass_as_the_same_bytes() {
    let mut inlet = InletInterceptor::new();
    let req = request(1, 16, 11, &[1, 2, 3]); // Fetch: body not read
    let fwd = forward(inlet.on_request(req.clone()).unwrap());
    assert_eq!(fwd.as_ptr(), req.as_ptr(), "zero-copy");
    let resp = encode_frame(&[0, 0, 0, 11, 0xde, 0xad]);
    let ResponseAction::Forward(out) = inlet.on_response(resp.clone(), &mut map()).unwrap() else {
        panic!()
    };
    assert_eq!(out.as_ptr(), resp.as_ptr(), "zero-copy");
}

/// A SASL/PLAIN exchange as a Java client (3.x, 4.x) makes it against a SASL_SSL listener,
/// request and response frames: a SaslAuthenticate before anything else (refused by the broker
/// as out of order, but only bookkeeping for us), then SaslHandshake v1 and SaslAuthenticate v2
/// (flexible) with a wrong and then the right password.
pub(crate) fn sasl_exchange() -> Vec<(Bytes, Bytes)> {
    use kafka_protocol::messages::{
        SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
        SaslHandshakeResponse,
    };
    let encode = |m: &dyn Fn(&mut BytesMut)| {
        let mut b = BytesMut::new();
        m(&mut b);
        b
    };
    let authenticate = |correlation: i32, password: &str, error: i16| {
        let token = Bytes::from(format!("\0alice\0{password}"));
        let body = encode(&|b| {
            SaslAuthenticateRequest::default()
                .with_auth_bytes(token.clone())
                .encode(b, 2)
                .unwrap()
        });
        let resp = SaslAuthenticateResponse::default()
            .with_error_code(error)
            .with_error_message((error != 0).then(|| s("Authentication failed")));
        (
            request(ApiKey::SaslAuthenticate as i16, 2, correlation, &body),
            response(ApiKey::SaslAuthenticate, 2, correlation, &resp),
        )
    };
    let handshake = {
        let body = encode(&|b| {
            SaslHandshakeRequest::default()
                .with_mechanism(s("PLAIN"))
                .encode(b, 1)
                .unwrap()
        });
        let resp = SaslHandshakeResponse::default().with_mechanisms(vec![s("PLAIN")]);
        (
            request(ApiKey::SaslHandshake as i16, 1, 1, &body),
            response(ApiKey::SaslHandshake, 1, 1, &resp),
        )
    };
    vec![
        authenticate(0, "alice-secret", 34), // ILLEGAL_SASL_STATE: no handshake yet
        handshake,
        authenticate(2, "wrong", 58), // SASL_AUTHENTICATION_FAILED
        authenticate(3, "alice-secret", 0),
    ]
}

#[test]
fn sasl_passes_through_untouched() {
    use crate::policy::{treatment, ApiTreatment};
    assert_eq!(
        treatment(ApiKey::SaslHandshake as i16),
        ApiTreatment::Pass(ApiKey::SaslHandshake)
    );
    assert_eq!(
        treatment(ApiKey::SaslAuthenticate as i16),
        ApiTreatment::Pass(ApiKey::SaslAuthenticate)
    );
    let mut inlet = InletInterceptor::new();
    let mut brokers = map();
    for (req, resp) in sasl_exchange() {
        let fwd = forward(inlet.on_request(req.clone()).unwrap());
        assert_eq!(fwd.as_ptr(), req.as_ptr(), "the same bytes");
        let ResponseAction::Forward(out) = inlet.on_response(resp.clone(), &mut brokers).unwrap()
        else {
            panic!("a SASL response is forwarded as it is")
        };
        assert_eq!(out.as_ptr(), resp.as_ptr(), "the same bytes");
    }
    assert_eq!(inlet.in_flight(), 0);
    // Metadata after authentication is rewritten as ever.
    inlet.on_request(request(3, 12, 4, &[])).unwrap();
    let action = inlet
        .on_response(
            response(ApiKey::Metadata, 12, 4, &metadata(12)),
            &mut brokers,
        )
        .unwrap();
    assert!(matches!(action, ResponseAction::Rewritten { .. }));
}

#[test]
fn unknown_and_duplicate_correlation_ids_are_errors() {
    let mut inlet = InletInterceptor::new();
    assert_eq!(
        inlet.on_response(encode_frame(&[0, 0, 0, 9]), &mut map()),
        Err(KafkaError::UnknownCorrelation { correlation_id: 9 })
    );
    inlet.on_request(request(3, 12, 9, &[])).unwrap();
    assert_eq!(
        inlet.on_request(request(3, 12, 9, &[])),
        Err(KafkaError::DuplicateCorrelation { correlation_id: 9 })
    );
    // A response is matched once only.
    inlet
        .on_response(response(ApiKey::Metadata, 12, 9, &metadata(12)), &mut map())
        .unwrap();
    assert!(inlet
        .on_response(response(ApiKey::Metadata, 12, 9, &metadata(12)), &mut map())
        .is_err());
}

#[test]
fn produce_with_acks_0_awaits_no_response() {
    let mut inlet = InletInterceptor::new();
    for (version, correlation_id) in [(3, 1), (8, 2), (9, 3), (13, 4)] {
        let produce = |acks| {
            let mut body = BytesMut::new();
            ProduceRequest::default()
                .with_transactional_id(Some(kafka_protocol::messages::TransactionalId(s("tx-1"))))
                .with_acks(acks)
                .encode(&mut body, version)
                .unwrap();
            request(0, version, correlation_id, &body)
        };
        inlet.on_request(produce(0)).unwrap();
        assert_eq!(inlet.in_flight(), 0, "v{version} acks=0");
        inlet.on_request(produce(-1)).unwrap();
        assert_eq!(inlet.in_flight(), 1, "v{version} acks=all");
        inlet
            .on_response(encode_frame(&correlation_id.to_be_bytes()), &mut map())
            .unwrap();
    }
    assert!(matches!(
        inlet.on_request(request(0, 9, 1, &[])),
        Err(KafkaError::Decode { .. })
    ));
}

#[test]
fn malformed_intercepted_responses_are_errors_not_aborts() {
    let frame = response(ApiKey::Metadata, 12, 1, &metadata(12));
    // Every truncation of a real response.
    for cut in 8..frame.len() {
        let body = &frame[4..cut];
        let mut inlet = InletInterceptor::new();
        inlet.on_request(request(3, 12, 1, &[])).unwrap();
        assert!(
            inlet.on_response(encode_frame(body), &mut map()).is_err(),
            "cut at {cut}"
        );
    }
    // A broker count of 2^31-1 in a 12-byte body (v0: brokers first).
    let mut inlet = InletInterceptor::new();
    inlet.on_request(request(3, 0, 1, &[])).unwrap();
    let huge = encode_frame(&[0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    assert!(matches!(
        inlet.on_response(huge, &mut map()),
        Err(KafkaError::Decode {
            part: "response",
            ..
        })
    ));
    // Trailing bytes after a valid message.
    let mut inlet = InletInterceptor::new();
    inlet.on_request(request(3, 12, 1, &[])).unwrap();
    let mut long = frame[4..].to_vec();
    long.push(0);
    assert!(inlet.on_response(encode_frame(&long), &mut map()).is_err());
}

#[test]
fn invalid_broker_addresses_are_refused() {
    let mut inlet = InletInterceptor::new();
    inlet.on_request(request(3, 12, 1, &[])).unwrap();
    let m = metadata(12).with_brokers(vec![broker(1, "kafka-1", 70000)]);
    assert!(matches!(
        inlet.on_response(response(ApiKey::Metadata, 12, 1, &m), &mut map()),
        Err(KafkaError::InvalidBrokerAddress {
            node_id: 1,
            port: 70000,
            ..
        })
    ));
}

#[test]
fn the_outlet_learns_brokers_and_passes_metadata_unchanged() {
    let mut known = KnownBrokers::new();
    let mut outlet = OutletInterceptor::new();
    let frame = response(ApiKey::Metadata, 12, 1, &metadata(12));
    outlet.on_request(request(3, 12, 1, &[])).unwrap();
    let out = outlet.on_response(frame.clone(), &mut known).unwrap();
    assert_eq!(out.frame.as_ptr(), frame.as_ptr());
    assert_eq!(out.learned.len(), 3);
    assert_eq!(known.address_of(3), Some(("kafka-3.internal", 9192)));
    // The same brokers again teach nothing new; a coordinator at a new address does.
    outlet.on_request(request(3, 12, 2, &[])).unwrap();
    let again = outlet
        .on_response(response(ApiKey::Metadata, 12, 2, &metadata(12)), &mut known)
        .unwrap();
    assert!(again.learned.is_empty());
    outlet.on_request(request(10, 3, 3, &[])).unwrap();
    let fc = FindCoordinatorResponse::default()
        .with_node_id(BrokerId(1))
        .with_host(s("kafka-1.moved"))
        .with_port(9092);
    let moved = outlet
        .on_response(response(ApiKey::FindCoordinator, 3, 3, &fc), &mut known)
        .unwrap();
    assert_eq!(
        moved.learned,
        vec![AdvertisedBroker {
            node_id: 1,
            host: "kafka-1.moved".into(),
            port: 9092
        }]
    );
}

#[test]
fn frames_split_and_merged_reach_the_interceptor_whole() {
    let mut inlet = InletInterceptor::new();
    let mut brokers = map();
    let mut stream = Vec::new();
    for c in 1..=3 {
        inlet.on_request(request(3, 9, c, &[])).unwrap();
        stream.extend_from_slice(&response(ApiKey::Metadata, 9, c, &metadata(9)));
    }
    let mut reader = FrameReader::new();
    let mut rewritten = 0;
    for chunk in stream.chunks(7) {
        reader.push(chunk);
        while let Some(frame) = reader.pop().unwrap() {
            inlet.on_response(frame, &mut brokers).unwrap();
            rewritten += 1;
        }
    }
    assert_eq!(rewritten, 3);
    assert_eq!(inlet.in_flight(), 0);
}

proptest! {
    /// Random bytes as a request, and as the response to each intercepted API at several
    /// versions, on both sides: errors or results, never a panic or an abort.
    #[test]
    fn random_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200),
                                 pick in 0usize..10) {
        let (key, version) = [(3, 0), (3, 9), (3, 12), (3, 13), (10, 3), (10, 4), (60, 1), (18, 0), (18, 3), (18, 4)][pick];
        let _ = InletInterceptor::new().on_request(Bytes::from(data.clone()));
        let _ = OutletInterceptor::new().on_request(Bytes::from(data.clone()));
        // Give the random body the correlation id of a pending request so it gets decoded.
        let mut body = 1i32.to_be_bytes().to_vec();
        body.extend_from_slice(&data);
        let mut inlet = InletInterceptor::new();
        inlet.on_request(request(key, version, 1, &[])).unwrap();
        let _ = inlet.on_response(encode_frame(&body), &mut map());
        let mut outlet = OutletInterceptor::new();
        outlet.on_request(request(key, version, 1, &[])).unwrap();
        let _ = outlet.on_response(encode_frame(&body), &mut KnownBrokers::new());
    }

    /// Mutating single bytes of a real response never panics either (reaches deeper fields
    /// than uniformly random bytes).
    #[test]
    fn mutated_responses_never_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>(), version in 0i16..=13) {
        let frame = response(ApiKey::Metadata, version, 1, &metadata(version));
        let mut body = frame[4..].to_vec();
        let i = pos.index(body.len() - 4) + 4; // keep the correlation id
        body[i] = byte;
        let mut inlet = InletInterceptor::new();
        inlet.on_request(request(3, version, 1, &[])).unwrap();
        let _ = inlet.on_response(encode_frame(&body), &mut map());
    }
}
