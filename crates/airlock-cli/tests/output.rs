//! Output conventions: `show` prints aligned `key: value` lines in plain output and JSON only
//! under `--output json`; an empty list prints nothing on stdout and a note on stderr; routes
//! are shown as the user gave them; field names agree (`default`); showing creates nothing.

mod common;

use common::{json, Home};

#[test]
fn empty_lists_keep_stdout_empty_and_say_so_on_stderr() {
    let home = Home::new("out-empty");
    for (args, note) in [
        (&["node", "list"][..], "No nodes"),
        (&["identity", "list"][..], "No identities"),
        (&["project", "list"][..], "No projects here"),
    ] {
        let r = home.ok(args);
        assert_eq!(r.stdout, "", "{args:?}");
        assert!(r.stderr.contains(note), "{args:?}: {}", r.stderr);
    }
    assert_eq!(
        home.ok(&["node", "list", "--output", "json"]).stdout.trim(),
        "[]"
    );
    assert_eq!(
        home.ok(&["project", "list", "--output", "json"])
            .stdout
            .trim(),
        "[]"
    );
    assert_eq!(
        home.ok(&["identity", "list", "--output", "json"])
            .stdout
            .trim(),
        "[]"
    );
}

#[test]
fn identity_show_creates_nothing() {
    let home = Home::new("out-idshow");
    let r = home.fails(&["identity", "show"]);
    assert!(r.stderr.contains("airlock identity create"), "{}", r.stderr);
    let r = home.fails(&["identity", "show", "bob"]);
    assert!(
        r.stderr.contains("airlock identity create bob"),
        "{}",
        r.stderr
    );
    assert!(
        home.identities().is_empty(),
        "identity show created an identity"
    );

    home.ok(&["identity", "create", "alice"]);
    let list = json(&home.ok(&["identity", "list", "--output", "json"]));
    assert!(list[0].get("default").is_some(), "{list}");
    assert!(list[0].get("is_default").is_none(), "{list}");
    let status = json(&home.ok(&["status", "--output", "json"]));
    assert!(
        status["identities"][0].get("is_default").is_none(),
        "{status}"
    );
    let shown = json(&home.ok(&["identity", "show", "--output", "json"]));
    assert_eq!(shown["name"], "alice");
}

#[test]
fn portal_shows_are_key_value_lines_with_the_route_as_given() {
    let home = Home::new("out-portal");
    home.ok(&["node", "create", "n1"]);
    home.ok(&["node", "create", "n2"]);
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = server.local_addr().unwrap().to_string();
    home.ok(&["tcp-outlet", "create", "--at", "n1", "--to", &target]);
    let route = "/node/n1/secure/api/service/outlet";
    let created = json(&home.ok(&[
        "tcp-inlet",
        "create",
        "--at",
        "n2",
        "--alias",
        "db",
        "--to",
        route,
        "--output",
        "json",
    ]));
    // What create prints reads like show: the route as given, and as the node dials it.
    assert_eq!(created["to"], route, "{created}");
    assert!(
        created["to_resolved"]
            .as_str()
            .unwrap()
            .starts_with("/ip4/"),
        "{created}"
    );

    // Plain: `key: value` lines, no JSON.
    let r = home.ok(&["tcp-inlet", "show", "db", "--at", "n2"]);
    assert!(!r.stdout.contains('{'), "{}", r.stdout);
    assert!(r.stdout.starts_with("name:"), "{}", r.stdout);
    let line = |key: &str| {
        r.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{key}:")))
            .unwrap_or_else(|| panic!("no {key}: {}", r.stdout))
            .split_once(':')
            .unwrap()
            .1
            .trim()
            .to_string()
    };
    assert_eq!(line("to"), route);
    assert!(
        line("to_resolved").starts_with("/ip4/127.0.0.1/tcp/"),
        "{}",
        r.stdout
    );
    // JSON: the same fields.
    let v = json(&home.ok(&["tcp-inlet", "show", "db", "--at", "n2", "--output", "json"]));
    assert_eq!(v["to"], route);
    assert!(
        v["to_resolved"].as_str().unwrap().starts_with("/ip4/"),
        "{v}"
    );
    let v = json(&home.ok(&["tcp-inlet", "list", "--at", "n2", "--output", "json"]));
    assert_eq!(v[0]["to"], route, "{v}");
    let r = home.ok(&["tcp-inlet", "list", "--at", "n2"]);
    assert!(r.stdout.contains(route), "{}", r.stdout);

    let r = home.ok(&["tcp-outlet", "show", "outlet", "--at", "n1"]);
    assert!(!r.stdout.contains('{'), "{}", r.stdout);
    assert!(r.stdout.contains("to:"), "{}", r.stdout);
    assert!(r.stdout.contains(&target), "{}", r.stdout);
    let v = json(&home.ok(&[
        "tcp-outlet",
        "show",
        "outlet",
        "--at",
        "n1",
        "--output",
        "json",
    ]));
    assert_eq!(v["to"], target.as_str());

    // Empty lists: a note on stderr, nothing on stdout.
    for (args, note) in [
        (
            &["tcp-inlet", "list", "--at", "n1"][..],
            "No inlets on node n1",
        ),
        (
            &["tcp-outlet", "list", "--at", "n2"][..],
            "No outlets on node n2",
        ),
        (&["relay", "list", "--at", "n1"][..], "No relays on node n1"),
        (
            &["policy", "list", "--at", "n1"][..],
            "No policies on node n1",
        ),
    ] {
        let r = home.ok(args);
        assert_eq!(r.stdout, "", "{args:?}");
        assert!(r.stderr.contains(note), "{args:?}: {}", r.stderr);
    }
    assert_eq!(
        home.ok(&["tcp-inlet", "list", "--at", "n1", "--output", "json"])
            .stdout
            .trim(),
        "[]"
    );
}
