//! The same behaviour checked on both backends. PostgreSQL tests run when
//! `AIRLOCK_TEST_POSTGRES` names a database (tests/scenarios/project_postgres.sh sets it); each
//! test then uses its own schema so runs do not see each other.

use super::*;
use std::sync::{Arc, Barrier};

fn spec(n: u32, expires_at: u64) -> TicketSpec {
    TicketSpec {
        usage_count: n,
        expires_at,
        attributes: [("mongodb-inlet".to_string(), "true".to_string())].into(),
        relay: None,
        enroller: false,
    }
}

/// A PostgreSQL URL whose connections use a fresh schema `name`, or None when not configured.
fn pg_url(name: &str) -> Option<String> {
    let base = std::env::var("AIRLOCK_TEST_POSTGRES").ok()?;
    let mut admin = ::postgres::Client::connect(&base, ::postgres::NoTls).expect("test database");
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name};"
        ))
        .expect("schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-csearch_path%3D{name}"))
}

fn check_redeem_rules(s: &AuthorityStore) {
    let h = [1u8; 32];
    s.create_ticket(&h, &spec(1, 1000), "Iadmin", 0).unwrap();
    assert_eq!(
        s.redeem(&[2u8; 32], "Ia", 10).unwrap(),
        Err(RedeemError::Unknown)
    );
    let m = s.redeem(&h, "Ia", 10).unwrap().unwrap();
    assert_eq!(m.attributes["mongodb-inlet"], "true");
    assert_eq!(s.redeem(&h, "Ib", 10).unwrap(), Err(RedeemError::UsedUp));
    s.create_ticket(&[3u8; 32], &spec(5, 100), "Iadmin", 0)
        .unwrap();
    assert_eq!(
        s.redeem(&[3u8; 32], "Ic", 101).unwrap(),
        Err(RedeemError::Expired)
    );
    assert_eq!(s.members().unwrap().len(), 1);
    assert_eq!(s.member("Ia").unwrap().unwrap(), m);
    assert!(s.delete_member("Ia").unwrap());
    assert!(!s.delete_member("Ia").unwrap());
    assert!(s.member("Ia").unwrap().is_none());
    assert_eq!(s.revoked().unwrap(), vec!["Ia".to_string()]);
    // Re-admitting lifts the revocation.
    s.put_member(&Member { admin: true, ..m }).unwrap();
    assert!(s.revoked().unwrap().is_empty());
    assert!(s.member("Ia").unwrap().unwrap().admin);
}

fn check_claim(s: &AuthorityStore) {
    assert!(s.project_keys().unwrap().is_none());
    let first = ProjectKeys {
        name: "p".into(),
        project_identity: vec![1; 40],
        authority_identity: vec![2; 40],
    };
    assert_eq!(s.claim_project(&first).unwrap(), first);
    let second = ProjectKeys {
        name: "q".into(),
        project_identity: vec![3; 40],
        authority_identity: vec![4; 40],
    };
    // The database keeps the project it holds.
    assert_eq!(s.claim_project(&second).unwrap(), first);
    assert_eq!(s.project_keys().unwrap(), Some(first));
}

/// 50 stores (separate connections, as separate project nodes would have) redeem one one-use
/// ticket at once: exactly one member.
fn check_concurrent_redemption(open: impl Fn() -> AuthorityStore + Send + Sync + 'static) {
    let open = Arc::new(open);
    let s = open();
    let h = [9u8; 32];
    s.create_ticket(&h, &spec(1, u64::MAX / 4), "Iadmin", 0)
        .unwrap();
    let barrier = Arc::new(Barrier::new(50));
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let (open, barrier) = (open.clone(), barrier.clone());
            std::thread::spawn(move || {
                let s = open();
                barrier.wait();
                s.redeem(&h, &format!("I{i}"), 10).unwrap().is_ok()
            })
        })
        .collect();
    let admitted = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(admitted, 1);
    assert_eq!(s.members().unwrap().len(), 1);
}

#[test]
fn sqlite_redeem_rules() {
    check_redeem_rules(&AuthorityStore::in_memory().unwrap());
}

#[test]
fn sqlite_claim_project() {
    check_claim(&AuthorityStore::in_memory().unwrap());
}

#[test]
fn sqlite_fifty_concurrent_redemptions_admit_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authority.sqlite");
    check_concurrent_redemption(move || AuthorityStore::open(&path).unwrap());
}

#[test]
fn postgres_redeem_rules() {
    let Some(url) = pg_url("t_rules") else {
        eprintln!("skipped: set AIRLOCK_TEST_POSTGRES=postgres://… to run");
        return;
    };
    check_redeem_rules(&AuthorityStore::postgres(&url).unwrap());
}

#[test]
fn postgres_claim_project() {
    let Some(url) = pg_url("t_claim") else {
        eprintln!("skipped: set AIRLOCK_TEST_POSTGRES=postgres://… to run");
        return;
    };
    check_claim(&AuthorityStore::postgres(&url).unwrap());
}

#[test]
fn postgres_fifty_concurrent_redemptions_admit_exactly_one() {
    let Some(url) = pg_url("t_race") else {
        eprintln!("skipped: set AIRLOCK_TEST_POSTGRES=postgres://… to run");
        return;
    };
    check_concurrent_redemption(move || AuthorityStore::postgres(&url).unwrap());
}

#[test]
fn unreachable_database_is_a_clear_error() {
    // Port 9 on loopback: nothing listens there.
    let e = AuthorityStore::postgres("postgres://u:secret@127.0.0.1:9/db")
        .err()
        .expect("no server");
    let text = format!("{e:#}");
    assert!(text.contains("cannot connect to the database"), "{text}");
    assert!(!text.contains("secret"), "password leaked: {text}");
}

#[test]
fn urls_are_redacted() {
    assert_eq!(
        redact_url("postgres://u:pw@h:5432/db"),
        "postgres://u:***@h:5432/db"
    );
    assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    assert_eq!(
        redact_url("postgres://u@h/db?sslmode=disable&password=pw"),
        "postgres://u@h/db?sslmode=disable&password=***"
    );
    assert!(is_postgres_url("postgresql://h/db"));
    assert!(!is_postgres_url("sqlite:/x"));
}
