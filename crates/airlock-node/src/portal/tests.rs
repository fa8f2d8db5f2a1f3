//! A whole portal on hand-built portal contexts, with no `Node`: the inlet resolves its route,
//! opens a secure channel and a link; the outlet accepts it; a client's bytes cross to the
//! target and back.

use super::*;
use crate::flow_control::Access;
use crate::test_support::{channel_context, Api};
use crate::transport;
use airlock_wire::Address;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP server that writes back what it reads.
async fn echo_server() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_runs_on_its_contexts_without_a_node() {
    let (a_channels, _) = channel_context();
    let (b_channels, b_id) = channel_context();
    let a = PortalContext::new(a_channels, "a");
    let b = PortalContext::new(b_channels.clone(), "b");
    b.router().register(
        Address::new("api").unwrap(),
        Access::Listener,
        Arc::new(Api(b_channels)),
    );
    let listen = transport::listen(&b, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();

    let (a_portals, b_portals) = (Portals::default(), Portals::default());
    b_portals
        .create_outlet(
            &b,
            OutletSpec {
                name: "outlet".into(),
                to: echo_server().await.to_string(),
            },
        )
        .unwrap();
    let inlet = a_portals
        .create_inlet(
            &a,
            InletSpec {
                name: "inlet".into(),
                from: "127.0.0.1:0".parse().unwrap(),
                to: format!(
                    "/ip4/127.0.0.1/tcp/{}/secure/api/service/outlet",
                    listen.port()
                ),
                authorized: vec![b_id.to_string()],
            },
        )
        .await
        .unwrap();
    assert_eq!(inlet.status, "up", "{inlet:?}");

    let mut client = TcpStream::connect(inlet.from.as_str()).await.unwrap();
    client
        .write_all(b"through a portal, no node")
        .await
        .unwrap();
    let mut back = [0u8; 25];
    tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut back))
        .await
        .expect("echoed in time")
        .unwrap();
    assert_eq!(&back, b"through a portal, no node");
    let outlets = b_portals.outlets();
    assert_eq!((outlets[0].links, outlets[0].connections), (1, 1));
    assert_eq!(a.counters().malformed_portal_frames(), 0);

    // Stopping the inlet closes its link and channel; the outlet side follows.
    a_portals.stop_all(&a).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while b_portals.outlets()[0].links != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "outlet kept the link"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(a.channels().registry().all().is_empty());
}
