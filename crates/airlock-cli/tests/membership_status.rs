//! `project list` / `project show` tell a revoked member from a member: they show the last
//! credential refresh outcome the member's node recorded, not just that an enrollment happened.

use airlock_daemon::home::{Home, Membership};
use airlock_project::refresh::RefreshOutcome;
use std::path::PathBuf;
use std::process::Command;

struct TempHome(PathBuf);

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn airlock(home: &TempHome, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .env("AIRLOCK_HOME", &home.0)
        .output()
        .expect("runs airlock");
    assert!(
        out.status.success(),
        "airlock {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn project_list_shows_the_recorded_membership() {
    let home = TempHome(std::env::temp_dir().join(format!(
        "airlock-membership-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )));
    airlock(&home, &["identity", "create", "alice"]);
    // The only test in this binary: the process environment is ours.
    std::env::set_var("AIRLOCK_HOME", &home.0);
    let db = Home::open().unwrap();
    db.put_membership(&Membership {
        identity: "alice".into(),
        project: "p".into(),
        route: "/ip4/127.0.0.1/tcp/9".into(),
        project_identity: vec![1],
        authority_identity: vec![2],
    })
    .unwrap();

    // Nothing recorded yet: unknown, not "member".
    let list = airlock(&home, &["project", "list"]);
    assert!(
        list.contains("MEMBERSHIP") && list.contains("unknown"),
        "{list}"
    );

    db.put_membership_status(
        "alice",
        "p",
        &RefreshOutcome::Member {
            at: 1,
            expires_at: 2,
        },
    )
    .unwrap();
    let list = airlock(&home, &["project", "list"]);
    assert!(
        list.contains("member") && !list.contains("revoked"),
        "{list}"
    );

    db.put_membership_status(
        "alice",
        "p",
        &RefreshOutcome::Refused {
            at: 3,
            reason: "revoked project member".into(),
        },
    )
    .unwrap();
    let list = airlock(&home, &["project", "list"]);
    assert!(list.contains("revoked: revoked project member"), "{list}");
    let show: serde_json::Value = serde_json::from_str(&airlock(
        &home,
        &["--output", "json", "project", "show", "p"],
    ))
    .unwrap();
    assert_eq!(show["membership"]["alice"]["status"], "refused");
    assert_eq!(
        show["membership"]["alice"]["reason"],
        "revoked project member"
    );
    // Plain `project show`: key/value lines, no JSON.
    let plain = airlock(&home, &["project", "show", "p"]);
    assert!(
        plain.contains("membership.alice.status:") && !plain.contains('{'),
        "{plain}"
    );
}
