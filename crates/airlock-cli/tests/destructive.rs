//! Commands that destroy state ask first, and without a terminal (as here: stdin is null) they
//! refuse with a hint and delete nothing unless given `--yes`.

mod common;

use common::{json, Home};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// `node delete` without a name (the default node), `node delete --all` and `reset` refuse
/// without a terminal, naming --yes; with --yes they delete.
#[test]
fn unnamed_deletes_and_reset_need_yes_without_a_terminal() {
    let home = Home::new("destroy");
    home.ok(&["identity", "create", "alice"]);
    home.ok(&["node", "create", "n1"]);

    for args in [
        &["node", "delete"][..],
        &["node", "delete", "--all"][..],
        &["reset"][..],
    ] {
        let r = home.fails(args);
        assert!(r.stderr.contains("pass --yes"), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("nothing was deleted"),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(home.nodes(), ["n1"], "{args:?} deleted a node");
    }
    let r = home.fails(&["reset"]);
    assert!(
        r.stderr.contains("alice"),
        "reset names what it would delete: {}",
        r.stderr
    );
    assert!(home.identities().contains(&"alice".to_string()));

    home.ok(&["node", "delete", "--yes"]);
    assert!(home.nodes().is_empty());

    home.ok(&["reset", "--yes"]);
    assert!(
        !home.path().exists(),
        "reset --yes removes the state folder"
    );
}

/// A node named explicitly is deleted without a question, unless it is in use: another node's
/// inlet points at it, or it carries open portal connections.
#[test]
fn a_named_node_in_use_needs_yes() {
    let home = Home::new("destroy-named");
    home.ok(&["node", "create", "spare"]);
    home.ok(&["node", "create", "n1"]);
    home.ok(&["node", "create", "n2"]);

    // Not in use: goes at once.
    home.ok(&["node", "delete", "spare"]);
    assert_eq!(home.nodes(), ["n1", "n2"]);

    // An echo server behind an outlet on n1, an inlet on n2 pointing at /node/n1.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = server.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut s in server.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    home.ok(&["tcp-outlet", "create", "--at", "n1", "--to", &target]);
    let inlet = home.ok(&[
        "tcp-inlet",
        "create",
        "--at",
        "n2",
        "--to",
        "/node/n1/secure/api/service/outlet",
    ]);
    let inlet_addr = inlet.stdout.trim().to_string();

    let r = home.fails(&["node", "delete", "n1"]);
    assert!(r.stderr.contains("pass --yes"), "{}", r.stderr);
    assert!(
        r.stderr.contains("inlet inlet-1 of node n2"),
        "{}",
        r.stderr
    );
    assert_eq!(home.nodes(), ["n1", "n2"]);

    // An open connection through n2's inlet.
    let mut conn = std::net::TcpStream::connect(&inlet_addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = json(&home.ok(&["tcp-inlet", "list", "--at", "n2", "--output", "json"]));
        if list[0]["connections"].as_u64() == Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "connection not counted: {list}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = home.fails(&["node", "delete", "n2"]);
    assert!(
        r.stderr.contains("1 open portal connection"),
        "{}",
        r.stderr
    );
    assert_eq!(home.nodes(), ["n1", "n2"]);

    home.ok(&["node", "delete", "n1", "--yes"]);
    home.ok(&["node", "delete", "n2", "-y"]);
    assert!(home.nodes().is_empty());
}
