//! A node that is a member of two projects: each project's revocation poll replaces only that
//! project's revoked set, the node checks the union (docs/protocol.md §9.4); and it presents
//! both projects' credentials (§9.7).

mod common;

use airlock_identity::{Identifier, IdentitySecret};
use airlock_node::{unix_now, Node, ProjectRoute};
use airlock_project::authority::{Authority, AuthorityConfig};
use airlock_project::refresh::{spawn_refresher, spawn_revocation_watch, AuthoritySession};
use airlock_project::store::{AuthorityStore, Member};
use common::node;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn member(id: Identifier) -> Member {
    Member {
        identifier: id.to_string(),
        attributes: Default::default(),
        relay: None,
        enroller: false,
        admin: false,
        added_at: unix_now(),
    }
}

/// A project node `name` with an in-memory store; returns the node and the store.
async fn project(name: &str) -> (Node, Arc<AuthorityStore>) {
    let n = node(name).await;
    let store = Arc::new(AuthorityStore::in_memory().unwrap());
    Authority::new(AuthorityConfig {
        project: name.into(),
        identity: IdentitySecret::create(unix_now()),
        credential_ttl: 600,
        store: store.clone(),
    })
    .register(&n);
    (n, store)
}

fn join(m: &Node, name: &str, project: &Node) {
    m.set_project(
        name,
        ProjectRoute {
            route: format!("/ip4/127.0.0.1/tcp/{}", project.listen_addr().port())
                .parse()
                .unwrap(),
            identifier: project.identifier(),
        },
    );
}

async fn until(what: &str, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_projects_poll_does_not_unrevoke_another_projects_member() {
    let (pa, store_a) = project("a").await;
    let (pb, store_b) = project("b").await;
    let m = node("member").await;
    let x = Identifier([0x11; 20]);
    let y = Identifier([0x22; 20]);
    for s in [&store_a, &store_b] {
        s.put_member(&member(m.identifier())).await.unwrap();
    }
    // Project A deleted X; project B deleted Y (and never knew X).
    store_a.put_member(&member(x)).await.unwrap();
    assert!(store_a.delete_member(&x.to_string()).await.unwrap());
    store_b.put_member(&member(y)).await.unwrap();
    assert!(store_b.delete_member(&y.to_string()).await.unwrap());
    join(&m, "a", &pa);
    join(&m, "b", &pb);

    spawn_revocation_watch(AuthoritySession::new(m.clone(), "a".into()));
    until("A's poll revokes X", || m.is_revoked(&x)).await;
    spawn_revocation_watch(AuthoritySession::new(m.clone(), "b".into()));
    until("B's poll revokes Y", || m.is_revoked(&y)).await;
    assert!(
        m.is_revoked(&x),
        "project B's poll (without X) un-revoked the member project A deleted"
    );
    assert_eq!(m.revoked(), [x, y].into_iter().collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_two_projects_presents_both_credentials() {
    let (pa, store_a) = project("a").await;
    let (pb, store_b) = project("b").await;
    let m = node("member").await;
    for s in [&store_a, &store_b] {
        s.put_member(&member(m.identifier())).await.unwrap();
    }
    join(&m, "a", &pa);
    join(&m, "b", &pb);
    let first_a = spawn_refresher(AuthoritySession::new(m.clone(), "a".into()));
    let first_b = spawn_refresher(AuthoritySession::new(m.clone(), "b".into()));
    first_a.await.unwrap();
    first_b.await.unwrap();
    // One credential per project: a peer bound to either project finds its own (§9.7).
    let mut issuers: Vec<_> = m.credential_expiries().into_iter().map(|c| c.0).collect();
    issuers.sort();
    issuers.dedup();
    assert_eq!(issuers.len(), 2, "{issuers:?}");
}

/// The refresher keeps its last outcome per project: a member is `member`; an identity the
/// project refuses (deleted) is `refused` with the project's reason — typed, not read from
/// text — and the hook hears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_outcome_tells_a_member_from_a_refused_one() {
    use airlock_project::refresh::RefreshOutcome;
    use std::sync::Mutex;
    let (pa, store_a) = project("a").await;
    let kept = node("kept").await;
    let gone = node("gone").await;
    for n in [&kept, &gone] {
        store_a.put_member(&member(n.identifier())).await.unwrap();
        join(n, "a", &pa);
    }
    assert!(store_a
        .delete_member(&gone.identifier().to_string())
        .await
        .unwrap());

    let session = AuthoritySession::new(kept.clone(), "a".into());
    spawn_refresher(session.clone()).await.unwrap();
    assert!(
        matches!(session.last_outcome(), Some(RefreshOutcome::Member { .. })),
        "{:?}",
        session.last_outcome()
    );

    let heard: Arc<Mutex<Vec<(String, RefreshOutcome)>>> = Default::default();
    let session = AuthoritySession::new(gone.clone(), "a".into());
    let h = heard.clone();
    session.on_outcome(Arc::new(move |p, o| {
        h.lock().unwrap().push((p.to_string(), o.clone()))
    }));
    let _never = spawn_refresher(session.clone());
    until("the refusal is recorded", || {
        session.last_outcome().is_some()
    })
    .await;
    let Some(RefreshOutcome::Refused { reason, .. }) = session.last_outcome() else {
        panic!("a deleted member is refused: {:?}", session.last_outcome())
    };
    assert!(!reason.is_empty());
    let heard = heard.lock().unwrap().clone();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(heard[0].0, "a");
    assert!(matches!(heard[0].1, RefreshOutcome::Refused { .. }));
}
