//! `project list` / `project show` tell a revoked member from a member: they show the last
//! credential refresh outcome the member's node recorded, not just that an enrollment happened.

mod common;

use airlock_daemon::home::{Home, Membership};
use airlock_project::refresh::RefreshOutcome;
use common::Home as TempHome;

/// Runs `airlock ARGS` in `home`, which must succeed; returns its stdout.
fn airlock(home: &TempHome, args: &[&str]) -> String {
    home.ok(args).stdout
}

#[test]
fn project_list_shows_the_recorded_membership() {
    let home = TempHome::new("membership");
    airlock(&home, &["identity", "create", "alice"]);
    // The only test in this binary: the process environment is ours.
    std::env::set_var("AIRLOCK_HOME", home.path());
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
