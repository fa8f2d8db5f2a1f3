//! Flow control, attacked the way an attacker would: a bare TCP client that speaks our frame
//! format and uses channel ids it saw on the wire (docs/protocol.md §2.1).
//!
//! Set-up for both attacks: node B has an outlet whose `tcp-outlet` policy admits only node
//! C's identity; C has an inlet to it (a live channel C→B and a portal link). The attacker
//! knows C's channel address `sc.X.e` on C and B's `sc.Y.e` towards C (both travel in clear
//! frame headers between C and B) and guesses B's connection number K.

mod common;

use common::{guarded_portal, refused_at_least};

use airlock_node::Node;
use airlock_portal::PortalFrame;
use airlock_wire::transport_frame::{self, PREAMBLE};
use airlock_wire::{Address, Packet, Route};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn a(s: &str) -> Address {
    Address::new(s).unwrap()
}

/// B's connection number for the connection from C (the first hop of B's responder).
fn real_k(b: &Node) -> u64 {
    let route = b.channels()[0].info().route;
    let first = route.trim_start_matches('[').split(' ').next().unwrap();
    first.strip_prefix("tcp.").unwrap().parse().unwrap()
}

/// A bare TCP client: preamble, then the given frames.
async fn attacker(target: SocketAddr, frames: &[(Route, Packet)]) -> TcpStream {
    let mut s = TcpStream::connect(target).await.unwrap();
    s.write_all(&PREAMBLE).await.unwrap();
    for (onward, payload) in frames {
        let mut p = Packet::copy_from(payload.data());
        transport_frame::encode_message(&mut p, onward, &Route::empty());
        s.write_all(p.data()).await.unwrap();
    }
    s
}

/// Everything the attacker's socket receives within `window` after the peer's preamble.
async fn answers(s: &mut TcpStream, window: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    if got.starts_with(&PREAMBLE) {
        got.drain(..4);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_tcp_cannot_bounce_through_a_members_connection_into_its_channel() {
    let (b, c, _) = guarded_portal().await;
    let x = c.channels()[0].address().clone(); // C's sc.X.e, seen in B→C frame headers
    let c_refused_before = c.refused_deliveries();
    // Attack 1: [tcp.K, sc.X.e, outlet] for the real K (B's responder records its route,
    // `[tcp.K => sc.….d]`) and a few guesses, each carrying a portal Hello.
    let k = real_k(&b);
    let hello = PortalFrame::Hello { window: 1 << 20 }.encode();
    let frames: Vec<_> = std::iter::once(k)
        .chain(1..=8)
        .map(|k| {
            (
                Route::new(vec![a(&format!("tcp.{k}")), x.clone(), a("outlet")]),
                Packet::copy_from(hello.data()),
            )
        })
        .collect();
    let mut s = attacker(b.listen_addr(), &frames).await;
    // Every frame is refused at B (whatever K named: a connection, or nothing at all).
    let refused = refused_at_least(&b, 1).await;
    assert!(refused >= 1, "B refused nothing");
    let got = answers(&mut s, Duration::from_millis(500)).await;
    assert!(got.is_empty(), "the attacker got an answer: {got:02x?}");
    // Nothing reached C's channel end, and no second portal link exists at B.
    assert_eq!(c.refused_deliveries(), c_refused_before);
    assert_eq!(
        b.outlets()[0].links,
        1,
        "the attacker opened a portal link as C"
    );
    assert_eq!(
        c.channels()[0].rejected(),
        0,
        "C's channel saw foreign traffic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_tcp_cannot_make_a_node_encrypt_into_its_own_channel() {
    let (b, c, _) = guarded_portal().await;
    let y = b.channels()[0].address().clone(); // B's own sc.Y.e towards C
                                               // Attack 2: [sc.Y.e, uppercase]: B would encrypt the attacker's bytes to C, and C's
                                               // uppercase would answer B, which would pass the answer back to the attacker.
    let mut s = attacker(
        b.listen_addr(),
        &[(
            Route::new(vec![y, a("uppercase")]),
            Packet::copy_from(b"speak as b"),
        )],
    )
    .await;
    let got = answers(&mut s, Duration::from_millis(500)).await;
    assert!(
        !got.windows(10).any(|w| w == b"SPEAK AS B"),
        "C answered the attacker's message as if B had sent it"
    );
    assert!(got.is_empty(), "the attacker got an answer: {got:02x?}");
    assert!(refused_at_least(&b, 1).await >= 1, "B refused nothing");
    assert_eq!(c.refused_deliveries(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_peer_cannot_bounce_through_the_nodes_connections_or_channels() {
    // An authenticated but unrelated peer (attacker node M with its own channel to B) tries
    // the same routes from inside its channel.
    let (b, c, _) = guarded_portal().await;
    let m = common::node("m").await;
    let mch = common::channel_to(&m, &b).await;
    let x = c.channels()[0].address().clone();
    let y = b
        .channels()
        .into_iter()
        .find(|ch| ch.peer().map(|p| p.identifier) == Some(c.identifier()))
        .unwrap()
        .address()
        .clone();
    let before = b.refused_deliveries();
    for k in std::iter::once(real_k(&b)).chain(1..=8) {
        mch.send(
            &m,
            &Route::new(vec![a(&format!("tcp.{k}")), x.clone(), a("outlet")]),
            &Route::empty(),
            PortalFrame::Hello { window: 1 << 20 }.encode(),
        )
        .unwrap();
    }
    mch.send(
        &m,
        &Route::new(vec![y, a("uppercase")]),
        &Route::empty(),
        Packet::copy_from(b"speak as b"),
    )
    .unwrap();
    // The echo through the same channel answers after the earlier messages were handled.
    let reply = common::request(
        &m,
        Route::new(vec![mch.address().clone(), a("echo")]),
        b"sync",
    )
    .await;
    assert_eq!(reply.expect("echo").payload.data(), b"sync");
    // C's answer to a forged message would come back through B: give it the time it needs.
    let _ = refused_at_least(&c, 1).await;
    assert_eq!(b.outlets()[0].links, 1, "M opened a portal link as C");
    assert_eq!(c.refused_deliveries(), 0);
    assert!(b.refused_deliveries() > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_route_or_frame_is_dropped_at_the_sender_and_the_connection_survives() {
    let (b, c, inlet) = guarded_portal().await;
    let channel = c.channels()[0].clone();
    // C's connection to B (outbound connections are reused per target).
    let conn = airlock_node::transport::connect(&c, &b.listen_addr().to_string())
        .await
        .unwrap();
    let before = c.unsendable_messages();
    // A 17-hop return route and a frame over the limit, towards B over the shared connection:
    // B would have to close the connection (and every channel on it) on either.
    let ret17 = Route::new((0..17).map(|i| a(&format!("r{i}"))).collect());
    c.dispatch(airlock_node::Message::new(
        Route::new(vec![conn.clone(), a("echo")]),
        ret17,
        Packet::copy_from(b"x"),
    ));
    c.dispatch(airlock_node::Message::new(
        Route::new(vec![conn.clone(), a("echo")]),
        Route::empty(),
        Packet::copy_from(&vec![0u8; transport_frame::MAX_FRAME_LEN]),
    ));
    // Through a channel too: a 17-hop onward route is refused before sealing.
    let long = Route::new((0..17).map(|i| a(&format!("h{i}"))).collect());
    assert!(channel
        .send(&c, &long, &Route::empty(), Packet::copy_from(b"x"))
        .is_err());
    // The same channel and the portal still work.
    let mut s = TcpStream::connect(inlet).await.unwrap();
    s.write_all(b"still").await.unwrap();
    let mut buf = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut buf))
        .await
        .expect("portal still works")
        .unwrap();
    assert_eq!(&buf, b"still");
    assert!(
        !channel.is_closed(),
        "the channel over the connection closed"
    );
    assert_eq!(b.outlets()[0].links, 1);
    assert_eq!(c.unsendable_messages(), before + 3);
}
