//! `kafka-outlet …` and `kafka-inlet …` through the real binary: create, list, show and delete;
//! a refused inlet is an error that leaves nothing; what was created comes back when the nodes
//! restart, and what was deleted does not; a node file's Kafka portals are created; an
//! encrypting inlet's `--encrypted-field`s are recorded, shown and restored. No Kafka
//! broker is needed: the inlet's bootstrap link to the outlet comes up without one.

mod common;

use common::{free_port, json, Home};
use std::time::{Duration, Instant};

/// A port nothing listens on now.
fn kafka_inlets(home: &Home, node: &str) -> Vec<serde_json::Value> {
    let list = home.ok(&["--output", "json", "kafka-inlet", "list", "--at", node]);
    serde_json::from_value(json(&list)).unwrap()
}

fn kafka_outlets(home: &Home, node: &str) -> Vec<serde_json::Value> {
    let list = home.ok(&["--output", "json", "kafka-outlet", "list", "--at", node]);
    serde_json::from_value(json(&list)).unwrap()
}

/// Waits until Kafka inlet `name` of `node` is up (its bootstrap link), or panics.
fn wait_up(home: &Home, node: &str, name: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = json(&home.ok(&[
            "--output",
            "json",
            "kafka-inlet",
            "show",
            name,
            "--at",
            node,
        ]));
        if v["status"] == "up" {
            return v;
        }
        assert!(Instant::now() < deadline, "not up: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn kafka_portals_are_created_listed_shown_deleted_and_restored() {
    let h = &Home::new("kafka-portals");
    h.ok(&["node", "create", "n1"]);
    h.ok(&["node", "create", "n2"]);
    let broker = format!("127.0.0.1:{}", free_port());

    // The outlet: its route suffix on stdout.
    let r = h.ok(&[
        "kafka-outlet",
        "create",
        "--at",
        "n1",
        "--bootstrap-server",
        &broker,
    ]);
    assert_eq!(r.stdout.trim(), "/service/kafka");
    assert!(r.stderr.contains("Created Kafka outlet"), "{}", r.stderr);
    let r = h.ok(&["kafka-outlet", "list", "--at", "n1"]);
    assert!(r.stdout.starts_with("NAME"), "{}", r.stdout);
    assert!(r.stdout.contains(&broker), "{}", r.stdout);
    let r = h.ok(&["kafka-outlet", "show", "kafka", "--at", "n1"]);
    assert!(r.stdout.starts_with("name:"), "{}", r.stdout);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("bootstrap_server:") && l.ends_with(&broker)),
        "{}",
        r.stdout
    );
    let outlets = kafka_outlets(h, "n1");
    assert_eq!(outlets.len(), 1, "{outlets:?}");
    assert_eq!(outlets[0]["address"], "/service/kafka");
    let e = h.fails(&[
        "kafka-outlet",
        "create",
        "--at",
        "n1",
        "--bootstrap-server",
        "nope",
    ]);
    assert!(e.stderr.contains("is not HOST:PORT"), "{}", e.stderr);

    // The inlet, to the outlet node's secure channel.
    let (bootstrap, first) = (free_port(), free_port());
    let from = format!("127.0.0.1:{bootstrap}");
    let range = format!("{first}-{first}");
    let route = "/node/n1/secure/api";
    let created = json(&h.ok(&[
        "--output",
        "json",
        "kafka-inlet",
        "create",
        "--at",
        "n2",
        "--name",
        "k",
        "--from",
        &from,
        "--to",
        route,
        "--brokers-port-range",
        &range,
        "--disable-content-encryption",
        "--wait",
    ]));
    assert_eq!(created["name"], "k", "{created}");
    assert_eq!(created["status"], "up", "{created}");
    assert_eq!(created["from"], from.as_str(), "{created}");
    assert_eq!(created["to"], route, "{created}");
    assert_eq!(created["outlet"], "kafka", "{created}");
    assert_eq!(created["broker_ports"], range.as_str(), "{created}");
    assert!(
        created["to_resolved"]
            .as_str()
            .unwrap()
            .starts_with("/ip4/127.0.0.1/tcp/"),
        "{created}"
    );
    // Kafka clients can connect to the bootstrap address.
    std::net::TcpStream::connect(&from).expect("the inlet listens");
    let r = h.ok(&["kafka-inlet", "list", "--at", "n2"]);
    let row = r.stdout.lines().nth(1).unwrap_or_default().to_string();
    assert!(
        row.starts_with("k ")
            && row.contains(&from)
            && row.contains("/node/n1/secure/api/service/kafka")
            && row.contains("up"),
        "{}",
        r.stdout
    );
    let r = h.ok(&["kafka-inlet", "show", "k", "--at", "n2"]);
    assert!(r.stdout.starts_with("name:"), "{}", r.stdout);
    assert!(r.stdout.contains("broker_ports:"), "{}", r.stdout);

    // A route that names the outlet's service is refused before anything is created.
    let e = h.fails(&[
        "kafka-inlet",
        "create",
        "--at",
        "n2",
        "--name",
        "wrong",
        "--from",
        "127.0.0.1:0",
        "--brokers-port-range",
        &range,
        "--to",
        "/node/n1/secure/api/service/kafka",
    ]);
    assert!(
        e.stderr
            .contains("names a service after the secure channel"),
        "{}",
        e.stderr
    );
    // Without --to, the default relay `kafka` needs a project.
    let e = h.fails(&["kafka-inlet", "create", "--at", "n2", "--name", "norelay"]);
    assert!(e.stderr.contains("--to ROUTE"), "{}", e.stderr);
    // Record encryption (the default) needs a project's key directory: refused, nothing kept.
    let (enc_from, enc_first) = (format!("127.0.0.1:{}", free_port()), free_port());
    let e = h.fails(&[
        "kafka-inlet",
        "create",
        "--at",
        "n2",
        "--name",
        "enc",
        "--from",
        &enc_from,
        "--brokers-port-range",
        &format!("{enc_first}-{enc_first}"),
        "--to",
        route,
    ]);
    assert!(
        e.stderr.contains("--disable-content-encryption"),
        "{}",
        e.stderr
    );
    assert_eq!(kafka_inlets(h, "n2").len(), 1);

    // Both come back when the nodes restart.
    for n in ["n1", "n2"] {
        h.ok(&["node", "stop", n]);
    }
    for n in ["n1", "n2"] {
        h.ok(&["node", "start", n]);
    }
    let outlets = kafka_outlets(h, "n1");
    assert_eq!(outlets.len(), 1, "{outlets:?}");
    assert_eq!(outlets[0]["bootstrap_server"], broker.as_str());
    let restored = wait_up(h, "n2", "k");
    assert_eq!(restored["from"], from.as_str(), "{restored}");
    assert_eq!(restored["to"], route, "{restored}");
    assert_eq!(restored["broker_ports"], range.as_str(), "{restored}");

    // Deleted ones do not.
    h.ok(&["kafka-inlet", "delete", "k", "--at", "n2"]);
    h.ok(&["kafka-outlet", "delete", "kafka", "--at", "n1"]);
    let e = h.fails(&["kafka-outlet", "delete", "kafka", "--at", "n1"]);
    assert!(e.stderr.contains("no Kafka outlet named"), "{}", e.stderr);
    for n in ["n1", "n2"] {
        h.ok(&["node", "stop", n]);
        h.ok(&["node", "start", n]);
    }
    assert!(kafka_outlets(h, "n1").is_empty());
    assert!(kafka_inlets(h, "n2").is_empty());
    for (args, note) in [
        (
            &["kafka-inlet", "list", "--at", "n2"][..],
            "No Kafka inlets on node n2.",
        ),
        (
            &["kafka-outlet", "list", "--at", "n1"][..],
            "No Kafka outlets on node n1.",
        ),
    ] {
        let r = h.ok(args);
        assert_eq!(r.stdout, "", "{args:?}");
        assert!(r.stderr.contains(note), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn a_refused_kafka_inlet_is_an_error_and_is_not_kept() {
    let h = &Home::new("kafka-refused");
    h.ok(&["node", "create", "n1"]);
    h.ok(&["node", "create", "n2"]);
    let broker = format!("127.0.0.1:{}", free_port());
    h.ok(&[
        "kafka-outlet",
        "create",
        "--at",
        "n1",
        "--bootstrap-server",
        &broker,
    ]);
    h.create_policy("n1", "kafka-outlet", "false");
    let from = format!("127.0.0.1:{}", free_port());
    let first = free_port();
    let range = format!("{first}-{first}");
    let out = h.run(&[
        "kafka-inlet",
        "create",
        "--at",
        "n2",
        "--name",
        "k",
        "--from",
        &from,
        "--brokers-port-range",
        &range,
        "--to",
        "/node/n1/secure/api",
        "--disable-content-encryption",
        "--wait",
    ]);
    let err = &out.stderr;
    assert!(!out.success, "a refused Kafka inlet was created: {err}");
    assert!(
        err.contains("cannot create Kafka inlet k on node n2"),
        "{err}"
    );
    assert!(err.contains("refused"), "the reason is on stderr: {err}");
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(kafka_inlets(h, "n2").is_empty(), "the node kept it");
    // Its bootstrap port is free again.
    std::net::TcpListener::bind(&from).expect("the refused inlet let its port go");
    // Not recorded either: a restarted node does not bring it back.
    h.ok(&["node", "stop", "n2"]);
    h.ok(&["node", "start", "n2"]);
    assert!(kafka_inlets(h, "n2").is_empty(), "restored");
}

#[test]
fn a_node_files_kafka_portals_are_created() {
    let h = &Home::new("kafka-file");
    let broker = format!("127.0.0.1:{}", free_port());
    let outlet_file = h.path().join("outlet.yaml");
    std::fs::write(
        &outlet_file,
        format!("name: kafka_outlet_node\nkafka-outlet:\n  bootstrap-server: {broker}\n"),
    )
    .unwrap();
    h.ok(&["node", "create", outlet_file.to_str().unwrap()]);
    let outlets = kafka_outlets(h, "kafka_outlet_node");
    assert_eq!(outlets.len(), 1, "{outlets:?}");
    assert_eq!(outlets[0]["name"], "kafka");
    assert_eq!(outlets[0]["bootstrap_server"], broker.as_str());

    let from = format!("127.0.0.1:{}", free_port());
    let first = free_port();
    let inlet_file = h.path().join("inlet.yaml");
    std::fs::write(
        &inlet_file,
        format!(
            "name: kafka_inlet_node\nkafka-inlet:\n  from: {from}\n  to: /node/kafka_outlet_node/secure/api\n  brokers-port-range: {first}-{first}\n  consumer-relay: /project/default\n  disable-content-encryption: true\n"
        ),
    )
    .unwrap();
    h.ok(&["node", "create", inlet_file.to_str().unwrap()]);
    let inlet = wait_up(h, "kafka_inlet_node", "kafka");
    assert_eq!(inlet["from"], from.as_str(), "{inlet}");
    assert_eq!(inlet["to"], "/node/kafka_outlet_node/secure/api", "{inlet}");

    // A route that names the service is refused with the line's context.
    let bad = h.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\nkafka-inlet:\n  to: /node/kafka_outlet_node/secure/api/service/kafka\n",
    )
    .unwrap();
    let e = h.fails(&["node", "create", bad.to_str().unwrap()]);
    assert!(
        e.stderr.contains("kafka-inlet kafka") && e.stderr.contains("names a service"),
        "{}",
        e.stderr
    );
    assert!(!h.nodes().contains(&"bad".to_string()));
}

#[test]
fn encrypted_fields_are_recorded_shown_and_restored() {
    let h = &Home::new("kafka-fields");
    // Encrypting inlets need their node to be a project member (the key directory): identity
    // `app` administers the home's project, and the nodes run as `app`.
    h.ok(&["identity", "create", "app"]);
    let listen = format!("127.0.0.1:{}", free_port());
    h.ok(&["project", "create", "--listen", &listen]);
    h.ok(&["node", "create", "n1"]);
    h.ok(&["node", "create", "n2"]);
    let broker = format!("127.0.0.1:{}", free_port());
    h.ok(&[
        "kafka-outlet",
        "create",
        "--at",
        "n1",
        "--bootstrap-server",
        &broker,
    ]);
    // `kafka-inlet create` arguments for inlet `name` at fresh ports, then `extra`.
    let args = |name: &str, extra: &[&str]| -> Vec<String> {
        let first = free_port();
        let mut v: Vec<String> = [
            "kafka-inlet",
            "create",
            "--at",
            "n2",
            "--name",
            name,
            "--from",
            &format!("127.0.0.1:{}", free_port()),
            "--brokers-port-range",
            &format!("{first}-{first}"),
            "--to",
            "/node/n1/secure/api",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    fn argv(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let fields = serde_json::json!(["secret", "pin"]);

    let mut create = vec!["--output".to_string(), "json".to_string()];
    create.extend(args(
        "k",
        &["--encrypted-field", "secret", "--encrypted-field", "pin"],
    ));
    let created = json(&h.ok(&argv(&create)));
    assert_eq!(created["encrypt"], true, "{created}");
    assert_eq!(created["encrypted_fields"], fields, "{created}");
    let shown = json(&h.ok(&["--output", "json", "kafka-inlet", "show", "k", "--at", "n2"]));
    assert_eq!(shown["encrypted_fields"], fields, "{shown}");
    let r = h.ok(&["kafka-inlet", "show", "k", "--at", "n2"]);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("encrypted_fields:") && l.ends_with(" secret, pin")),
        "{}",
        r.stdout
    );
    // The short form takes them too.
    let first = free_port();
    h.ok(&[
        "kafka-producer",
        "create",
        "--at",
        "n2",
        "--bootstrap-server",
        &format!("127.0.0.1:{}", free_port()),
        "--brokers-port-range",
        &format!("{first}-{first}"),
        "--to",
        "/node/n1/secure/api",
        "--encrypted-field",
        "card",
    ]);
    let producer = kafka_inlets(h, "n2")
        .into_iter()
        .find(|i| i["name"] == "kafka-producer-1")
        .expect("kafka-producer-1");
    assert_eq!(producer["encrypted_fields"], serde_json::json!(["card"]));

    // Fields with encryption off, twice, or empty: refused, nothing created.
    let e = h.fails(&argv(&args(
        "off",
        &[
            "--disable-content-encryption",
            "--encrypted-field",
            "secret",
        ],
    )));
    assert!(
        e.stderr.contains("--encrypted-field") && e.stderr.contains("--disable-content-encryption"),
        "{}",
        e.stderr
    );
    let e = h.fails(&argv(&args(
        "twice",
        &["--encrypted-field", "pin", "--encrypted-field", "pin"],
    )));
    assert!(
        e.stderr
            .contains("--encrypted-field: field \"pin\" is named twice"),
        "{}",
        e.stderr
    );
    let e = h.fails(&argv(&args("empty", &["--encrypted-field="])));
    assert!(e.stderr.contains("a field name is empty"), "{}", e.stderr);
    assert_eq!(kafka_inlets(h, "n2").len(), 2);

    // The fields come back with the node.
    h.ok(&["node", "stop", "n2"]);
    h.ok(&["node", "start", "n2"]);
    let restored = json(&h.ok(&["--output", "json", "kafka-inlet", "show", "k", "--at", "n2"]));
    assert_eq!(restored["encrypted_fields"], fields, "{restored}");

    // A node file's inlet, with `encrypted-fields`.
    let file = h.path().join("fields.yaml");
    let first = free_port();
    std::fs::write(
        &file,
        format!(
            "name: fields_node\nidentity: app\nkafka-inlet:\n  from: 127.0.0.1:{}\n  to: /node/n1/secure/api\n  brokers-port-range: {first}-{first}\n  encrypted-fields: [secret, pin]\n",
            free_port()
        ),
    )
    .unwrap();
    h.ok(&["node", "create", file.to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let inlet = loop {
        // The node restores the inlet in the background after it starts.
        if let Some(i) = kafka_inlets(h, "fields_node").into_iter().next() {
            break i;
        }
        assert!(
            Instant::now() < deadline,
            "the node file's inlet is not there"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(inlet["name"], "kafka", "{inlet}");
    assert_eq!(inlet["encrypt"], true, "{inlet}");
    assert_eq!(inlet["encrypted_fields"], fields, "{inlet}");
    // With encryption off, the file is refused and its node not created.
    let off = h.path().join("off.yaml");
    std::fs::write(
        &off,
        "name: off_node\nidentity: app\nkafka-inlet:\n  to: /node/n1/secure/api\n  disable-content-encryption: true\n  encrypted-fields: [secret]\n",
    )
    .unwrap();
    let e = h.fails(&["node", "create", off.to_str().unwrap()]);
    assert!(
        e.stderr.contains("kafka-inlet kafka")
            && e.stderr.contains("`encrypted-fields`")
            && e.stderr.contains("`disable-content-encryption`"),
        "{}",
        e.stderr
    );
    assert!(!h.nodes().contains(&"off_node".to_string()));
}

/// The test CA of the Kafka outlet's TLS tests (any PEM certificate does here: no broker).
const TEST_CA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../airlock-node/src/kafka/testdata/ca.pem"
);

#[test]
fn tls_kafka_outlets_the_project_addon_and_the_short_forms() {
    fn argv(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let h = &Home::new("kafka-tls");
    h.ok(&["node", "create", "n1"]);
    let broker = format!("127.0.0.1:{}", free_port());
    let create = |extra: &[&str]| {
        let mut args = vec![
            "kafka-outlet",
            "create",
            "--at",
            "n1",
            "--bootstrap-server",
            &broker,
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };

    // A CA file that cannot be read, or holds no certificate: refused, nothing kept.
    let e = h.fails(&argv(&create(&[
        "--tls",
        "--tls-ca-file",
        "/nonexistent/ca.pem",
    ])));
    assert!(e.stderr.contains("--tls-ca-file"), "{}", e.stderr);
    let not_pem = h.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let e = h.fails(&argv(&create(&[
        "--tls",
        "--tls-ca-file",
        not_pem.to_str().unwrap(),
    ])));
    assert!(e.stderr.contains("holds no certificate"), "{}", e.stderr);
    assert!(kafka_outlets(h, "n1").is_empty());

    // TLS with the CA, recorded with the CA's absolute path, listed, shown and restored.
    let r = h.ok(&argv(&create(&["--tls", "--tls-ca-file", TEST_CA])));
    assert!(
        r.stderr.contains("over TLS (trusting the CA in /"),
        "{}",
        r.stderr
    );
    let ca = std::fs::canonicalize(TEST_CA).unwrap();
    let ca = ca.to_str().unwrap();
    let r = h.ok(&["kafka-outlet", "list", "--at", "n1"]);
    assert!(r.stdout.contains("TLS"), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("yes (CA {ca})")), "{}", r.stdout);
    let r = h.ok(&["kafka-outlet", "show", "kafka", "--at", "n1"]);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("tls:") && l.ends_with(" true")),
        "{}",
        r.stdout
    );
    h.ok(&["node", "stop", "n1"]);
    h.ok(&["node", "start", "n1"]);
    let outlets = kafka_outlets(h, "n1");
    assert_eq!(outlets[0]["tls"], true, "{outlets:?}");
    assert_eq!(outlets[0]["tls_ca_file"], ca, "{outlets:?}");

    // The short forms make encrypting inlets named after them; encryption needs a project.
    let from = format!("127.0.0.1:{}", free_port());
    let e = h.fails(&[
        "kafka-producer",
        "create",
        "--at",
        "n1",
        "--bootstrap-server",
        &from,
        "--brokers-port-range",
        &format!("{0}-{0}", free_port()),
        "--to",
        "/node/n1/secure/api",
    ]);
    assert!(e.stderr.contains("kafka-producer-1"), "{}", e.stderr);
    assert!(
        e.stderr.contains("--disable-content-encryption"),
        "{}",
        e.stderr
    );

    // The project's Kafka add-on: the project node's outlet `kafka`, replaced when configured
    // again, restored with the node, removed.
    let listen = format!("127.0.0.1:{}", free_port());
    h.ok(&["project", "create", "--listen", &listen]);
    let r = h.ok(&[
        "project",
        "addon",
        "configure",
        "kafka",
        "--bootstrap-server",
        &broker,
        "--tls",
        "--tls-ca-file",
        TEST_CA,
    ]);
    assert_eq!(r.stdout.trim(), "/service/kafka");
    assert!(r.stderr.contains("--to /project/default"), "{}", r.stderr);
    let outlets = kafka_outlets(h, "project-default");
    assert_eq!(outlets.len(), 1, "{outlets:?}");
    assert_eq!(outlets[0]["tls"], true, "{outlets:?}");
    h.ok(&[
        "project",
        "addon",
        "configure",
        "kafka",
        "--bootstrap-server",
        "127.0.0.1:1",
        "--tls",
    ]);
    h.ok(&["node", "stop", "project-default"]);
    h.ok(&["node", "start", "project-default"]);
    let outlets = kafka_outlets(h, "project-default");
    assert_eq!(outlets.len(), 1, "{outlets:?}");
    assert_eq!(outlets[0]["bootstrap_server"], "127.0.0.1:1", "{outlets:?}");
    assert_eq!(outlets[0]["tls"], true, "{outlets:?}");
    assert!(outlets[0].get("tls_ca_file").is_none(), "{outlets:?}");
    h.ok(&["project", "addon", "remove", "kafka"]);
    assert!(kafka_outlets(h, "project-default").is_empty());
    for n in ["n1", "project-default"] {
        h.ok(&["node", "stop", n]);
    }
}
