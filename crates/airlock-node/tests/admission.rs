//! Who a node outside any project admits (docs/protocol.md §5.4): by default only identities
//! it knows — its own, those its known-identities list and `authorized` list name, and those a
//! policy names — never everyone.

mod common;

use airlock_channel::TrustPolicy;
use airlock_identity::Identifier;
use airlock_node::{ChannelPeer, Node, NodeConfig, NodeIdentity, ProjectRoute};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Opens a channel from `client` to `host`'s listener; on success returns the client as `host`
/// sees it.
async fn connect(client: &Node, host: &Node) -> Result<Arc<ChannelPeer>, String> {
    let at = common::secure_route(host, "echo");
    airlock_node::resolve::resolve(
        client,
        &at.parse().unwrap(),
        TrustPolicy::Everyone,
        Duration::from_secs(5),
    )
    .await
    .map_err(|e| e.to_string())?;
    // The initiator may complete before the responder refuses message 3; then its channel
    // closes when the abort notice arrives.
    for _ in 0..250 {
        if let Some(p) = host
            .channels()
            .into_iter()
            .filter_map(|c| c.peer().cloned())
            .find(|p| p.identifier == client.identifier())
        {
            return Ok(p);
        }
        if client.channels().iter().all(|c| c.is_closed()) {
            return Err("refused: the host closed the channel".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err("no channel on the host".into())
}

/// A stand-alone node with the default admission, knowing what `known` holds.
async fn strict(name: &str, identity: NodeIdentity, known: Arc<Mutex<Vec<Identifier>>>) -> Node {
    Node::start(NodeConfig {
        identity,
        trust_unknown: false,
        known_identities: Some(Arc::new(move || known.lock().unwrap().clone())),
        ..NodeConfig::loopback(name)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_outside_any_project_admits_only_identities_it_knows() {
    let friend = common::node("friend").await;
    let stranger = common::node("stranger").await;
    let known = Arc::new(Mutex::new(vec![friend.identifier()]));
    let id = common::identity();
    let host = strict("host", id.clone(), known.clone()).await;

    // Known: a listed identity, and the node's own (two nodes sharing one identity, as in the
    // demo where n1 and n2 share one AIRLOCK_HOME).
    let f = connect(&friend, &host).await.expect("a known identity");
    host.authorize("db", "tcp-outlet", &f).unwrap();
    let twin = common::node_with("twin", id, "127.0.0.1:0".parse().unwrap(), vec![]).await;
    connect(&twin, &host)
        .await
        .expect("the node's own identity");

    // Not known: refused at the handshake, never reaches a service or an outlet.
    let e = connect(&stranger, &host).await.unwrap_err();
    assert!(e.contains("refused"), "{e}");

    // Named by a policy: admitted, and allowed what that policy allows, nothing else.
    let named = format!("(= subject.identifier \"{}\")", stranger.identifier());
    host.set_policy(Some("db"), Some("tcp-outlet"), named.parse().unwrap())
        .unwrap();
    let s = connect(&stranger, &host).await.expect("named by a policy");
    host.authorize("db", "tcp-outlet", &s).unwrap();
    let e = host.authorize("other", "tcp-outlet", &s).unwrap_err();
    assert!(e.contains("not an identity this node knows"), "{e}");
    assert!(host.authorize("db", "tcp-outlet", &f).is_err());
    assert!(host.authorize("other", "tcp-outlet", &f).is_ok());

    // The known list is read again: an identity created later is known within a second.
    let late = common::node("late").await;
    assert!(connect(&late, &host).await.is_err());
    known.lock().unwrap().push(late.identifier());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    connect(&late, &host).await.expect("known now");

    // A node that joins a project accepts its members (credentials and policies decide).
    let member = common::node("member").await;
    host.set_project(
        "p",
        ProjectRoute {
            route: "/ip4/127.0.0.1/tcp/9".parse().unwrap(),
            identifier: friend.identifier(),
        },
    );
    connect(&member, &host).await.expect("in a project");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorized_list_is_exact_and_trust_unknown_opens_up() {
    let friend = common::node("friend").await;
    let stranger = common::node("stranger").await;
    let pinned = common::node_with(
        "pinned",
        common::identity(),
        "127.0.0.1:0".parse().unwrap(),
        vec![stranger.identifier()],
    )
    .await;
    connect(&stranger, &pinned).await.expect("authorized");
    assert!(connect(&friend, &pinned).await.is_err());
    // Tests and demos: trust_unknown admits everyone, and the default allows them.
    let open = common::node("open").await;
    let p = connect(&stranger, &open).await.expect("trust_unknown");
    open.authorize("db", "tcp-outlet", &p).unwrap();
}
