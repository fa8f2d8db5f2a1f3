//! The errors of the node's public API are typed: a caller matches the variant it can act on
//! (an address in use, an invalid spec, a TLS configuration that cannot work, …) instead of
//! reading the message, and the message still says what happened.

mod common;

use airlock_node::kafka::{
    KafkaInletError, KafkaInletSpec, KafkaOutletError, KafkaOutletSpec, TlsConfigError,
};
use airlock_node::portal::{
    CreateInletError, CreateOutletError, Inlet, InletError, InletSpec, LinkError, OutletSpec,
};
use airlock_node::{Classify, FailureKind, Node, NodeConfig, StartError};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// A loopback address some other socket holds (while the listener lives).
fn taken() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

fn inlet_spec(name: &str, from: SocketAddr, to: &str) -> InletSpec {
    InletSpec {
        name: name.into(),
        from,
        to: to.into(),
        authorized: vec![],
    }
}

#[tokio::test]
async fn a_node_on_a_port_in_use_is_address_in_use() {
    let (_held, addr) = taken();
    let mut config = NodeConfig::loopback("n");
    config.tcp_listen = addr;
    let Err(e) = Node::start(config).await else {
        panic!("the port is taken");
    };
    match &e {
        StartError::AddressInUse { addr: a } => assert_eq!(*a, addr),
        other => panic!("expected AddressInUse, got {other:?}"),
    }
    assert_eq!(
        e.to_string(),
        format!("cannot listen on {addr}: the port is already in use (choose another with --tcp-listener-address)")
    );
}

#[tokio::test]
async fn outlet_names_reserved_invalid_or_taken() {
    let n = common::node("n").await;
    let spec = |name: &str| OutletSpec {
        name: name.into(),
        to: "127.0.0.1:1".into(),
    };
    match n.create_outlet(spec("api")) {
        Err(CreateOutletError::ReservedName { name }) => assert_eq!(name, "api"),
        other => panic!("expected ReservedName, got {other:?}"),
    }
    assert!(matches!(
        n.create_outlet(spec("")),
        Err(CreateOutletError::InvalidName { .. })
    ));
    n.create_outlet(spec("db")).unwrap();
    let e = n.create_outlet(spec("db")).unwrap_err();
    assert!(
        matches!(&e, CreateOutletError::Exists { name, .. } if name == "db"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "an outlet named \"db\" already exists on node n"
    );
    assert_eq!(e.failure_kind(), FailureKind::Permanent);
}

#[tokio::test]
async fn inlet_on_an_address_in_use_or_with_a_bad_route() {
    let n = common::node("n").await;
    let route = common::secure_route(&n, "outlet");
    let (_held, addr) = taken();
    let e = n
        .create_inlet(inlet_spec("i", addr, &route))
        .await
        .unwrap_err();
    match &e {
        CreateInletError::Start(InletError::AddressInUse { addr: a }) => assert_eq!(*a, addr),
        other => panic!("expected Start(AddressInUse), got {other:?}"),
    }
    assert_eq!(
        e.to_string(),
        format!("cannot listen on {addr}: the port is already in use (pick another with --from)")
    );
    // The same error from the inlet itself.
    let Err(e) = Inlet::start(n.portal_context(), inlet_spec("i", addr, &route)).await else {
        panic!("the port is taken");
    };
    assert!(matches!(e, InletError::AddressInUse { .. }), "{e:?}");

    let free: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let e = n
        .create_inlet(inlet_spec("i", free, "/ip4/127.0.0.1/tcp/1/service/outlet"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, CreateInletError::Start(InletError::InvalidRoute(_))),
        "{e:?}"
    );
    assert!(e.to_string().contains("has no secure channel"), "{e}");
    assert_eq!(e.failure_kind(), FailureKind::Permanent);
    let e = n
        .create_inlet(inlet_spec("i", free, "not a route"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, CreateInletError::Start(InletError::Route(_))),
        "{e:?}"
    );
    let mut bad_peer = inlet_spec("i", free, &route);
    bad_peer.authorized = vec!["Inot-an-identifier".into()];
    assert!(matches!(
        n.create_inlet(bad_peer).await,
        Err(CreateInletError::Start(InletError::Authorized(_)))
    ));
    assert!(n.inlets().is_empty());

    n.create_inlet(inlet_spec("i", free, &route)).await.unwrap();
    assert!(matches!(
        n.create_inlet(inlet_spec("i", free, &route)).await,
        Err(CreateInletError::Exists { .. })
    ));
}

#[tokio::test]
async fn a_link_over_a_route_that_names_no_outlet_is_invalid() {
    let n = common::node("n").await;
    let a = n.listen_addr();
    // A secure channel, but nothing named after it.
    let route = format!("/ip4/{}/tcp/{}/secure/api", a.ip(), a.port());
    let inlet = Inlet::start(
        n.portal_context(),
        inlet_spec("i", "127.0.0.1:0".parse().unwrap(), &route),
    )
    .await
    .unwrap();
    let Err(e) = inlet.link(n.portal_context()).await else {
        panic!("no link can be made");
    };
    assert!(matches!(e, LinkError::InvalidRoute(_)), "{e:?}");
    assert_eq!(e.failure_kind(), FailureKind::Permanent);
    assert!(e.to_string().contains("must name the outlet"), "{e}");
    inlet.stop(n.portal_context()).await;
}

#[tokio::test]
async fn kafka_outlet_with_a_missing_ca_file_is_a_tls_error() {
    let n = common::node("n").await;
    let spec = |tls: bool, ca: Option<&str>| KafkaOutletSpec {
        name: "kafka".into(),
        bootstrap_server: "127.0.0.1:9092".into(),
        tls,
        tls_ca_file: ca.map(Into::into),
    };
    let missing = "/nonexistent/airlock-test/ca.pem";
    let e = n
        .create_kafka_outlet(spec(true, Some(missing)))
        .unwrap_err();
    match &e {
        KafkaOutletError::Tls(TlsConfigError::UnreadableCaFile { path, .. }) => {
            assert_eq!(path, missing)
        }
        other => panic!("expected Tls(UnreadableCaFile), got {other:?}"),
    }
    assert!(
        e.to_string()
            .starts_with(&format!("cannot read the TLS CA file {missing}: ")),
        "{e}"
    );
    assert!(matches!(
        n.create_kafka_outlet(spec(false, Some(missing))),
        Err(KafkaOutletError::CaFileWithoutTls)
    ));
    let mut empty = spec(false, None);
    empty.bootstrap_server = " ".into();
    assert!(matches!(
        n.create_kafka_outlet(empty),
        Err(KafkaOutletError::NoBootstrapServer)
    ));
    n.create_kafka_outlet(spec(false, None)).unwrap();
    assert!(matches!(
        n.create_kafka_outlet(spec(false, None)),
        Err(KafkaOutletError::Exists { .. })
    ));
    assert!(n.kafka().outlets().len() == 1);
}

#[tokio::test]
async fn kafka_inlet_spec_and_address_errors() {
    let n = common::node("n").await;
    let route = common::secure_route(&n, "kafka");
    let spec = |from: SocketAddr, ports: Option<(u16, u16)>, encrypt: bool| KafkaInletSpec {
        name: "k".into(),
        from,
        to: route.clone(),
        outlet: "kafka".into(),
        broker_ports: ports,
        authorized: vec![],
        encrypt,
        encrypted_fields: vec![],
    };
    let wait = Duration::ZERO;
    let (_held, addr) = taken();
    let e = n
        .create_kafka_inlet(spec(addr, Some((1, 2)), false), wait)
        .await
        .unwrap_err();
    assert!(
        matches!(e, KafkaInletError::AddressInUse { addr: a } if a == addr),
        "{e:?}"
    );
    let from: SocketAddr = "127.0.0.1:39092".parse().unwrap();
    let e = n
        .create_kafka_inlet(spec(from, Some((39090, 39099)), false), wait)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            KafkaInletError::BootstrapPortInRange {
                first: 39090,
                last: 39099,
                port: 39092
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "the broker port range 39090-39099 must not contain the bootstrap port 39092"
    );
    // Encryption needs the data keys of a project; this node is in none.
    let e = n
        .create_kafka_inlet(spec(from, Some((1, 2)), true), wait)
        .await
        .unwrap_err();
    assert!(matches!(e, KafkaInletError::NotProjectMember), "{e:?}");
    // Fields to encrypt: not without encryption, not twice, not empty (checked first).
    for (encrypt, fields) in [
        (false, vec!["pin"]),
        (true, vec!["pin", "pin"]),
        (true, vec![""]),
    ] {
        let mut s = spec(from, Some((1, 2)), encrypt);
        s.encrypted_fields = fields.iter().map(|f| f.to_string()).collect();
        let e = n.create_kafka_inlet(s, wait).await.unwrap_err();
        assert!(
            matches!(e, KafkaInletError::EncryptedFields(_)),
            "{fields:?}: {e:?}"
        );
    }
    assert!(n.kafka().inlets().await.is_empty());
}
