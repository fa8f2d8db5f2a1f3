//! Shared helpers for node integration tests: in-process nodes on loopback and small TCP servers.

#![allow(dead_code)]

use airlock_identity::IdentitySecret;
use airlock_node::{unix_now, Message, Node, NodeConfig, NodeIdentity, Worker};
use airlock_wire::{Address, Packet, Route};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A fresh identity.
pub fn identity() -> NodeIdentity {
    NodeIdentity::generate(3600)
}

/// Starts a node on a free loopback port.
pub async fn node(name: &str) -> Node {
    node_with(name, identity(), "127.0.0.1:0".parse().unwrap(), vec![]).await
}

/// Starts a node with the given identity, address and authorized peers.
pub async fn node_with(
    name: &str,
    identity: NodeIdentity,
    listen: SocketAddr,
    authorized: Vec<airlock_identity::Identifier>,
) -> Node {
    Node::start(NodeConfig {
        name: name.into(),
        identity,
        tcp_listen: listen,
        authorized,
        trust_unknown: true,
        known_identities: None,
        rekey: Default::default(),
        purpose_key_store: None,
    })
    .await
    .expect("node starts")
}

/// Route text to a node's secure listener and a service.
pub fn secure_route(n: &Node, service: &str) -> String {
    let a = n.listen_addr();
    format!(
        "/ip4/{}/tcp/{}/secure/api/service/{service}",
        a.ip(),
        a.port()
    )
}

/// A TCP echo server; returns its address.
pub async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

/// A server that sends `len` deterministic pseudo-random bytes to each client, then closes.
pub async fn source_server(len: usize) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut left = len;
                let mut seed = 0x1234_5678_9abc_def0u64;
                let mut buf = vec![0u8; 256 * 1024];
                while left > 0 {
                    let n = left.min(buf.len());
                    fill(&mut buf[..n], &mut seed);
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                }
                let _ = s.shutdown().await;
                let mut sink = [0u8; 16];
                let _ = s.read(&mut sink).await;
            });
        }
    });
    addr
}

/// Fills `buf` from a xorshift generator.
pub fn fill(buf: &mut [u8], seed: &mut u64) {
    for chunk in buf.chunks_mut(8) {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let b = seed.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
}

/// A worker that hands the first message it gets to a oneshot.
pub struct Reply(pub Mutex<Option<oneshot::Sender<Message>>>);

impl Worker for Reply {
    fn handle(&self, _: &Node, msg: Message) {
        if let Some(tx) = self.0.lock().unwrap().take() {
            let _ = tx.send(msg);
        }
    }
}

/// Sends `body` along `route` and waits (5 s) for one answer.
pub async fn request(node: &Node, route: Route, body: &[u8]) -> Option<Message> {
    let addr = Address::new(format!("reply.{:x}", airlock_node::random_u64())).unwrap();
    let (tx, rx) = oneshot::channel();
    node.router().register(
        addr.clone(),
        airlock_node::Access::reply_via(&route),
        Arc::new(Reply(Mutex::new(Some(tx)))),
    );
    node.dispatch(Message::new(
        route,
        Route::single(addr.clone()),
        Packet::copy_from(body),
    ));
    let r = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .ok()
        .and_then(|r| r.ok());
    node.router().unregister(&addr);
    r
}

/// A credential about `node` with `pairs`, signed by `authority`, valid for an hour.
pub fn credential(authority: &IdentitySecret, node: &Node, pairs: &[(&str, &str)]) -> Vec<u8> {
    let attrs: airlock_authority::Attributes = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    airlock_authority::Credential::issue(authority, node.identifier(), attrs, unix_now(), 3600)
        .unwrap()
        .encode()
}
