//! Helpers for the relay tests: relay hosts (a plain node with a relay service, or a project
//! node whose authority store binds relay names), registering a relay, project membership, and
//! bounded waits for what a relay host refused or dropped.

use super::node;
use airlock_identity::IdentitySecret;
use airlock_node::{unix_now, Node, ProjectRoute};
use airlock_project::api::{AuthorityClient, AuthorityRequest, RequestError};
use airlock_project::authority::{Authority, AuthorityConfig};
use airlock_project::relay::{RelayAccess, RelayKeeper, RelayService};
use airlock_project::store::{AuthorityStore, Member};
use std::sync::Arc;
use std::time::Duration;

/// A relay host trusting `authority`'s credentials.
pub async fn hub(authority: &IdentitySecret, access: RelayAccess) -> (Node, String) {
    let hub = node("hub").await;
    hub.set_trusted_authorities(vec![authority.history().verify(unix_now()).unwrap()]);
    RelayService::new(access).register(&hub);
    let at = format!("/ip4/127.0.0.1/tcp/{}", hub.listen_addr().port());
    (hub, at)
}

/// Registers relay `name` at `at` for `n`; the registration error as text if refused.
pub async fn register(n: &Node, at: &str, name: &str) -> Result<(), String> {
    let (keeper, first) = RelayKeeper::start(n, at, name, vec![], Duration::from_secs(10)).await;
    if first.is_err() {
        keeper.stop(n);
    }
    first.map_err(|e| airlock_project::error_text(&e))
}

/// Waits (bounded) until `node` has refused at least `n` deliveries; returns the count.
pub async fn refused_at_least(node: &Node, n: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = node.refused_deliveries();
        if got >= n || tokio::time::Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits (bounded) until `hub` holds no registration of `name`.
pub async fn dropped(hub_relays: &RelayService, name: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while hub_relays.list().iter().any(|(n, _)| n == name) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "registration of {name} not dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A project node on the SQLite store at `path`: the authority of `authority` (trusted for
/// credentials) and a relay service binding names in the same store. Returns the node, its
/// relay service and the route to it.
pub async fn project_node(
    authority: &IdentitySecret,
    path: &std::path::Path,
) -> (Node, RelayService, String) {
    let store = Arc::new(AuthorityStore::open(path).unwrap());
    let hub = node("project").await;
    hub.set_trusted_authorities(vec![authority.history().verify(unix_now()).unwrap()]);
    Authority::new(AuthorityConfig {
        project: "p".into(),
        identity: authority.clone(),
        credential_ttl: 600,
        store: store.clone(),
    })
    .register(&hub);
    let relays = RelayService::with_bindings(RelayAccess::ProjectPermission, store);
    relays.clone().register(&hub);
    let at = format!("/ip4/127.0.0.1/tcp/{}", hub.listen_addr().port());
    (hub, relays, at)
}

/// Records `n` as a member of the project in the store at `path` (relay permission `relay`,
/// administrator if `admin`) and points it at the project node `hub`.
pub async fn admit(path: &std::path::Path, n: &Node, relay: Option<&str>, admin: bool, hub: &Node) {
    AuthorityStore::open(path)
        .unwrap()
        .put_member(&Member {
            identifier: n.identifier().to_string(),
            attributes: Default::default(),
            relay: relay.map(str::to_string),
            enroller: admin,
            admin,
            added_at: unix_now(),
        })
        .await
        .unwrap();
    point_at(n, hub);
}

/// Makes `/project/p` on `n` lead to `hub`.
pub fn point_at(n: &Node, hub: &Node) {
    n.set_project(
        "p",
        ProjectRoute {
            route: format!("/ip4/127.0.0.1/tcp/{}", hub.listen_addr().port())
                .parse()
                .unwrap(),
            identifier: hub.identifier(),
        },
    );
}

/// One request to the authority of project `p`, as `n`.
pub async fn ask(n: &Node, req: AuthorityRequest) -> Result<serde_json::Value, RequestError> {
    let client = AuthorityClient::connect(n, "p", Duration::from_secs(10)).await?;
    client.request(&req, Duration::from_secs(10)).await
}
