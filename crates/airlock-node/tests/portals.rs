//! TCP portals between in-process nodes over real loopback TCP, carrying real sockets.

mod common;

use airlock_node::portal::{InletSpec, OutletSpec};
use airlock_node::Node;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn portal(target: SocketAddr) -> (Node, Node, SocketAddr) {
    let n1 = common::node("n1").await;
    let n2 = common::node("n2").await;
    n1.create_outlet(OutletSpec {
        name: "outlet".into(),
        to: target.to_string(),
    })
    .unwrap();
    let info = n2
        .create_inlet(InletSpec {
            name: "i".into(),
            from: "127.0.0.1:0".parse().unwrap(),
            to: common::secure_route(&n1, "outlet"),
            authorized: vec![n1.identifier().to_string()],
        })
        .await
        .unwrap();
    assert_eq!(info.status, "up", "{info:?}");
    (n1, n2, info.from.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_transfer_matches_sha256_both_ways() {
    let size = 64 * 1024 * 1024;
    let source = common::source_server(size).await;
    let (_n1, _n2, inlet) = portal(source).await;
    let mut expected = Sha256::new();
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len());
        common::fill(&mut buf[..n], &mut seed);
        expected.update(&buf[..n]);
        left -= n;
    }
    let mut s = TcpStream::connect(inlet).await.unwrap();
    let mut got = Sha256::new();
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.update(&buf[..n]);
        total += n;
    }
    assert_eq!(total, size);
    assert_eq!(got.finalize(), expected.finalize());

    // Upstream direction through an echo server, with half-close.
    let echo = common::echo_server().await;
    let (_a, _b, inlet) = portal(echo).await;
    let s = TcpStream::connect(inlet).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let payload: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect();
    let p2 = payload.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&p2).await.unwrap();
        w.shutdown().await.unwrap(); // half-close: the echo server sees EOF and closes
    });
    let mut back = Vec::new();
    r.read_to_end(&mut back).await.unwrap();
    writer.await.unwrap();
    assert_eq!(Sha256::digest(&back), Sha256::digest(&payload));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_connections_share_one_channel() {
    let echo = common::echo_server().await;
    let (n1, _n2, inlet) = portal(echo).await;
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(inlet).await.unwrap();
            let msg: Vec<u8> = (0..32 * 1024)
                .map(|j| (i as usize * 31 + j) as u8)
                .collect();
            s.write_all(&msg).await.unwrap();
            let mut back = vec![0u8; msg.len()];
            s.read_exact(&mut back).await.unwrap();
            assert_eq!(back, msg, "connection {i} got wrong bytes");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // All of them went over one link (one secure channel pair).
    assert_eq!(n1.outlets()[0].links, 1);
    assert_eq!(n1.channels().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_reader_does_not_slow_other_streams() {
    // The source sends 256 MiB per connection; one client never reads.
    let source = common::source_server(256 * 1024 * 1024).await;
    let (_n1, _n2, inlet) = portal(source).await;
    let stalled = TcpStream::connect(inlet).await.unwrap();
    // Let the stalled stream fill its window and the socket buffers.
    let echo_probe = Instant::now();
    let mut s = TcpStream::connect(inlet).await.unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0usize;
    let want = 64 * 1024 * 1024;
    while total < want {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("the active stream must not stall")
            .unwrap();
        assert!(n > 0);
        total += n;
    }
    let elapsed = echo_probe.elapsed();
    assert!(
        elapsed < Duration::from_secs(20),
        "64 MiB took {elapsed:?} next to a stalled stream"
    );
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_down_gives_the_client_a_clean_close() {
    // A port with nothing listening.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (_n1, _n2, inlet) = portal(dead).await;
    let mut s = TcpStream::connect(inlet).await.unwrap();
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("client must not hang");
    assert!(matches!(r, Ok(0)), "expected EOF, got {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inlet_recovers_after_outlet_node_restarts() {
    let echo = common::echo_server().await;
    let id1 = common::identity();
    let n1 = common::node_with("n1", id1.clone(), "127.0.0.1:0".parse().unwrap(), vec![]).await;
    let n1_addr = n1.listen_addr();
    n1.create_outlet(OutletSpec {
        name: "outlet".into(),
        to: echo.to_string(),
    })
    .unwrap();
    let n2 = common::node("n2").await;
    let info = n2
        .create_inlet(InletSpec {
            name: "i".into(),
            from: "127.0.0.1:0".parse().unwrap(),
            to: common::secure_route(&n1, "outlet"),
            authorized: vec![],
        })
        .await
        .unwrap();
    let inlet: SocketAddr = info.from.parse().unwrap();
    let roundtrip = |inlet: SocketAddr| async move {
        let mut s = TcpStream::connect(inlet).await.unwrap();
        s.write_all(b"ping").await.unwrap();
        let mut b = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(20), s.read_exact(&mut b))
            .await
            .ok()?
            .ok()?;
        Some(b)
    };
    assert_eq!(roundtrip(inlet).await, Some(*b"ping"));
    // A connection open across the restart is cut, not hung.
    let mut open = TcpStream::connect(inlet).await.unwrap();
    open.write_all(b"x").await.unwrap();
    let mut one = [0u8; 1];
    open.read_exact(&mut one).await.unwrap();

    n1.shutdown().await;
    drop(n1);
    let mut b = [0u8; 8];
    let r = tokio::time::timeout(Duration::from_secs(5), open.read(&mut b))
        .await
        .expect("cut promptly");
    assert!(matches!(r, Ok(0) | Err(_)));

    let n1 = common::node_with("n1", id1, n1_addr, vec![]).await;
    n1.create_outlet(OutletSpec {
        name: "outlet".into(),
        to: echo.to_string(),
    })
    .unwrap();
    assert_eq!(roundtrip(inlet).await, Some(*b"ping"));
    assert_eq!(n2.inlets()[0].status, "up");
}

/// Deleting the outlet closes the inlet's link with the peer's reason; the inlet's next attempt
/// (a portal `Hello` to the missing outlet) is answered by the outlet node's abort notice, which
/// the inlet's new link recognises and closes on with the notice's reason — never reading it as a
/// portal frame (it used to log `malformed portal frame: … unknown kind 0x04` on every retry and
/// wait out its 5 s HelloAck timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_outlet_closes_the_link_with_the_reason() {
    let echo = common::echo_server().await;
    let (n1, n2, inlet) = portal(echo).await;
    let link = n2.inlet("i").unwrap().current_link().expect("a link is up");
    assert!(!link.is_closed());

    assert!(n1.delete_outlet("outlet"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !link.is_closed() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(link.is_closed(), "the link must close when its outlet goes");
    let reason = link.close_reason().unwrap_or_default().to_string();
    assert!(reason.contains("peer closed the portal link"), "{reason}");

    // A new client makes the inlet try again; the outlet node answers that there is no outlet.
    let started = Instant::now();
    let _client = TcpStream::connect(inlet).await.unwrap();
    let last_error = loop {
        let e = n2.inlets()[0].last_error.clone().unwrap_or_default();
        if e.contains("nothing at address outlet") || started.elapsed() > Duration::from_secs(8) {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        last_error.contains("nothing at address outlet"),
        "the link attempt must end with the outlet node's reason, got {last_error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the abort notice must end the attempt at once, not the HelloAck timeout ({:?})",
        started.elapsed()
    );
    assert_eq!(
        n2.malformed_portal_frames(),
        0,
        "an abort notice is no portal frame"
    );
    assert_eq!(n1.malformed_portal_frames(), 0);
    assert_eq!(n2.inlets()[0].status, "down");
}
