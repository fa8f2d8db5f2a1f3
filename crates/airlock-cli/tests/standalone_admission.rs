//! A node outside any project admits only identities it knows (docs/protocol.md §5.4): the
//! identities of its own `AIRLOCK_HOME` (so two nodes sharing one home talk, as in the demo),
//! and not an identity of another home until a policy names it.

mod common;

use common::{json, Home};

#[test]
fn a_stand_alone_node_admits_its_homes_identities_and_those_a_policy_names() {
    let (a, b) = (Home::new("admission-a"), Home::new("admission-b"));
    a.ok(&["node", "create", "n1"]);
    a.ok(&["node", "create", "n2"]);
    // Same home: the demo keeps working.
    let hi = a.ok(&[
        "message",
        "send",
        "hello",
        "--from",
        "n2",
        "--to",
        "/node/n1/secure/api/service/uppercase",
    ]);
    assert_eq!(hi.stdout.trim(), "HELLO");

    // Another home: refused at the handshake.
    b.ok(&["node", "create", "m"]);
    let n1 = json(&a.ok(&["node", "show", "n1", "--output", "json"]));
    let port = n1["tcp_listen"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let to = format!("/ip4/127.0.0.1/tcp/{port}/secure/api/service/uppercase");
    let args = [
        "message",
        "send",
        "hello",
        "--from",
        "m",
        "--to",
        &to,
        "--timeout",
        "5",
    ];
    let out = b.run(&args);
    assert!(
        !out.success,
        "a stranger's message was answered: {}",
        out.stdout
    );

    // Named by a policy on n1: admitted.
    let m = json(&b.ok(&["node", "show", "m", "--output", "json"]));
    let expr = format!(
        "(= subject.identifier \"{}\")",
        m["identifier"].as_str().unwrap()
    );
    a.create_policy("n1", "tcp-outlet", &expr);
    assert_eq!(b.ok(&args).stdout.trim(), "HELLO");
}
