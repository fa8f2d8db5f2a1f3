//! `tcp-inlet create` tells the truth: refused by the outlet's policy, it exits non-zero with
//! the reason and leaves no inlet (not on the node, not recorded to be restored); with
//! `--wait=…` and an outlet nobody answers for, it exits non-zero saying the inlet keeps trying.

mod common;

use common::{json, Home};

fn inlets(home: &Home) -> Vec<serde_json::Value> {
    let list = home.ok(&["--output", "json", "tcp-inlet", "list", "--at", "n2"]);
    serde_json::from_value(json(&list)).unwrap()
}

#[test]
fn a_refused_inlet_is_an_error_and_is_not_kept() {
    let h = &Home::new("refused");
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = target.local_addr().unwrap().to_string();
    h.ok(&["node", "create", "n1"]);
    h.ok(&["node", "create", "n2"]);
    h.ok(&["tcp-outlet", "create", "--at", "n1", "--to", &target]);
    h.create_policy("n1", "tcp-outlet", "false");

    let out = h.run(&[
        "tcp-inlet",
        "create",
        "--at",
        "n2",
        "--alias",
        "db",
        "--to",
        "/node/n1/secure/api/service/outlet",
        "--wait",
    ]);
    let err = &out.stderr;
    assert!(!out.success, "a refused inlet was created: {err}");
    assert!(err.contains("refused"), "the reason is on stderr: {err}");
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(inlets(h).is_empty(), "the node kept it: {:?}", inlets(h));
    // Not recorded either: a restarted node does not bring it back.
    h.ok(&["node", "stop", "n2"]);
    h.ok(&["node", "start", "n2"]);
    assert!(inlets(h).is_empty(), "restored: {:?}", inlets(h));

    // Nobody listening: not refused, so the inlet stays and keeps trying; `--wait` makes the
    // create fail when it is not up in time, and says where to look.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let to = format!("/ip4/127.0.0.1/tcp/{closed}/secure/api/service/outlet");
    let args = [
        "tcp-inlet",
        "create",
        "--at",
        "n2",
        "--alias",
        "later",
        "--to",
        &to,
    ];
    let mut waiting = args.to_vec();
    waiting.push("--wait=1s");
    let out = h.run(&waiting);
    let err = &out.stderr;
    assert!(!out.success, "not up, yet exit 0: {err}");
    assert!(
        err.contains("keeps trying") && err.contains("tcp-inlet show later"),
        "{err}"
    );
    let kept = inlets(h);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["status"], "down");
    assert_eq!(kept[0]["last_error_kind"], "transient");
    // Without --wait, the same situation is a success that says it keeps trying.
    h.ok(&["tcp-inlet", "delete", "later", "--at", "n2"]);
    let out = h.run(&args);
    let err = &out.stderr;
    assert!(out.success, "{err}");
    assert!(err.contains("keeps trying"), "{err}");
}

fn relays(home: &Home) -> Vec<serde_json::Value> {
    let list = home.ok(&["--output", "json", "relay", "list", "--to", "n2"]);
    serde_json::from_value(json(&list)).unwrap()
}

#[test]
fn a_refused_relay_is_an_error_and_is_not_kept() {
    let h = &Home::new("refused-relay");
    h.ok(&["node", "create", "n1"]);
    h.ok(&["node", "create", "n2"]);
    // n1 belongs to no project and has no relay policy: it accepts no relays.
    let create = ["relay", "create", "edge", "--to", "n2", "--at", "/node/n1"];
    let out = h.run(&create);
    let err = &out.stderr;
    assert!(!out.success, "a refused relay was created: {err}");
    assert!(
        err.contains("accepts no relays"),
        "the reason is on stderr: {err}"
    );
    assert!(relays(h).is_empty(), "the node kept it: {:?}", relays(h));
    h.ok(&["node", "stop", "n2"]);
    h.ok(&["node", "start", "n2"]);
    assert!(relays(h).is_empty(), "restored: {:?}", relays(h));

    // Once n1 allows relays, the same create (waiting) succeeds.
    h.create_policy("n1", "relay", "true");
    let mut waiting = create.to_vec();
    waiting.push("--wait=20s");
    h.ok(&waiting);
    let kept = relays(h);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["status"], "up");
}
