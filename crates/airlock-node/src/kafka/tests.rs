//! A Kafka portal on hand-built contexts, no `Node`, against two stand-in brokers that answer
//! Metadata (the real cluster is in `tests/scenarios/kafka.sh`): the inlet rewrites broker
//! addresses to local ports, opens a listener per broker before the client reads the response,
//! and a connection to broker 2's local port reaches broker 2 through the outlet's
//! `kafka-broker-2` service, which dials the address the cluster advertised.

use super::*;
use crate::flow_control::Access;
use crate::portal::PortalContext;
use crate::test_support::{channel_context, Api};
use crate::transport;
use airlock_kafka::frame::frame_body;
use airlock_kafka::header::{encode_response, parse_response_header, peek_request};
use airlock_kafka::FrameReader;
use airlock_wire::Address;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
use kafka_protocol::messages::{
    ApiKey, BrokerId, MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const METADATA_VERSION: i16 = 12;

/// Reads one frame.
async fn read_frame(s: &mut TcpStream) -> Option<Bytes> {
    let mut frames = FrameReader::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(f) = frames.pop().unwrap() {
            return Some(f);
        }
        let n = s.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        frames.push(&buf[..n]);
    }
}

/// A stand-in broker: answers every Metadata request with both brokers' advertised addresses
/// and its own name as the cluster id.
async fn broker(name: &'static str, l: TcpListener, brokers: Vec<(i32, SocketAddr)>) {
    while let Ok((mut s, _)) = l.accept().await {
        let brokers = brokers.clone();
        tokio::spawn(async move {
            while let Some(frame) = read_frame(&mut s).await {
                let body = frame_body(&frame).unwrap();
                let (key, version, correlation) = peek_request(&body).unwrap();
                assert_eq!((key, version), (ApiKey::Metadata as i16, METADATA_VERSION));
                let m = MetadataResponse::default()
                    .with_brokers(
                        brokers
                            .iter()
                            .map(|(id, a)| {
                                MetadataResponseBroker::default()
                                    .with_node_id(BrokerId(*id))
                                    .with_host(StrBytes::from_string(a.ip().to_string()))
                                    .with_port(a.port() as i32)
                            })
                            .collect(),
                    )
                    .with_cluster_id(Some(StrBytes::from_static_str(name)));
                let header = ResponseHeader::default().with_correlation_id(correlation);
                let out = encode_response(ApiKey::Metadata, version, &header, &m).unwrap();
                if s.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Sends a Metadata request on `s` and returns the response.
async fn metadata(s: &mut TcpStream, correlation: i32) -> MetadataResponse {
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Metadata as i16)
        .with_request_api_version(METADATA_VERSION)
        .with_correlation_id(correlation)
        .with_client_id(Some(StrBytes::from_static_str("test")));
    let mut out = BytesMut::new();
    out.put_u32(0);
    header
        .encode(
            &mut out,
            ApiKey::Metadata.request_header_version(METADATA_VERSION),
        )
        .unwrap();
    MetadataRequest::default()
        .encode(&mut out, METADATA_VERSION)
        .unwrap();
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    s.write_all(&out).await.unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(10), read_frame(s))
        .await
        .expect("a response in time")
        .expect("a response, not the end");
    let body = frame_body(&frame).unwrap();
    let (h, mut rest) = parse_response_header(ApiKey::Metadata, METADATA_VERSION, &body).unwrap();
    assert_eq!(h.correlation_id, correlation);
    MetadataResponse::decode(&mut rest, METADATA_VERSION).unwrap()
}

/// A bootstrap address and the first of the `n - 1` free ports after it.
async fn free_block(n: u16) -> (SocketAddr, u16) {
    for _ in 0..100 {
        let base = 20000 + rand::random::<u16>() % 40000;
        let mut held = Vec::new();
        for p in base..base + n {
            match std::net::TcpListener::bind(("127.0.0.1", p)) {
                Ok(l) => held.push(l),
                Err(_) => break,
            }
        }
        if held.len() == n as usize {
            return (SocketAddr::from(([127, 0, 0, 1], base)), base + 1);
        }
    }
    panic!("no free block of {n} ports");
}

/// Two contexts joined by a secure channel: `a` (the inlet's) reaches `b`'s `api` listener at
/// the returned route.
async fn two_sides() -> (PortalContext, PortalContext, String, String) {
    let (a_channels, _) = channel_context();
    let (b_channels, b_id) = channel_context();
    let a = PortalContext::new(a_channels, "a");
    let b = PortalContext::new(b_channels.clone(), "b");
    b.router().register(
        Address::new("api").unwrap(),
        Access::Listener,
        Arc::new(Api(b_channels)),
    );
    let listen = transport::listen(&b, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();

    (
        a,
        b,
        format!("/ip4/127.0.0.1/tcp/{}/secure/api", listen.port()),
        b_id.to_string(),
    )
}

/// A Kafka inlet on `a` (no encryption) to the Kafka outlet `spec` made on `b`: the bootstrap
/// address and the first broker port.
async fn kafka_portal(spec: KafkaOutletSpec) -> (KafkaPortals, KafkaPortals, SocketAddr, u16) {
    let (a, b, route, b_id) = two_sides().await;
    let kafka_b = KafkaPortals::default();
    kafka_b.create_outlet(&b, spec).unwrap();
    let (bootstrap, first) = free_block(11).await;
    let kafka_a = KafkaPortals::default();
    let info = kafka_a
        .create_inlet(
            &a,
            KafkaInletSpec {
                name: "kafka".into(),
                from: bootstrap,
                to: route,
                outlet: "kafka".into(),
                broker_ports: Some((first, first + 9)),
                authorized: vec![b_id],
                encrypt: false,
                encrypted_fields: vec![],
            },
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(info.inlets[0].status, "up", "{info:?}");
    (kafka_a, kafka_b, bootstrap, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_reach_every_broker_through_local_ports() {
    let (l1, l2) = (
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    );
    let brokers = vec![(1, l1.local_addr().unwrap()), (2, l2.local_addr().unwrap())];
    tokio::spawn(broker("broker-1", l1, brokers.clone()));
    tokio::spawn(broker("broker-2", l2, brokers.clone()));
    // The inlet's ports: a free block of 11, the bootstrap and then the brokers' range.
    let (kafka_a, kafka_b, bootstrap, first) = kafka_portal(KafkaOutletSpec {
        name: "kafka".into(),
        bootstrap_server: brokers[0].1.to_string(),
        tls: false,
        tls_ca_file: None,
    })
    .await;

    let mut client = TcpStream::connect(bootstrap).await.unwrap();
    let m = metadata(&mut client, 7).await;
    assert_eq!(m.cluster_id.as_deref(), Some("broker-1"));
    let local: Vec<(i32, String, i32)> = m
        .brokers
        .iter()
        .map(|b| (b.node_id.0, b.host.to_string(), b.port))
        .collect();
    assert_eq!(
        local,
        vec![
            (1, "127.0.0.1".to_string(), first as i32),
            (2, "127.0.0.1".to_string(), first as i32 + 1),
        ],
        "brokers are given local ports in order"
    );
    // The listener of broker 2 is open (it was opened before the response was passed on), and
    // leads to broker 2 itself.
    let mut to_two = TcpStream::connect(("127.0.0.1", first + 1)).await.unwrap();
    let m = metadata(&mut to_two, 8).await;
    assert_eq!(m.cluster_id.as_deref(), Some("broker-2"));
    assert_eq!(m.brokers[1].port, first as i32 + 1, "rewritten there too");

    let outlet = &kafka_b.outlets()[0];
    let names: Vec<&str> = outlet.outlets.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["kafka", "kafka-broker-1", "kafka-broker-2"]);
    assert_eq!(outlet.brokers.len(), 2);
    let inlet = &kafka_a.inlets().await[0];
    assert_eq!(inlet.brokers.len(), 2, "{inlet:?}");

    // A request the interceptor refuses ends the connection (fail closed): LeaderAndIsr (4).
    let mut raw = BytesMut::new();
    raw.put_u32(8);
    raw.put_i16(4);
    raw.put_i16(0);
    raw.put_i32(9);
    client.write_all(&raw).await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut client))
        .await
        .expect("closed in time");
    assert!(end.is_none(), "a refused API closes the connection");

    kafka_a.stop_all().await;
    kafka_b.stop_all().await;
}

const TEST_CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/kafka/testdata/ca.pem");

/// A TLS front for a stand-in broker: accepts TLS on `l` with the test certificate
/// (`localhost`, `127.0.0.1`) and carries the plaintext to `backend`.
async fn tls_front(l: TcpListener, backend: SocketAddr) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs =
        vec![CertificateDer::from_pem_slice(include_bytes!("testdata/broker.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("testdata/broker.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    while let Ok((s, _)) = l.accept().await {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(s).await else {
                return;
            };
            let mut plain = TcpStream::connect(backend).await.unwrap();
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
        });
    }
}

/// Two stand-in brokers behind TLS fronts listening on `ip`, advertising the fronts.
async fn tls_brokers(ip: &str) -> Vec<(i32, SocketAddr)> {
    let (p1, p2) = (
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    );
    let (f1, f2) = (
        TcpListener::bind((ip, 0)).await.unwrap(),
        TcpListener::bind((ip, 0)).await.unwrap(),
    );
    let brokers = vec![(1, f1.local_addr().unwrap()), (2, f2.local_addr().unwrap())];
    tokio::spawn(tls_front(f1, p1.local_addr().unwrap()));
    tokio::spawn(tls_front(f2, p2.local_addr().unwrap()));
    tokio::spawn(broker("broker-1", p1, brokers.clone()));
    tokio::spawn(broker("broker-2", p2, brokers.clone()));
    brokers
}

fn tls_spec(bootstrap: SocketAddr, ca: Option<&str>) -> KafkaOutletSpec {
    KafkaOutletSpec {
        name: "kafka".into(),
        bootstrap_server: bootstrap.to_string(),
        tls: true,
        tls_ca_file: ca.map(String::from),
    }
}

/// Whether a Metadata request on a new connection to `addr` is answered (else the connection
/// is closed).
async fn answered(addr: SocketAddr) -> bool {
    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut raw = BytesMut::new();
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Metadata as i16)
        .with_request_api_version(METADATA_VERSION)
        .with_correlation_id(1);
    raw.put_u32(0);
    header
        .encode(
            &mut raw,
            ApiKey::Metadata.request_header_version(METADATA_VERSION),
        )
        .unwrap();
    MetadataRequest::default()
        .encode(&mut raw, METADATA_VERSION)
        .unwrap();
    let len = (raw.len() - 4) as u32;
    raw[..4].copy_from_slice(&len.to_be_bytes());
    c.write_all(&raw).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), read_frame(&mut c))
        .await
        .expect("an answer or the end in time")
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outlet_speaks_tls_to_the_bootstrap_server_and_every_broker() {
    let brokers = tls_brokers("127.0.0.1").await;
    let (kafka_a, kafka_b, bootstrap, first) =
        kafka_portal(tls_spec(brokers[0].1, Some(TEST_CA))).await;
    let mut client = TcpStream::connect(bootstrap).await.unwrap();
    let m = metadata(&mut client, 7).await;
    assert_eq!(m.cluster_id.as_deref(), Some("broker-1"));
    // Broker 2, at the address it advertised (an IP: checked against the IP SAN).
    let mut to_two = TcpStream::connect(("127.0.0.1", first + 1)).await.unwrap();
    let m = metadata(&mut to_two, 8).await;
    assert_eq!(m.cluster_id.as_deref(), Some("broker-2"));
    let info = &kafka_b.outlets()[0];
    assert!(info.tls);
    assert_eq!(info.tls_ca_file.as_deref(), Some(TEST_CA));
    kafka_a.stop_all().await;
    kafka_b.stop_all().await;
}

/// The error of a TLS handshake with `addr`.
async fn handshake_error(ca: Option<&str>, addr: SocketAddr) -> String {
    let tcp = TcpStream::connect(addr).await.unwrap();
    match tls::BrokerTls::new(ca)
        .unwrap()
        .connect(&addr.to_string(), tcp)
        .await
    {
        Ok(_) => panic!("the handshake with {addr} succeeded"),
        Err(why) => why,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ca_closes_the_client_connection() {
    // The Mozilla roots do not hold the test CA.
    let brokers = tls_brokers("127.0.0.1").await;
    let (kafka_a, kafka_b, bootstrap, _) = kafka_portal(tls_spec(brokers[0].1, None)).await;
    assert!(!answered(bootstrap).await, "closed, not answered");
    // The reason (logged by the outlet).
    let why = handshake_error(None, brokers[0].1).await;
    assert!(
        why.contains("UnknownIssuer") && why.contains("--tls-ca-file"),
        "{why}"
    );
    kafka_a.stop_all().await;
    kafka_b.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_the_certificate_does_not_hold_closes_the_client_connection() {
    // 127.0.0.2 is loopback too, but the certificate names 127.0.0.1 and localhost only.
    let brokers = tls_brokers("127.0.0.2").await;
    let (kafka_a, kafka_b, bootstrap, _) =
        kafka_portal(tls_spec(brokers[0].1, Some(TEST_CA))).await;
    assert!(!answered(bootstrap).await, "closed, not answered");
    let why = handshake_error(Some(TEST_CA), brokers[0].1).await;
    assert!(why.contains("does not name \"127.0.0.2\""), "{why}");
    kafka_a.stop_all().await;
    kafka_b.stop_all().await;
}

#[test]
fn tls_settings_are_checked_when_the_outlet_is_made() {
    let e = tls::BrokerTls::new(Some("/nonexistent/ca.pem")).unwrap_err();
    assert!(e.to_string().contains("cannot read the TLS CA file"), "{e}");
    let empty = std::env::temp_dir().join(format!("airlock-empty-ca-{}.pem", std::process::id()));
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let e = tls::BrokerTls::new(Some(empty.to_str().unwrap())).unwrap_err();
    assert!(e.to_string().contains("holds no certificate"), "{e}");
    let _ = std::fs::remove_file(&empty);
    assert!(tls::BrokerTls::new(Some(TEST_CA)).is_ok());
    assert!(tls::BrokerTls::new(None).is_ok(), "the Mozilla roots");
    // Spec defaults: an outlet recorded before TLS existed reads as plaintext.
    let spec: KafkaOutletSpec =
        serde_json::from_str(r#"{"name":"kafka","bootstrap_server":"127.0.0.1:9092"}"#).unwrap();
    assert!(!spec.tls && spec.tls_ca_file.is_none());
}
