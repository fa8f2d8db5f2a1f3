//! `tcp-inlet create` tells the truth: refused by the outlet's policy, it exits non-zero with
//! the reason and leaves no inlet (not on the node, not recorded to be restored); with
//! `--wait=…` and an outlet nobody answers for, it exits non-zero saying the inlet keeps trying.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Home(PathBuf);

impl Drop for Home {
    fn drop(&mut self) {
        let _ = airlock(&self.0, &["node", "delete", "--all", "--yes"]);
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

fn inlets(home: &Path) -> Vec<serde_json::Value> {
    let list = ok(
        home,
        &["--output", "json", "tcp-inlet", "list", "--at", "n2"],
    );
    serde_json::from_str::<Vec<serde_json::Value>>(&list).unwrap()
}

#[test]
fn a_refused_inlet_is_an_error_and_is_not_kept() {
    let home = Home(std::env::temp_dir().join(format!(
        "airlock-refused-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )));
    let h = home.0.as_path();
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = target.local_addr().unwrap().to_string();
    ok(h, &["node", "create", "n1"]);
    ok(h, &["node", "create", "n2"]);
    ok(h, &["tcp-outlet", "create", "--at", "n1", "--to", &target]);
    ok(
        h,
        &[
            "policy",
            "create",
            "--at",
            "n1",
            "--resource-type",
            "tcp-outlet",
            "--expression",
            "false",
        ],
    );

    let out = airlock(
        h,
        &[
            "tcp-inlet",
            "create",
            "--at",
            "n2",
            "--alias",
            "db",
            "--to",
            "/node/n1/secure/api/service/outlet",
            "--wait",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a refused inlet was created: {err}");
    assert!(err.contains("refused"), "the reason is on stderr: {err}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(inlets(h).is_empty(), "the node kept it: {:?}", inlets(h));
    // Not recorded either: a restarted node does not bring it back.
    ok(h, &["node", "stop", "n2"]);
    ok(h, &["node", "start", "n2"]);
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
    let out = airlock(h, &waiting);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "not up, yet exit 0: {err}");
    assert!(
        err.contains("keeps trying") && err.contains("tcp-inlet show later"),
        "{err}"
    );
    let kept = inlets(h);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["status"], "down");
    assert_eq!(kept[0]["last_error_kind"], "transient");
    // Without --wait, the same situation is a success that says it keeps trying.
    ok(h, &["tcp-inlet", "delete", "later", "--at", "n2"]);
    let out = airlock(h, &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("keeps trying"), "{err}");
}

fn relays(home: &Path) -> Vec<serde_json::Value> {
    let list = ok(home, &["--output", "json", "relay", "list", "--to", "n2"]);
    serde_json::from_str::<Vec<serde_json::Value>>(&list).unwrap()
}

#[test]
fn a_refused_relay_is_an_error_and_is_not_kept() {
    let home = Home(std::env::temp_dir().join(format!(
        "airlock-refused-relay-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )));
    let h = home.0.as_path();
    ok(h, &["node", "create", "n1"]);
    ok(h, &["node", "create", "n2"]);
    // n1 belongs to no project and has no relay policy: it accepts no relays.
    let create = ["relay", "create", "edge", "--to", "n2", "--at", "/node/n1"];
    let out = airlock(h, &create);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a refused relay was created: {err}");
    assert!(
        err.contains("accepts no relays"),
        "the reason is on stderr: {err}"
    );
    assert!(relays(h).is_empty(), "the node kept it: {:?}", relays(h));
    ok(h, &["node", "stop", "n2"]);
    ok(h, &["node", "start", "n2"]);
    assert!(relays(h).is_empty(), "restored: {:?}", relays(h));

    // Once n1 allows relays, the same create (waiting) succeeds.
    ok(
        h,
        &[
            "policy",
            "create",
            "--at",
            "n1",
            "--resource-type",
            "relay",
            "--expression",
            "true",
        ],
    );
    let mut waiting = create.to_vec();
    waiting.push("--wait=20s");
    ok(h, &waiting);
    let kept = relays(h);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["status"], "up");
}
