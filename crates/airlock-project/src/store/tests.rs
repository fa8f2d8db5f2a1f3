//! The same behaviour checked on both backends. PostgreSQL tests run when
//! `AIRLOCK_TEST_POSTGRES` names a database (tests/scenarios/project_postgres.sh sets it); each
//! test then uses its own schema so runs do not see each other. Without it they fail in CI
//! (`CI=true` or `AIRLOCK_REQUIRE_POSTGRES=1`) and are skipped, with a line on stderr, elsewhere.

use super::*;

#[path = "../../tests/common/postgres_env.rs"]
mod postgres_env;
use std::sync::Arc;
use tokio::sync::Barrier;

/// Runs a test's async body on a multi-threaded runtime (concurrent stores race for real).
/// The tests stay plain `fn`s: tests/scenarios/project_postgres.sh counts `^fn postgres_`.
pub(super) fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn spec(n: u32, expires_at: u64) -> TicketSpec {
    TicketSpec {
        usage_count: n,
        expires_at,
        attributes: [("mongodb-inlet".to_string(), "true".to_string())].into(),
        relay: None,
        enroller: false,
    }
}

/// A plaintext connection to the test database at `url` (set-up statements).
async fn plain_client(url: &str) -> tokio_postgres::Client {
    let (client, io) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("test database");
    tokio::spawn(io);
    client
}

/// A PostgreSQL URL whose connections use a fresh schema `name`, or None when not configured
/// (and not required: see [`postgres_env::postgres_enabled`]).
pub(super) async fn pg_url(name: &str) -> Option<String> {
    let test = format!("PostgreSQL store test (schema {name})");
    if !postgres_env::postgres_enabled(&test, &["AIRLOCK_TEST_POSTGRES"]) {
        return None;
    }
    let base = std::env::var("AIRLOCK_TEST_POSTGRES").ok()?;
    plain_client(&base)
        .await
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name};"
        ))
        .await
        .expect("schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-csearch_path%3D{name}"))
}

/// Records the member "Iadmin" that creates the tests' tickets (tickets whose creator is not a
/// member are refused).
async fn add_admin(s: &AuthorityStore) {
    s.put_member(&Member {
        identifier: "Iadmin".into(),
        attributes: Default::default(),
        relay: Some("*".into()),
        enroller: true,
        admin: true,
        added_at: 0,
    })
    .await
    .unwrap();
}

async fn check_redeem_rules(s: &AuthorityStore) {
    add_admin(s).await;
    let h = [1u8; 32];
    s.create_ticket(&h, &spec(1, 1000), "Iadmin", 0)
        .await
        .unwrap();
    assert_eq!(
        s.redeem(&[2u8; 32], "Ia", 10).await.unwrap(),
        Err(RedeemError::Unknown)
    );
    let m = s.redeem(&h, "Ia", 10).await.unwrap().unwrap();
    assert_eq!(m.attributes["mongodb-inlet"], "true");
    assert_eq!(
        s.redeem(&h, "Ib", 10).await.unwrap(),
        Err(RedeemError::UsedUp)
    );
    s.create_ticket(&[3u8; 32], &spec(5, 100), "Iadmin", 0)
        .await
        .unwrap();
    assert_eq!(
        s.redeem(&[3u8; 32], "Ic", 101).await.unwrap(),
        Err(RedeemError::Expired)
    );
    assert_eq!(s.members().await.unwrap().len(), 2);
    assert_eq!(s.member("Ia").await.unwrap().unwrap(), m);
    assert!(s.delete_member("Ia").await.unwrap());
    assert!(!s.delete_member("Ia").await.unwrap());
    assert!(s.member("Ia").await.unwrap().is_none());
    assert_eq!(s.revoked().await.unwrap(), vec!["Ia".to_string()]);
    // Re-admitting lifts the revocation.
    s.put_member(&Member { admin: true, ..m }).await.unwrap();
    assert!(s.revoked().await.unwrap().is_empty());
    assert!(s.member("Ia").await.unwrap().unwrap().admin);
}

/// Deleting a member makes the tickets it created unusable; members it already admitted stay,
/// and so do other creators' tickets.
async fn check_deleted_creator_tickets(s: &AuthorityStore) {
    add_admin(s).await;
    let enroller = Member {
        identifier: "Ienroller".into(),
        attributes: Default::default(),
        relay: None,
        enroller: true,
        admin: false,
        added_at: 0,
    };
    s.put_member(&enroller).await.unwrap();
    s.create_ticket(&[20u8; 32], &spec(5, 1000), "Ienroller", 0)
        .await
        .unwrap();
    s.create_ticket(&[21u8; 32], &spec(5, 1000), "Iadmin", 0)
        .await
        .unwrap();
    s.redeem(&[20u8; 32], "Ia", 10).await.unwrap().unwrap();
    assert!(s.delete_member("Ienroller").await.unwrap());
    assert_eq!(
        s.redeem(&[20u8; 32], "Ib", 10).await.unwrap(),
        Err(RedeemError::CreatorRemoved)
    );
    assert!(s.member("Ib").await.unwrap().is_none());
    assert!(s.member("Ia").await.unwrap().is_some());
    s.redeem(&[21u8; 32], "Ic", 10).await.unwrap().unwrap();
    // Re-admitting the creator does not revive its old tickets.
    s.put_member(&enroller).await.unwrap();
    assert_eq!(
        s.redeem(&[20u8; 32], "Id", 10).await.unwrap(),
        Err(RedeemError::CreatorRemoved)
    );
}

/// A relay name stays with its first owner until released; deleting the owner releases its
/// names (and only its names).
async fn check_relay_bindings(s: &AuthorityStore) {
    assert!(s.relay_binding("db").await.unwrap().is_none());
    let first = s.bind_relay("db", "Ia").await.unwrap();
    assert_eq!(first.owner, "Ia");
    // Another identity gets the binding that holds, not its own.
    assert_eq!(s.bind_relay("db", "Ib").await.unwrap(), first);
    assert_eq!(s.bind_relay("db", "Ia").await.unwrap(), first);
    assert_eq!(s.relay_binding("db").await.unwrap(), Some(first.clone()));
    s.bind_relay("cache", "Ib").await.unwrap();
    let names: Vec<_> = s
        .relay_bindings()
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.name, b.owner))
        .collect();
    assert_eq!(
        names,
        vec![("cache".into(), "Ib".into()), ("db".into(), "Ia".into())]
    );
    assert_eq!(s.release_relay("db").await.unwrap(), Some(first));
    assert_eq!(s.release_relay("db").await.unwrap(), None);
    assert_eq!(s.bind_relay("db", "Ib").await.unwrap().owner, "Ib");

    // Deleting a member releases the names bound to it.
    s.put_member(&Member {
        identifier: "Ic".into(),
        attributes: Default::default(),
        relay: Some("*".into()),
        enroller: false,
        admin: false,
        added_at: 0,
    })
    .await
    .unwrap();
    s.bind_relay("web", "Ic").await.unwrap();
    s.bind_relay("api", "Ic").await.unwrap();
    assert!(s.delete_member("Ic").await.unwrap());
    assert!(s.relay_binding("web").await.unwrap().is_none());
    assert!(s.relay_binding("api").await.unwrap().is_none());
    assert_eq!(s.relay_binding("cache").await.unwrap().unwrap().owner, "Ib");
}

async fn check_claim(s: &AuthorityStore) {
    assert!(s.project_keys().await.unwrap().is_none());
    let first = ProjectKeys {
        name: "p".into(),
        project_identity: vec![1; 40],
        authority_identity: vec![2; 40],
    };
    assert_eq!(s.claim_project(&first).await.unwrap(), first);
    let second = ProjectKeys {
        name: "q".into(),
        project_identity: vec![3; 40],
        authority_identity: vec![4; 40],
    };
    // The database keeps the project it holds.
    assert_eq!(s.claim_project(&second).await.unwrap(), first);
    assert_eq!(s.project_keys().await.unwrap(), Some(first));
}

/// 50 stores (separate connections, as separate project nodes would have) redeem one one-use
/// ticket at once: exactly one member.
/// Each store is opened before the race (a constructor that checks the database blocks).
async fn check_concurrent_redemption(open: impl Fn() -> AuthorityStore) {
    let s = open();
    add_admin(&s).await;
    let h = [9u8; 32];
    s.create_ticket(&h, &spec(1, u64::MAX / 4), "Iadmin", 0)
        .await
        .unwrap();
    let barrier = Arc::new(Barrier::new(50));
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let (s, barrier) = (open(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                s.redeem(&h, &format!("I{i}"), 10).await.unwrap().is_ok()
            })
        })
        .collect();
    let mut admitted = 0;
    for h in handles {
        admitted += usize::from(h.await.unwrap());
    }
    assert_eq!(admitted, 1);
    assert_eq!(s.members().await.unwrap().len(), 2);
}

#[test]
fn sqlite_redeem_rules() {
    run(async {
        check_redeem_rules(&AuthorityStore::in_memory().unwrap()).await;
    })
}

#[test]
fn sqlite_deleting_a_member_invalidates_its_tickets() {
    run(async {
        check_deleted_creator_tickets(&AuthorityStore::in_memory().unwrap()).await;
    })
}

/// The tickets table as the first release created it (no `invalidated_at`), with a ticket of a
/// current member and one of a member deleted before the upgrade.
const OLD_TICKETS: &str = "
CREATE TABLE {p}members (identifier TEXT PRIMARY KEY, attributes TEXT NOT NULL, relay TEXT,
    enroller {b} NOT NULL DEFAULT {f}, admin {b} NOT NULL DEFAULT {f}, added_at BIGINT NOT NULL);
CREATE TABLE {p}tickets (secret_hash {blob} PRIMARY KEY, remaining BIGINT NOT NULL,
    expires_at BIGINT NOT NULL, attributes TEXT NOT NULL, relay TEXT,
    enroller {b} NOT NULL DEFAULT {f}, created_by TEXT NOT NULL, created_at BIGINT NOT NULL);
INSERT INTO {p}members VALUES ('Iadmin', '{}', '*', {t}, {t}, 0);
INSERT INTO {p}tickets VALUES ({h1}, 3, 4000000000, '{}', NULL, {f}, 'Iadmin', 0);
INSERT INTO {p}tickets VALUES ({h2}, 3, 4000000000, '{}', NULL, {f}, 'Igone', 0);";

/// An upgraded database keeps working: opening it (twice) adds what is missing, old tickets of
/// members still redeem, and those of members deleted before the upgrade do not.
async fn check_upgraded(open: impl Fn() -> AuthorityStore) {
    let _ = open();
    let s = open();
    assert_eq!(
        s.redeem(&[0x11; 32], "Ia", 10)
            .await
            .unwrap()
            .unwrap()
            .identifier,
        "Ia"
    );
    assert_eq!(
        s.redeem(&[0x22; 32], "Ib", 10).await.unwrap(),
        Err(RedeemError::CreatorRemoved)
    );
    // The relay bindings table exists on the upgraded database.
    assert_eq!(s.bind_relay("db", "Iadmin").await.unwrap().owner, "Iadmin");
    assert!(s.delete_member("Iadmin").await.unwrap());
    assert_eq!(
        s.redeem(&[0x11; 32], "Ic", 10).await.unwrap(),
        Err(RedeemError::CreatorRemoved)
    );
    assert!(s.relay_binding("db").await.unwrap().is_none());
}

fn old_tickets(prefix: &str, sqlite: bool) -> String {
    let (b, t, f, blob) = if sqlite {
        ("INTEGER", "1", "0", "BLOB")
    } else {
        ("BOOLEAN", "TRUE", "FALSE", "BYTEA")
    };
    let (h1, h2) = if sqlite {
        (
            format!("X'{}'", "11".repeat(32)),
            format!("X'{}'", "22".repeat(32)),
        )
    } else {
        (
            format!("'\\x{}'::bytea", "11".repeat(32)),
            format!("'\\x{}'::bytea", "22".repeat(32)),
        )
    };
    OLD_TICKETS
        .replace("{p}", prefix)
        .replace("{blob}", blob)
        .replace("{b}", b)
        .replace("{t}", t)
        .replace("{f}", f)
        .replace("{h1}", &h1)
        .replace("{h2}", &h2)
}

#[test]
fn sqlite_upgrades_an_old_database() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authority.sqlite");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(&old_tickets("", true))
            .unwrap();
        check_upgraded(|| AuthorityStore::open(&path).unwrap()).await;
    })
}

#[test]
fn postgres_upgrades_an_old_database() {
    run(async {
        let Some(url) = pg_url("t_upgrade").await else {
            return;
        };
        plain_client(&url)
            .await
            .batch_execute(&old_tickets("airlock_", false))
            .await
            .unwrap();
        check_upgraded(|| AuthorityStore::postgres(&url).unwrap()).await;
    })
}

#[test]
fn sqlite_relay_bindings() {
    run(async {
        check_relay_bindings(&AuthorityStore::in_memory().unwrap()).await;
    })
}

/// Bindings outlive the process: a store opened again on the same file still holds them.
#[test]
fn sqlite_relay_bindings_survive_a_restart() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authority.sqlite");
        AuthorityStore::open(&path)
            .unwrap()
            .bind_relay("db", "Ia")
            .await
            .unwrap();
        let s = AuthorityStore::open(&path).unwrap();
        assert_eq!(s.bind_relay("db", "Ib").await.unwrap().owner, "Ia");
    })
}

#[test]
fn postgres_relay_bindings() {
    run(async {
        let Some(url) = pg_url("t_relay_bindings").await else {
            return;
        };
        check_relay_bindings(&AuthorityStore::postgres(&url).unwrap()).await;
        // A second connection (another project node, or a restart) sees the same bindings.
        let other = AuthorityStore::postgres(&url).unwrap();
        assert_eq!(other.bind_relay("db", "Ix").await.unwrap().owner, "Ib");
    })
}

/// Concurrent first registrations of one name from many project nodes: one owner.
async fn check_concurrent_binding(open: impl Fn() -> AuthorityStore) {
    // Created once first, as a project node would have (creating a file from 20 threads at
    // once is not what is tested).
    drop(open());
    let barrier = Arc::new(Barrier::new(20));
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let (s, barrier) = (open(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                s.bind_relay("race", &format!("I{i}")).await.unwrap().owner
            })
        })
        .collect();
    let mut owners = std::collections::HashSet::new();
    for h in handles {
        owners.insert(h.await.unwrap());
    }
    assert_eq!(owners.len(), 1, "{owners:?}");
}

#[test]
fn sqlite_concurrent_bindings_have_one_owner() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authority.sqlite");
        check_concurrent_binding(move || AuthorityStore::open(&path).unwrap()).await;
    })
}

#[test]
fn postgres_concurrent_bindings_have_one_owner() {
    run(async {
        let Some(url) = pg_url("t_relay_race").await else {
            return;
        };
        check_concurrent_binding(move || AuthorityStore::postgres(&url).unwrap()).await;
    })
}

#[test]
fn sqlite_claim_project() {
    run(async {
        check_claim(&AuthorityStore::in_memory().unwrap()).await;
    })
}

#[test]
fn sqlite_fifty_concurrent_redemptions_admit_exactly_one() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authority.sqlite");
        check_concurrent_redemption(move || AuthorityStore::open(&path).unwrap()).await;
    })
}

#[test]
fn postgres_redeem_rules() {
    run(async {
        let Some(url) = pg_url("t_rules").await else {
            return;
        };
        check_redeem_rules(&AuthorityStore::postgres(&url).unwrap()).await;
    })
}

#[test]
fn postgres_deleting_a_member_invalidates_its_tickets() {
    run(async {
        let Some(url) = pg_url("t_creator").await else {
            return;
        };
        check_deleted_creator_tickets(&AuthorityStore::postgres(&url).unwrap()).await;
    })
}

#[test]
fn postgres_claim_project() {
    run(async {
        let Some(url) = pg_url("t_claim").await else {
            return;
        };
        check_claim(&AuthorityStore::postgres(&url).unwrap()).await;
    })
}

#[test]
fn postgres_fifty_concurrent_redemptions_admit_exactly_one() {
    run(async {
        let Some(url) = pg_url("t_race").await else {
            return;
        };
        check_concurrent_redemption(move || AuthorityStore::postgres(&url).unwrap()).await;
    })
}

#[test]
fn unreachable_database_is_a_clear_error() {
    run(async {
        // Port 9 on loopback: nothing listens there.
        let e = AuthorityStore::postgres("postgres://u:secret@127.0.0.1:9/db")
            .err()
            .expect("no server");
        let text = format!("{e:#}");
        assert!(text.contains("cannot connect to the database"), "{text}");
        assert!(!text.contains("secret"), "password leaked: {text}");
    })
}

#[test]
fn urls_are_redacted() {
    run(async {
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
    })
}
