//! Pre-authentication limits at the TCP listener: connections and handshakes in flight per
//! source address, and the outbox of a peer that never reads.

mod common;

use airlock_channel::{Handshake, RekeyPolicy, TrustPolicy};
use airlock_node::channel::MAX_PENDING_HANDSHAKES_PER_SOURCE;
use airlock_node::transport::{MAX_CONNECTIONS_PER_SOURCE, MAX_OUTBOX_BYTES};
use airlock_wire::transport_frame::{self, FrameDecoder, InboundFrame, PREAMBLE};
use airlock_wire::{Address, Packet, Route};
use bytes::BytesMut;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_address_gets_a_bounded_number_of_connections() {
    let n = common::node("n").await;
    let mut open = Vec::new();
    for _ in 0..MAX_CONNECTIONS_PER_SOURCE {
        let mut s = TcpStream::connect(n.listen_addr()).await.unwrap();
        s.write_all(&PREAMBLE).await.unwrap();
        open.push(s);
    }
    // The next one from the same address is closed at once (not after the handshake timeout).
    let mut extra = TcpStream::connect(n.listen_addr()).await.unwrap();
    let mut buf = [0u8; 8];
    let r = tokio::time::timeout(Duration::from_secs(3), extra.read(&mut buf))
        .await
        .expect("the extra connection is closed at once");
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    // The first ones are still served (each got the node's preamble).
    let mut first = [0u8; 4];
    open[0].read_exact(&mut first).await.unwrap();
    assert_eq!(first, PREAMBLE);
    // Closing one frees a slot.
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = TcpStream::connect(n.listen_addr()).await.unwrap();
        let mut b = [0u8; 4];
        if let Ok(Ok(4)) =
            tokio::time::timeout(Duration::from_millis(500), s.read_exact(&mut b)).await
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no slot freed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_address_gets_a_bounded_number_of_handshakes_in_flight() {
    let n = common::node("n").await;
    let stranger = common::node("stranger").await;
    let mut s = TcpStream::connect(n.listen_addr()).await.unwrap();
    s.write_all(&PREAMBLE).await.unwrap();
    let total = MAX_PENDING_HANDSHAKES_PER_SOURCE + 4;
    for i in 0..total {
        let (_hs, m1) = Handshake::initiate(
            &stranger.local_identity(),
            TrustPolicy::Everyone,
            RekeyPolicy::default(),
        )
        .unwrap();
        let mut p = Packet::copy_from(&m1);
        transport_frame::encode_message(
            &mut p,
            &Route::single(Address::new("api").unwrap()),
            &Route::single(Address::new(format!("i{i}")).unwrap()),
        );
        s.write_all(p.data()).await.unwrap();
    }
    // Count the handshake answers (message 2) until the node stops answering.
    let mut buf = BytesMut::new();
    let mut dec = FrameDecoder::new();
    let mut answers = 0;
    let mut chunk = [0u8; 65536];
    loop {
        while let Ok(Some(f)) = dec.decode(&mut buf) {
            if matches!(f, InboundFrame::Message { .. }) {
                answers += 1;
            }
        }
        let wait = if answers >= MAX_PENDING_HANDSHAKES_PER_SOURCE {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(5)
        };
        match tokio::time::timeout(wait, s.read(&mut chunk)).await {
            Ok(Ok(k)) if k > 0 => buf.extend_from_slice(&chunk[..k]),
            _ => break,
        }
    }
    assert_eq!(answers, MAX_PENDING_HANDSHAKES_PER_SOURCE);
    assert_eq!(n.pending_handshakes(), MAX_PENDING_HANDSHAKES_PER_SOURCE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_reads_is_closed_before_the_outbox_grows_without_bound() {
    let n = common::node("n").await;
    // A "peer" that accepts, says the preamble (so it is not closed for silence) and never
    // reads.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(&PREAMBLE).await.unwrap();
        let _ = rx.await;
        drop(s);
    });
    let conn = airlock_node::transport::connect(&n, &target.to_string())
        .await
        .unwrap();
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    let mut closed_tx = Some(closed_tx);
    n.on_close(
        &conn,
        Box::new(move || {
            if let Some(t) = closed_tx.take() {
                let _ = t.send(());
            }
        }),
    )
    .unwrap();
    let chunk = 1024 * 1024;
    for _ in 0..(MAX_OUTBOX_BYTES / chunk + 64) {
        n.dispatch(airlock_node::Message::new(
            Route::new(vec![conn.clone(), Address::new("x").unwrap()]),
            Route::empty(),
            Packet::copy_from(&vec![7u8; chunk]),
        ));
    }
    tokio::time::timeout(Duration::from_secs(5), closed_rx)
        .await
        .expect("the connection to a peer that never reads is closed")
        .unwrap();
    let _ = tx.send(());
}
