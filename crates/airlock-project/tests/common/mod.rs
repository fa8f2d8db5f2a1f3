//! Helpers shared by the integration tests of this crate; [`relay`] has those of the relay
//! tests.

#![allow(dead_code)] // Each test file uses its own subset.

pub mod relay;

use airlock_identity::IdentitySecret;
use airlock_node::{unix_now, Node, NodeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A node with a fresh identity listening on an ephemeral loopback port.
pub async fn node(name: &str) -> Node {
    Node::start(NodeConfig::loopback(name)).await.unwrap()
}

/// A TCP echo server on an ephemeral loopback port; returns its address.
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

/// A node presenting a credential with `pairs` from `authority`.
pub async fn member(name: &str, authority: &IdentitySecret, pairs: &[(&str, &str)]) -> Node {
    let n = node(name).await;
    let attrs = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let c =
        airlock_credential::Credential::issue(authority, n.identifier(), attrs, unix_now(), 600)
            .unwrap();
    n.set_credentials(vec![c.encode()]);
    n
}

/// A TCP server that answers every connection with `reply` and closes it.
pub async fn reply_server(reply: &'static [u8]) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut b = [0u8; 64];
                let _ = s.read(&mut b).await;
                let _ = s.write_all(reply).await;
            });
        }
    });
    addr
}
