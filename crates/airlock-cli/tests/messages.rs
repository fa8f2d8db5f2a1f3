//! Messages a newcomer meets: a missing node file, a taken project port, and an enrollment
//! against a project that does not answer (said on stderr, and no identity left behind).

mod common;

use common::{free_port, json, Home};
use std::time::{Duration, Instant};

#[test]
fn node_create_of_a_missing_file_says_so() {
    let home = Home::new("msg-nofile");
    for arg in ["./missing.yaml", "missing.yml", "conf/airlock"] {
        let r = home.fails(&["node", "create", arg]);
        assert!(
            r.stderr.contains(&format!("no such file: {arg}")),
            "{arg}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("invalid node name"),
            "{arg}: {}",
            r.stderr
        );
    }
    assert!(home.nodes().is_empty());
}

#[test]
fn project_create_on_a_taken_port_names_its_own_flag() {
    let home = Home::new("msg-port");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let r = home.fails(&["project", "create", "--listen", &addr]);
    assert!(r.stderr.contains("already in use"), "{}", r.stderr);
    assert!(r.stderr.contains("--listen"), "{}", r.stderr);
    assert!(!r.stderr.contains("--tcp-listener-address"), "{}", r.stderr);
    assert!(home.nodes().is_empty());
}

/// A server that accepts connections and never answers.
fn silent_server() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    addr
}

#[test]
fn enrolling_with_a_silent_project_says_where_and_leaves_no_identity() {
    let admin = Home::new("msg-admin");
    let listen = format!("127.0.0.1:{}", free_port());
    admin.ok(&["project", "create", "--listen", &listen]);
    // `project show`: key/value lines in plain output.
    let r = admin.ok(&["project", "show"]);
    assert!(r.stdout.starts_with("name:"), "{}", r.stdout);
    assert!(!r.stdout.contains('{'), "{}", r.stdout);
    let ticket = admin.ok(&["project", "ticket"]).stdout.trim().to_string();

    let member = Home::new("msg-member");
    let silent = silent_server();
    for identity in [None, Some("bob")] {
        let mut args = vec!["project", "enroll", &ticket, "--project-address", &silent];
        if let Some(i) = identity {
            args.extend(["--identity", i]);
        }
        let started = Instant::now();
        let r = member.fails(&args);
        assert!(started.elapsed() < Duration::from_secs(60));
        // Said before waiting, and in the final error, with the address.
        assert!(
            r.stderr
                .contains(&format!("with project default at {silent}…")),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains(&format!(
                "enrolling with project default at {silent} failed"
            )),
            "{}",
            r.stderr
        );
        // No spinner without a terminal.
        assert!(
            !r.stderr.contains('\r') && !r.stderr.contains('\x1b'),
            "{:?}",
            r.stderr
        );
        assert!(
            member.identities().is_empty(),
            "{identity:?}: the failed enrollment left an identity: {}",
            r.stderr
        );
    }

    // An identity that existed before is kept.
    member.ok(&["identity", "create", "carol"]);
    member.fails(&[
        "project",
        "enroll",
        &ticket,
        "--project-address",
        &silent,
        "--identity",
        "carol",
    ]);
    assert_eq!(member.identities(), ["carol"]);

    // And enrolling for real still works.
    let r = member.ok(&[
        "project",
        "enroll",
        &ticket,
        "--identity",
        "dave",
        "--output",
        "json",
    ]);
    assert_eq!(json(&r)["identity"], "dave");

    // A node file whose enrollment fails leaves neither its identity nor a node behind.
    let ticket = admin.ok(&["project", "ticket"]).stdout.trim().to_string();
    admin.ok(&["node", "stop", "project-default"]);
    let file = member.path().join("bank.yaml");
    std::fs::write(&file, format!("name: bank\nticket: {ticket}\n")).unwrap();
    let r = member.fails(&["node", "create", file.to_str().unwrap()]);
    assert!(r.stderr.contains("enrolling"), "{}", r.stderr);
    let mut ids = member.identities();
    ids.sort();
    assert_eq!(ids, ["carol", "dave"], "{}", r.stderr);
    assert!(member.nodes().is_empty());
}

/// On a terminal, a spinner shows while enrollment waits.
#[test]
fn enrollment_shows_a_spinner_on_a_terminal() {
    if !common::pseudo_terminal_available() {
        return;
    }
    let admin = Home::new("msg-spin-admin");
    let listen = format!("127.0.0.1:{}", free_port());
    admin.ok(&["project", "create", "--listen", &listen]);
    let ticket = admin.ok(&["project", "ticket"]).stdout.trim().to_string();
    let member = Home::new("msg-spin-member");
    let silent = silent_server();
    let cmdline = format!(
        "{} project enroll {ticket} --project-address {silent}",
        env!("CARGO_BIN_EXE_airlock")
    );
    let out = std::process::Command::new("timeout")
        .args(["60", "script", "-qec", &cmdline, "/dev/null"])
        .env("AIRLOCK_HOME", member.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains(&format!("waiting for project default at {silent}")),
        "{shown}"
    );
    assert!(shown.contains("failed"), "{shown}");
}
