//! Helpers shared by the integration tests of this crate.

use airlock_identity::{IdentitySecret, PurposeKeySecret};
use airlock_node::{unix_now, Node, NodeConfig, NodeIdentity};

/// A node with a fresh identity listening on an ephemeral loopback port.
pub async fn node(name: &str) -> Node {
    let now = unix_now();
    let secret = IdentitySecret::create(now);
    let purpose = PurposeKeySecret::create(&secret, now, 3600);
    Node::start(NodeConfig {
        name: name.into(),
        identity: NodeIdentity { secret, purpose },
        tcp_listen: "127.0.0.1:0".parse().unwrap(),
        authorized: vec![],
        rekey: Default::default(),
        purpose_key_store: None,
    })
    .await
    .unwrap()
}
