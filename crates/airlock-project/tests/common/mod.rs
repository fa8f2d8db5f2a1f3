//! Helpers shared by the integration tests of this crate.

use airlock_node::{Node, NodeConfig};

/// A node with a fresh identity listening on an ephemeral loopback port.
pub async fn node(name: &str) -> Node {
    Node::start(NodeConfig::loopback(name)).await.unwrap()
}
