//! Shared helpers for node integration tests: in-process nodes on loopback and small TCP servers.

#![allow(dead_code)]

use airlock_identity::IdentitySecret;
use airlock_node::portal::{InletSpec, OutletSpec};
use airlock_node::{unix_now, Message, Node, NodeConfig, NodeIdentity, Worker};
use airlock_wire::{Address, Packet, Route};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
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
    let attrs: airlock_credential::Attributes = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    airlock_credential::Credential::issue(authority, node.identifier(), attrs, unix_now(), 3600)
        .unwrap()
        .encode()
}

/// B (outlet admitting only C) and C (inlet to it, link up).
pub async fn guarded_portal() -> (Node, Node, SocketAddr) {
    let b = node("b").await;
    let c = node("c").await;
    let echo = echo_server().await;
    b.create_outlet(OutletSpec {
        name: "outlet".into(),
        to: echo.to_string(),
    })
    .unwrap();
    b.set_policy(
        Some("outlet"),
        Some("tcp-outlet"),
        format!("(= subject.identifier \"{}\")", c.identifier())
            .parse()
            .unwrap(),
    )
    .unwrap();
    let inlet = c
        .create_inlet(InletSpec {
            name: "db".into(),
            from: "127.0.0.1:0".parse().unwrap(),
            to: secure_route(&b, "outlet"),
            authorized: vec![b.identifier().to_string()],
        })
        .await
        .unwrap();
    let from: SocketAddr = inlet.from.parse().unwrap();
    // The legitimate path works.
    let mut s = TcpStream::connect(from).await.unwrap();
    s.write_all(b"legit").await.unwrap();
    let mut buf = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut buf))
        .await
        .expect("echo in time")
        .unwrap();
    assert_eq!(&buf, b"legit");
    assert_eq!(b.outlets()[0].links, 1);
    (b, c, from)
}

/// Waits (bounded) until `node` has refused at least `n` deliveries.
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

/// A secure channel from `from` to `to`'s listener, open at both ends (an echo round trip
/// proves the responder end is complete).
pub async fn channel_to(from: &Node, to: &Node) -> Arc<airlock_node::channel::SecureChannel> {
    let ma: airlock_wire::MultiAddr = secure_route(to, "echo").parse().unwrap();
    let r = airlock_node::resolve::resolve(
        from,
        &ma,
        airlock_channel::TrustPolicy::Everyone,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let ch = r.channel.unwrap().0;
    let reply = request(
        from,
        Route::new(vec![ch.address().clone(), Address::new("echo").unwrap()]),
        b"open",
    )
    .await;
    assert_eq!(
        reply.expect("echo through the channel").payload.data(),
        b"open"
    );
    ch
}
