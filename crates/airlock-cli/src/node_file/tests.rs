//! Parsing node files: the seeds' files, single and named portals, errors with lines.
use super::*;

#[test]
fn a_bad_name_from_the_environment_names_the_variable_and_the_rule() {
    let (_, subs) = interpolate("name: ${N}\n", |k| (k == "N").then(|| ".x".to_string())).unwrap();
    let e = crate::home::validate_name("node", ".x").unwrap_err();
    assert_eq!(
        named("f.yaml", &subs, "name", ".x", e).to_string(),
        "f.yaml: name (from ${N}) is not a valid name: use 1-64 letters, digits, '-', '_' or '.'"
    );
}

#[test]
fn unknown_keys_are_errors_with_a_line() {
    let e = yaml_serde::from_str::<NodeFile>("name: a\nbogus: 1\n").unwrap_err();
    assert_eq!(e.location().unwrap().line(), 2);
    let ok: NodeFile = yaml_serde::from_str(
        "name: bank\nticket: t\nrelay: mongodb\npolicies:\n  - resource-type: tcp-outlet\n    expression: (= subject.a \"true\")\ntcp-outlets:\n  db: { to: 127.0.0.1:1 }\ntcp-inlets:\n  db: { from: 127.0.0.1:2, via: mongodb }\n",
    )
    .unwrap();
    assert_eq!(ok.tcp_inlets["db"].via.as_deref(), Some("mongodb"));
}

/// The seeds' files, as they are.
#[test]
fn the_seeds_kafka_files_parse() {
    let outlet_node = NodeFile::parse(
        "airlock.yaml",
        "name: kafka_outlet_node\nticket: ${ENROLLMENT_TICKET}\nrelay: kafka\nkafka-outlet:\n  bootstrap-server: 127.0.0.1:9092\n",
    )
    .unwrap();
    assert_eq!(outlet_node.name.as_deref(), Some("kafka_outlet_node"));
    let outlets = outlet_node.kafka_outlets().unwrap();
    assert_eq!(outlets.len(), 1);
    assert_eq!(outlets[0].0, "kafka");
    assert_eq!(outlets[0].1.bootstrap_server, "127.0.0.1:9092");
    assert!(outlet_node.kafka_inlets().unwrap().is_empty());

    let inlet_node = NodeFile::parse(
        "airlock.yaml",
        "name: kafka_inlet_node\nticket: ${ENROLLMENT_TICKET}\nkafka-inlet:\n  from: 127.0.0.1:9092\n  to: /project/default/service/forward_to_kafka/secure/api\n  consumer-relay: /project/default\n",
    )
    .unwrap();
    let inlets = inlet_node.kafka_inlets().unwrap();
    assert_eq!(inlets.len(), 1);
    let (name, i) = &inlets[0];
    assert_eq!(name, "kafka");
    assert_eq!(i.from.as_deref(), Some("127.0.0.1:9092"));
    assert_eq!(
        i.to.as_deref(),
        Some("/project/default/service/forward_to_kafka/secure/api")
    );
    assert_eq!(i.consumer_relay.as_deref(), Some("/project/default"));
    assert!(i.via.is_none() && i.outlet.is_none() && i.brokers_port_range.is_none());
}

#[test]
fn kafka_inlets_encrypted_fields() {
    let f = NodeFile::parse(
        "f.yaml",
        "kafka-inlets:\n  many:\n    to: /node/n1/secure/api\n    encrypted-fields: [secret, pin, 2fa]\n  one: { to: /node/n1/secure/api, encrypted-field: secret }\n  none: { to: /node/n1/secure/api }\n",
    )
    .unwrap();
    let inlets = f.kafka_inlets().unwrap();
    let fields = |name: &str| {
        let (_, i) = inlets.iter().find(|(n, _)| n == name).unwrap();
        i.encrypted_fields.clone()
    };
    assert_eq!(fields("many"), ["secret", "pin", "2fa"]);
    assert_eq!(fields("one"), ["secret"]);
    assert!(fields("none").is_empty());
    for (text, says) in [
        (
            "kafka-inlet:\n  encrypted-field: a\n  encrypted-fields: [b]\n",
            "duplicate field",
        ),
        (
            "kafka-inlet:\n  encrypted-fields: { a: 1 }\n",
            "a name or a list of names",
        ),
        ("kafka-inlet:\n  encrypted-fields: 1\n", "line 2"),
    ] {
        let e = NodeFile::parse("f.yaml", text).unwrap_err().to_string();
        assert!(e.contains(says), "{text:?}: {e}");
    }
}

#[test]
fn kafka_portals_by_name() {
    let f = NodeFile::parse(
        "f.yaml",
        "kafka-outlets:\n  orders: { bootstrap-server: kafka.internal:9092 }\n  logs: { bootstrap-server: 10.0.0.2:9092 }\nkafka-inlets:\n  orders:\n    from: 127.0.0.1:19092\n    via: orders\n    outlet: orders\n    brokers-port-range: 19093-19099\n    authorized: [I00]\n",
    )
    .unwrap();
    let outlets = f.kafka_outlets().unwrap();
    let names: Vec<&str> = outlets.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["logs", "orders"]);
    let inlets = f.kafka_inlets().unwrap();
    let (name, i) = &inlets[0];
    assert_eq!(name, "orders");
    assert_eq!(i.via.as_deref(), Some("orders"));
    assert_eq!(i.brokers_port_range.as_deref(), Some("19093-19099"));
    assert_eq!(i.authorized, ["I00"]);
    // The single form and a map entry of the same name cannot both be there.
    let f = NodeFile::parse(
        "f.yaml",
        "kafka-outlet: { bootstrap-server: a:1 }\nkafka-outlets:\n  kafka: { bootstrap-server: b:1 }\n",
    )
    .unwrap();
    let e = f.kafka_outlets().unwrap_err().to_string();
    assert!(e.contains("both define kafka-outlet \"kafka\""), "{e}");
}

#[test]
fn kafka_outlet_with_tls() {
    let f = NodeFile::parse(
        "f.yaml",
        "kafka-outlet:\n  bootstrap-server: broker.example.com:9092\n  tls: true\n  tls-ca-file: ca.pem\n",
    )
    .unwrap();
    let outlets = f.kafka_outlets().unwrap();
    let (_, o) = &outlets[0];
    assert!(o.tls);
    assert_eq!(o.tls_ca_file.as_deref(), Some("ca.pem"));
    let f = NodeFile::parse("f.yaml", "kafka-outlet: { bootstrap-server: a:1 }\n").unwrap();
    let outlets = f.kafka_outlets().unwrap();
    assert!(!outlets[0].1.tls && outlets[0].1.tls_ca_file.is_none());
}

#[test]
fn unknown_kafka_keys_are_errors_with_a_line() {
    for (text, line, says) in [
        (
            "name: a\nkafka-outlet:\n  bootstrap-server: a:1\n  tls-ca: ca.pem\n",
            4,
            "unknown field `tls-ca`",
        ),
        (
            "name: a\nkafka-inlet:\n  from: 127.0.0.1:9092\n  bogus: 1\n",
            4,
            "unknown field `bogus`",
        ),
        (
            "kafka-inlets:\n  k:\n    to: /node/n1/secure/api\n    brokers-ports: 1-2\n",
            4,
            "unknown field `brokers-ports`",
        ),
        // The map form's entries are not the single form.
        (
            "kafka-outlets:\n  bootstrap-server: a:1\n",
            2,
            "invalid type",
        ),
    ] {
        let e = NodeFile::parse("f.yaml", text).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("f.yaml: line {line}, column")),
            "{text}: {e}"
        );
        assert!(e.contains(says), "{text}: {e}");
    }
    let e = NodeFile::parse("f.yaml", "kafka-outlet:\n  from: a\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2"), "{e}");
    let e = NodeFile::parse("f.yaml", "kafka-outlet: {}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing field `bootstrap-server`"), "{e}");
}

/// `tcp-outlet: {to, allow}` is one outlet; `tcp-outlet: {NAME: {to}}` names them.
#[test]
fn tcp_portals_single_or_named() {
    let f = NodeFile::parse(
        "f.yaml",
        "tcp-outlet:\n  to: 127.0.0.1:27017\n  allow: mongodb-inlet\ntcp-inlet:\n  from: 127.0.0.1:17017\n  via: mongodb\n  allow: (= subject.mongodb-outlet \"true\")\n",
    )
    .unwrap();
    let outlets = f.tcp_outlets().unwrap();
    assert_eq!(outlets.len(), 1);
    assert_eq!(outlets[0].0, SINGLE_OUTLET_NAME);
    assert_eq!(outlets[0].1.to, "127.0.0.1:27017");
    assert_eq!(outlets[0].1.allow.as_deref(), Some("mongodb-inlet"));
    let inlets = f.tcp_inlets().unwrap();
    assert_eq!(inlets[0].0, SINGLE_INLET_NAME);
    assert_eq!(inlets[0].1.via.as_deref(), Some("mongodb"));

    // The modelled system's own examples name them under the singular key; an outlet
    // named `to` is still a name.
    let f = NodeFile::parse(
        "f.yaml",
        "tcp-outlet:\n  db-outlet: { to: 127.0.0.1:5432 }\n  to: { to: 127.0.0.1:1 }\ntcp-inlets:\n  web: { from: 127.0.0.1:2, to: /node/n/secure/api/service/outlet }\n",
    )
    .unwrap();
    let names: Vec<String> = f
        .tcp_outlets()
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["db-outlet", "to"]);
    assert_eq!(f.tcp_inlets().unwrap()[0].0, "web");

    // Unknown keys and a name given twice are errors that say where.
    let f = NodeFile::parse("f.yaml", "tcp-outlet: { to: a:1, alow: x }\n").unwrap();
    let e = f.tcp_outlets().unwrap_err().to_string();
    assert!(e.starts_with("tcp-outlet: unknown field `alow`"), "{e}");
    let f = NodeFile::parse(
        "f.yaml",
        "tcp-inlet:\n  db: { from: 127.0.0.1:1, bogus: 1 }\n",
    )
    .unwrap();
    let e = f.tcp_inlets().unwrap_err().to_string();
    assert!(e.starts_with("tcp-inlet db: unknown field `bogus`"), "{e}");
    let f = NodeFile::parse(
        "f.yaml",
        "tcp-outlet: { to: a:1 }\ntcp-outlets:\n  outlet: { to: b:1 }\n",
    )
    .unwrap();
    let e = f.tcp_outlets().unwrap_err().to_string();
    assert!(e.contains("both define tcp-outlet \"outlet\""), "{e}");
    let f = NodeFile::parse("f.yaml", "tcp-outlet: [a]\n").unwrap();
    assert!(f.tcp_outlets().is_err());
}

#[test]
fn allow_is_an_expression_or_the_shorthand() {
    let e = parse_allow("(= subject.a \"true\")").unwrap();
    let s = parse_allow("a").unwrap();
    assert_eq!(e.to_string(), s.to_string());
    // Parentheses that group shorthand stay shorthand.
    assert!(parse_allow("(a and b) or c").is_ok());
    assert!(parse_allow("a and").is_err());
}

#[test]
fn relays_are_names_or_entries() {
    let f: NodeFile = yaml_serde::from_str(
        "relays:\n  - mongodb\n  - { name: edge, at: /ip4/10.0.0.1/tcp/4000, authorized: [I00] }\n",
    )
    .unwrap();
    let Some(yaml_serde::Value::Sequence(v)) = f.relay else {
        panic!("a list")
    };
    let v: Vec<RelayEntry> = v
        .iter()
        .map(|e| RelayEntry::from_yaml(e).unwrap())
        .collect();
    assert!(matches!(&v[0], RelayEntry::Name(n) if n == "mongodb"));
    assert!(matches!(&v[1], RelayEntry::At(a) if a.name == "edge" && a.authorized == ["I00"]));
    let f: NodeFile = yaml_serde::from_str("relay: { name: x, bogus: 1 }\n").unwrap();
    let e = RelayEntry::from_yaml(&f.relay.unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `bogus`"), "{e}");
    let f: NodeFile = yaml_serde::from_str("relay: [[a]]\n").unwrap();
    let Some(yaml_serde::Value::Sequence(v)) = f.relay else {
        panic!("a list")
    };
    assert!(RelayEntry::from_yaml(&v[0]).is_err());
}
