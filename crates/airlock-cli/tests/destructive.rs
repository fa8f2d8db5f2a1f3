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
    assert!(
        r.stderr
            .contains("outlet outlet of node n1 is linked to 1 inlet(s)"),
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

/// On a terminal (here a pseudo-terminal from util-linux `script`) the question is asked: an
/// empty or "n" answer keeps the node, "y" deletes it.
#[test]
fn on_a_terminal_it_asks() {
    if !common::pseudo_terminal_available() {
        return;
    }
    let home = Home::new("destroy-tty");
    home.ok(&["node", "create", "n1"]);
    let on_tty = |answer: &str| {
        let cmdline = format!("{} node delete", env!("CARGO_BIN_EXE_airlock"));
        let mut child = std::process::Command::new("timeout")
            .args(["30", "script", "-qec", &cmdline, "/dev/null"])
            .env("AIRLOCK_HOME", home.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runs script");
        // Answer once the question is up.
        std::thread::sleep(Duration::from_millis(1500));
        // (A command that did not ask has already ended: the answer then goes nowhere.)
        let _ = child.stdin.take().unwrap().write_all(answer.as_bytes());
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for answer in ["n\n", "\n"] {
        let shown = on_tty(answer);
        assert!(
            shown.contains("Delete the default node n1 and its portals? [y/N]"),
            "{shown}"
        );
        assert!(shown.contains("cancelled"), "{shown}");
        assert_eq!(home.nodes(), ["n1"], "answer {answer:?}");
    }
    let shown = on_tty("y\n");
    assert!(shown.contains("Deleted node n1"), "{shown}");
    assert!(home.nodes().is_empty());
}

/// A node others reach through a relay is in use too.
#[test]
fn a_node_behind_a_live_relay_needs_yes() {
    let home = Home::new("destroy-relay");
    home.ok(&["node", "create", "host"]);
    home.ok(&["node", "create", "n2"]);
    let n2 = json(&home.ok(&["node", "show", "n2", "--output", "json"]));
    let id = n2["identifier"].as_str().unwrap().to_string();
    let expression = format!("(= subject.identifier \"{id}\")");
    home.create_policy("host", "relay", &expression);
    home.ok(&["relay", "create", "n2", "--at", "/node/host", "--to", "n2"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while json(&home.ok(&["relay", "list", "--to", "n2", "--output", "json"]))[0]["status"] != "up"
    {
        assert!(Instant::now() < deadline, "relay not up");
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = home.fails(&["node", "delete", "n2"]);
    assert!(
        r.stderr.contains("others reach node n2 through relay n2"),
        "{}",
        r.stderr
    );
    assert_eq!(home.nodes(), ["host", "n2"]);
    home.ok(&["node", "delete", "n2", "--yes"]);
    assert_eq!(home.nodes(), ["host"]);
}
