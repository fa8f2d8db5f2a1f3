//! A credential's issuer binds it (docs/protocol.md §9.7): on a node that trusts the
//! authorities of two projects, a credential from one project never satisfies the other
//! project's policies, default policy or relay permission.

mod common;

use airlock_channel::TrustPolicy;
use airlock_identity::IdentitySecret;
use airlock_node::{unix_now, ChannelPeer, Node, ProjectRoute};
use airlock_project::relay::{RelayAccess, RelayService};
use common::relay::register;
use common::{member, node};
use std::sync::Arc;
use std::time::Duration;

/// `host` trusts both authorities, naming their projects `a` and `b`.
fn trust_both(host: &Node, a: &IdentitySecret, b: &IdentitySecret) {
    let now = unix_now();
    host.set_trusted_authorities(vec![
        a.history().verify(now).unwrap(),
        b.history().verify(now).unwrap(),
    ]);
    host.set_authority_project(a.identifier(), "a");
    host.set_authority_project(b.identifier(), "b");
}

/// Opens a channel from `client` to `host` and returns the client as `host` sees it.
async fn peer_on(host: &Node, client: &Node) -> Arc<ChannelPeer> {
    let at = format!(
        "/ip4/127.0.0.1/tcp/{}/secure/api/service/echo",
        host.listen_addr().port()
    );
    airlock_node::resolve::resolve(
        client,
        &at.parse().unwrap(),
        TrustPolicy::Everyone,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    // The responder opens on message 3, just after the initiator.
    for _ in 0..250 {
        if let Some(p) = host
            .channels()
            .into_iter()
            .filter_map(|c| c.peer().cloned())
            .find(|p| p.identifier == client.identifier())
        {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the client's channel on the host")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_projects_credential_opens_nothing_on_a_project_node() {
    let (a, b) = (
        IdentitySecret::create(unix_now()),
        IdentitySecret::create(unix_now()),
    );
    // The project node of `a`, which (as a member of project `b`) trusts `b` too.
    let host = node("project-a").await;
    trust_both(&host, &a, &b);
    host.set_home_authority(Some(a.identifier()));
    RelayService::new(RelayAccess::ProjectPermission).register(&host);
    let at = format!("/ip4/127.0.0.1/tcp/{}", host.listen_addr().port());

    // Relay permission: `airlock.relay = *` from b's authority does not count here.
    let outsider = member("outsider", &b, &[("airlock.relay", "*"), ("team", "blue")]).await;
    let e = register(&outsider, &at, "db").await.unwrap_err();
    assert!(e.contains("no valid project credential"), "{e}");
    let insider = member("insider", &a, &[("airlock.relay", "*"), ("team", "blue")]).await;
    register(&insider, &at, "db").await.expect("a's member may");

    // Outlet policy and default: b's attributes do not satisfy a's policies.
    let (out, ins) = (
        peer_on(&host, &outsider).await,
        peer_on(&host, &insider).await,
    );
    host.set_policy(
        Some("db"),
        Some("tcp-outlet"),
        "(= subject.team \"blue\")".parse().unwrap(),
    )
    .unwrap();
    let e = host.authorize("db", "tcp-outlet", &out).unwrap_err();
    assert!(e.contains("denied"), "{e}");
    host.authorize("db", "tcp-outlet", &ins).unwrap();
    let e = host.authorize("other", "tcp-outlet", &out).unwrap_err();
    assert!(e.contains("no valid credential from"), "{e}");
    host.authorize("other", "tcp-outlet", &ins).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_two_projects_accepts_only_policies_that_name_the_project() {
    let (a, b) = (
        IdentitySecret::create(unix_now()),
        IdentitySecret::create(unix_now()),
    );
    let both = node("both").await;
    trust_both(&both, &a, &b);
    for (name, authority) in [("a", &a), ("b", &b)] {
        both.set_project(
            name,
            ProjectRoute {
                route: "/ip4/127.0.0.1/tcp/9".parse().unwrap(),
                identifier: authority.identifier(),
            },
        );
    }
    let from_a = member("from-a", &a, &[("team", "blue")]).await;
    let from_b = member("from-b", &b, &[("team", "blue")]).await;
    let (pa, pb) = (peer_on(&both, &from_a).await, peer_on(&both, &from_b).await);
    // Which project's `team` is it? A policy that does not say accepts no credential, and
    // neither does the default.
    both.set_policy(
        Some("db"),
        None,
        "(= subject.team \"blue\")".parse().unwrap(),
    )
    .unwrap();
    for p in [&pa, &pb] {
        let e = both.authorize("db", "tcp-outlet", p).unwrap_err();
        assert!(e.contains("subject.project"), "{e}");
        let e = both.authorize("other", "tcp-outlet", p).unwrap_err();
        assert!(e.contains("subject.project"), "{e}");
    }
    // A policy bound to project a: a's member passes, b's (same attributes) does not.
    both.set_policy(
        Some("db"),
        None,
        "(and (= subject.project \"a\") (= subject.team \"blue\"))"
            .parse()
            .unwrap(),
    )
    .unwrap();
    both.authorize("db", "tcp-outlet", &pa).unwrap();
    assert!(both.authorize("db", "tcp-outlet", &pb).is_err());
    let issuer = format!("(= subject.issuer \"{}\")", b.identifier());
    both.set_policy(Some("db"), None, issuer.parse().unwrap())
        .unwrap();
    both.authorize("db", "tcp-outlet", &pb).unwrap();
    assert!(both.authorize("db", "tcp-outlet", &pa).is_err());
}
