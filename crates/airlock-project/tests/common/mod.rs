//! Helpers shared by the integration tests of this crate.

use airlock_node::{Node, NodeConfig};

/// A node with a fresh identity listening on an ephemeral loopback port.
pub async fn node(name: &str) -> Node {
    Node::start(NodeConfig::loopback(name)).await.unwrap()
}

/// A TCP echo server on an ephemeral loopback port; returns its address.
#[allow(dead_code)]
pub async fn echo_server() -> std::net::SocketAddr {
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = echo.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}
