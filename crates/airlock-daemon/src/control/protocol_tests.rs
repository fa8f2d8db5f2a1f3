//! The control protocol's wire form: requests and views round-trip as documented.
use super::*;
use serde_json::json;

#[test]
fn requests_keep_their_wire_form() {
    let line = serde_json::to_string(&Request::OutletDelete { name: "db".into() }).unwrap();
    assert_eq!(line, r#"{"op":"outlet-delete","name":"db"}"#);
    assert!(matches!(
        Request::decode(r#"{"op":"relay-create","name":"r","at":"/project/p"}"#),
        Ok(Request::RelayCreate { authorized, .. }) if authorized.is_empty()
    ));
    assert!(matches!(
        Request::decode(r#"{"op":"status"}"#),
        Ok(Request::Status)
    ));
}

#[test]
fn every_op_is_known() {
    for op in OPS {
        let e = Request::decode(&json!({ "op": op }).to_string());
        assert!(
            !matches!(e, Err(RequestError::UnknownOp(_))),
            "{op} is listed but not decoded"
        );
    }
}

#[test]
fn what_is_not_a_request_is_a_clear_error() {
    let cases = [
        ("not json", "malformed request"),
        ("[1,2]", "not a JSON object"),
        ("{}", "no \"op\""),
        (r#"{"op":7}"#, "\"op\" is not a string"),
        (r#"{"op":"bogus"}"#, "unknown request \"bogus\""),
        (
            r#"{"op":"outlet-delete"}"#,
            "invalid outlet-delete request: missing field `name`",
        ),
        (
            r#"{"op":"channel-create","to":1}"#,
            "invalid channel-create request",
        ),
    ];
    for (line, expected) in cases {
        let e = Request::decode(line).unwrap_err().to_string();
        assert!(e.contains(expected), "{line}: {e}");
    }
}

#[test]
fn responses_and_results_keep_their_wire_form() {
    let ok = Response::success(Deleted {
        deleted: "db".to_string(),
    });
    assert_eq!(
        serde_json::to_value(&ok).unwrap(),
        json!({"ok": true, "result": {"deleted": "db"}})
    );
    let failed = Response::<()>::failure("no outlet".into());
    assert_eq!(
        serde_json::to_value(&failed).unwrap(),
        json!({"ok": false, "error": "no outlet"})
    );
    // Statuses are the strings they always were.
    let relay = RelayCreated {
        relay: RelayView {
            name: "r".into(),
            at: "/project/p".into(),
            status: RelayStatus::Down,
            address: "/project/p/service/forward_to_r".into(),
            last_error: None,
            last_error_kind: None,
            authorized: vec![],
        },
        warning: Some("unreachable".into()),
    };
    let v = serde_json::to_value(&relay).unwrap();
    assert_eq!(
        v,
        json!({"name": "r", "at": "/project/p", "status": "down",
               "address": "/project/p/service/forward_to_r", "last_error": null,
               "warning": "unreachable"})
    );
    assert_eq!(serde_json::from_value::<RelayCreated>(v).unwrap(), relay);
    let inlet: InletView = serde_json::from_value(json!({
        "name": "i", "from": "127.0.0.1:1", "to": "/service/outlet", "status": "up",
        "peer": null, "connections": 0, "connections_total": 0, "bytes_out": 0,
        "bytes_in": 0, "last_error": null
    }))
    .unwrap();
    assert_eq!(inlet.status, LinkStatus::Up);
    assert!(serde_json::to_value(&inlet)
        .unwrap()
        .get("authorized")
        .is_none());
    assert_eq!(LinkStatus::Down.to_string(), "down");
}

#[test]
fn waits_and_failure_kinds_are_typed_fields() {
    let line = r#"{"op":"inlet-create","spec":{"name":"i","from":"127.0.0.1:0","to":"/service/o"},"wait_ms":30000}"#;
    assert!(matches!(
        Request::decode(line),
        Ok(Request::InletCreate {
            wait_ms: Some(30000),
            ..
        })
    ));
    assert!(matches!(
        Request::decode(r#"{"op":"relay-create","name":"r","at":"/project/p"}"#),
        Ok(Request::RelayCreate { wait_ms: None, .. })
    ));
    let inlet: InletView = serde_json::from_value(json!({
        "name": "i", "from": "127.0.0.1:1", "to": "/service/outlet", "status": "down",
        "peer": null, "connections": 0, "connections_total": 0, "bytes_out": 0,
        "bytes_in": 0, "last_error": "refused", "last_error_kind": "permanent"
    }))
    .unwrap();
    assert_eq!(inlet.last_error_kind, Some(FailureKind::Permanent));
}

#[test]
fn kafka_requests_keep_their_wire_form() {
    let create = Request::KafkaOutletCreate {
        spec: KafkaOutletSpec {
            name: "kafka".into(),
            bootstrap_server: "127.0.0.1:9092".into(),
            tls: true,
            tls_ca_file: None,
        },
    };
    assert_eq!(
        serde_json::to_value(&create).unwrap(),
        json!({"op": "kafka-outlet-create",
               "spec": {"name": "kafka", "bootstrap_server": "127.0.0.1:9092", "tls": true}})
    );
    // A request without the TLS keys (an older client) is a plaintext outlet.
    let Request::KafkaOutletCreate { spec } = Request::decode(
        r#"{"op":"kafka-outlet-create","spec":{"name":"k","bootstrap_server":"h:1"}}"#,
    )
    .unwrap() else {
        panic!("not a kafka-outlet-create")
    };
    assert!(!spec.tls && spec.tls_ca_file.is_none());
    let line = serde_json::to_string(&Request::KafkaInletDelete { name: "k".into() }).unwrap();
    assert_eq!(line, r#"{"op":"kafka-inlet-delete","name":"k"}"#);
    assert!(matches!(
        Request::decode(r#"{"op":"kafka-outlet-list"}"#),
        Ok(Request::KafkaOutletList)
    ));
    let line = r#"{"op":"kafka-inlet-create","spec":{"name":"k","from":"127.0.0.1:9092","to":"/node/n1/secure/api","outlet":"kafka","broker_ports":[9093,9192],"authorized":[],"encrypt":true,"encrypted_fields":["secret","pin"]},"wait_ms":5000}"#;
    match Request::decode(line) {
        Ok(Request::KafkaInletCreate { spec, wait_ms }) => {
            assert_eq!(wait_ms, Some(5000));
            assert_eq!(spec.broker_ports, Some((9093, 9192)));
            assert_eq!(spec.encrypted_fields, ["secret", "pin"]);
            let again = Request::KafkaInletCreate { spec, wait_ms };
            let v = serde_json::to_value(&again).unwrap();
            assert_eq!(v, serde_json::from_str::<serde_json::Value>(line).unwrap());
        }
        other => panic!("{other:?}"),
    }
    // Without a wait, the field is left out (the node's default).
    let v = serde_json::to_value(Request::KafkaInletCreate {
        spec: KafkaInletSpec {
            name: "k".into(),
            from: "127.0.0.1:9092".parse().unwrap(),
            to: "/service/x".into(),
            outlet: "kafka".into(),
            broker_ports: None,
            authorized: vec![],
            encrypt: true,
            encrypted_fields: vec![],
        },
        wait_ms: None,
    })
    .unwrap();
    assert!(v.get("wait_ms").is_none(), "{v}");
    // `authorized`, `encrypt` and `encrypted_fields` may be left out (an older client):
    // no pinned identifiers, whole values encrypted.
    assert!(matches!(
        Request::decode(r#"{"op":"kafka-inlet-create","spec":{"name":"k","from":"127.0.0.1:1","to":"/service/x","outlet":"kafka","broker_ports":null}}"#),
        Ok(Request::KafkaInletCreate { spec, wait_ms: None })
            if spec.authorized.is_empty() && spec.encrypt && spec.encrypted_fields.is_empty()
    ));
    let e = Request::decode(r#"{"op":"kafka-inlet-create","spec":{"name":"k"}}"#)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("invalid kafka-inlet-create request"), "{e}");
}

#[test]
fn kafka_views_round_trip() {
    let inlet = KafkaInletView {
        name: "k".into(),
        from: "127.0.0.1:9092".into(),
        to: "/ip4/127.0.0.1/tcp/4000/secure/api".into(),
        outlet: "kafka".into(),
        broker_ports: "9093-9192".into(),
        brokers: vec!["1=127.0.0.1:9093".into()],
        encrypt: true,
        encrypted_fields: vec!["secret".into()],
        status: LinkStatus::Down,
        peer: None,
        connections: 0,
        connections_total: 2,
        bytes_out: 10,
        bytes_in: 20,
        last_error: Some("refused".into()),
        last_error_kind: Some(FailureKind::Permanent),
        authorized: vec![],
    };
    let v = serde_json::to_value(&inlet).unwrap();
    assert_eq!(v["status"], "down");
    assert_eq!(v["last_error_kind"], "permanent");
    assert!(v.get("authorized").is_none(), "{v}");
    assert_eq!(v["encrypted_fields"], serde_json::json!(["secret"]));
    assert_eq!(
        serde_json::from_value::<KafkaInletView>(v.clone()).unwrap(),
        inlet
    );
    // A view from an older node has no fields: whole values.
    let mut old = v;
    old.as_object_mut().unwrap().remove("encrypted_fields");
    let old = serde_json::from_value::<KafkaInletView>(old).unwrap();
    assert!(old.encrypted_fields.is_empty());
    let outlet = KafkaOutletView {
        name: "kafka".into(),
        address: "/service/kafka".into(),
        bootstrap_server: "127.0.0.1:9092".into(),
        tls: false,
        tls_ca_file: None,
        brokers: vec![],
        links: 1,
        connections: 0,
        bytes_in: 0,
        bytes_out: 0,
        refused: 0,
    };
    let v = serde_json::to_value(&outlet).unwrap();
    assert_eq!(v["bootstrap_server"], "127.0.0.1:9092");
    assert_eq!(
        serde_json::from_value::<KafkaOutletView>(v).unwrap(),
        outlet
    );
}
