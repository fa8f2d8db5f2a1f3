//! A node outside any project admits only identities it knows (docs/protocol.md §5.4): the
//! identities of its own `AIRLOCK_HOME` (so two nodes sharing one home talk, as in the demo),
//! and not an identity of another home until a policy names it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Two home folders, their nodes stopped and the folders removed on drop.
struct Homes(PathBuf);

impl Homes {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "airlock-admission-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Homes(dir)
    }

    fn home(&self, party: &str) -> PathBuf {
        self.0.join(party)
    }
}

impl Drop for Homes {
    fn drop(&mut self) {
        for party in ["a", "b"] {
            let _ = airlock(&self.home(party), &["node", "delete", "--all", "--yes"]);
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn airlock(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .env("AIRLOCK_HOME", home)
        .env_remove("ENROLLMENT_TICKET")
        .output()
        .expect("runs airlock")
}

fn ok(home: &Path, args: &[&str]) -> String {
    let out = airlock(home, args);
    assert!(
        out.status.success(),
        "airlock {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn field(json: &str, key: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v[key].as_str().unwrap().to_string()
}

#[test]
fn a_stand_alone_node_admits_its_homes_identities_and_those_a_policy_names() {
    let homes = Homes::new();
    let (a, b) = (homes.home("a"), homes.home("b"));
    ok(&a, &["node", "create", "n1"]);
    ok(&a, &["node", "create", "n2"]);
    // Same home: the demo keeps working.
    let hi = ok(
        &a,
        &[
            "message",
            "send",
            "hello",
            "--from",
            "n2",
            "--to",
            "/node/n1/secure/api/service/uppercase",
        ],
    );
    assert_eq!(hi, "HELLO");

    // Another home: refused at the handshake.
    ok(&b, &["node", "create", "m"]);
    let n1 = ok(&a, &["node", "show", "n1", "--output", "json"]);
    let port = field(&n1, "tcp_listen")
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
    let out = airlock(&b, &args);
    assert!(
        !out.status.success(),
        "a stranger's message was answered: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Named by a policy on n1: admitted.
    let m = ok(&b, &["node", "show", "m", "--output", "json"]);
    let expr = format!("(= subject.identifier \"{}\")", field(&m, "identifier"));
    ok(
        &a,
        &[
            "policy",
            "create",
            "--at",
            "n1",
            "--resource-type",
            "tcp-outlet",
            "--expression",
            &expr,
        ],
    );
    assert_eq!(ok(&b, &args), "HELLO");
}
