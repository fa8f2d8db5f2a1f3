//! Graceful drain: no new connections, open ones finish, then the drain returns.

mod common;

use airlock_node::portal::{InletSpec, OutletSpec};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_refuses_new_connections_and_waits_for_open_ones() {
    let (client, server) = (common::node("client").await, common::node("server").await);
    let echo = common::echo_server().await;
    server
        .create_outlet(OutletSpec {
            name: "outlet".into(),
            to: echo.to_string(),
        })
        .unwrap();
    let inlet = client
        .create_inlet(InletSpec {
            name: "db".into(),
            from: "127.0.0.1:0".parse().unwrap(),
            to: common::secure_route(&server, "outlet"),
            authorized: vec![],
        })
        .await
        .unwrap();
    let addr: std::net::SocketAddr = inlet.from.parse().unwrap();
    let mut open = TcpStream::connect(addr).await.unwrap();
    open.write_all(b"one").await.unwrap();
    let mut b = [0u8; 3];
    open.read_exact(&mut b).await.unwrap();
    assert_eq!(client.open_connections(), 1);

    let drainer = {
        let c = client.clone();
        tokio::spawn(async move { c.drain(Duration::from_secs(20)).await })
    };
    // The inlet stops listening: new clients are refused by the kernel.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the inlet still accepts while draining"
        );
        tokio::task::yield_now().await;
    }
    assert!(client.is_draining());
    // The open connection still carries data.
    open.write_all(b"two").await.unwrap();
    open.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"two");
    assert!(
        !drainer.is_finished(),
        "drain returned with a connection open"
    );

    // The client finishes: the drain ends well before its grace period.
    let t = Instant::now();
    drop(open);
    let left = tokio::time::timeout(Duration::from_secs(10), drainer)
        .await
        .expect("drain ends once the connection closed")
        .unwrap();
    assert_eq!(left, 0);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_gives_up_after_the_grace_period() {
    let (client, server) = (common::node("client").await, common::node("server").await);
    let echo = common::echo_server().await;
    server
        .create_outlet(OutletSpec {
            name: "outlet".into(),
            to: echo.to_string(),
        })
        .unwrap();
    let inlet = client
        .create_inlet(InletSpec {
            name: "db".into(),
            from: "127.0.0.1:0".parse().unwrap(),
            to: common::secure_route(&server, "outlet"),
            authorized: vec![],
        })
        .await
        .unwrap();
    let mut open = TcpStream::connect(inlet.from.parse::<std::net::SocketAddr>().unwrap())
        .await
        .unwrap();
    open.write_all(b"x").await.unwrap();
    let mut b = [0u8; 1];
    open.read_exact(&mut b).await.unwrap();
    let t = Instant::now();
    let left = client.drain(Duration::from_millis(300)).await;
    assert_eq!(left, 1, "the stubborn connection is reported");
    assert!(t.elapsed() >= Duration::from_millis(300));
    // Shutdown then cuts it.
    client.shutdown().await;
    let r = tokio::time::timeout(Duration::from_secs(5), open.read(&mut b))
        .await
        .expect("cut after shutdown");
    assert!(matches!(r, Ok(0) | Err(_)));
}
