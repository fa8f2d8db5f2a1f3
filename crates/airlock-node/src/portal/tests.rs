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

/// A service in the outlet's process that answers each stream with its bytes upper-cased.
fn uppercase_service() -> OutletTarget {
    OutletTarget::Local {
        description: "uppercase service".into(),
        handler: Arc::new(|mut s: tokio::net::UnixStream| {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    buf[..n].make_ascii_uppercase();
                    if s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_inlet_and_outlet_carry_streams_between_in_process_services() {
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
    let b_portals = Portals::default();
    let spec = OutletSpec {
        name: "svc".into(),
        to: "uppercase service".into(),
    };
    b_portals
        .add_outlet(
            &b,
            Outlet::with_target(spec, uppercase_service(), "kafka-outlet"),
        )
        .unwrap();
    let inlet = Inlet::start_local(
        &a,
        InletSpec {
            name: "local".into(),
            from: "127.0.0.1:9".parse().unwrap(),
            to: format!(
                "/ip4/127.0.0.1/tcp/{}/secure/api/service/svc",
                listen.port()
            ),
            authorized: vec![b_id.to_string()],
        },
        "kafka-inlet",
    )
    .await
    .unwrap();
    // Two streams at once, each its own conversation.
    let mut one = inlet.open_local(&a).await.unwrap();
    let mut two = inlet.open_local(&a).await.unwrap();
    one.write_all(b"first stream").await.unwrap();
    two.write_all(b"second").await.unwrap();
    let mut back = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), one.read_exact(&mut back))
        .await
        .expect("answered in time")
        .unwrap();
    assert_eq!(&back, b"FIRST STREAM");
    let mut back = [0u8; 6];
    tokio::time::timeout(Duration::from_secs(5), two.read_exact(&mut back))
        .await
        .expect("answered in time")
        .unwrap();
    assert_eq!(&back, b"SECOND");
    assert_eq!(inlet.info().connections_total, 2);
    assert_eq!(b_portals.outlets()[0].connections, 2);
    // Closing our end finishes the stream; the service sees EOF and the stream goes away.
    drop(one);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while b_portals.outlets()[0].connections != 1 {
        assert!(tokio::time::Instant::now() < deadline, "stream kept open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    inlet.stop(&a).await;
}

/// Raises this test process's soft open-file limit to its hard limit and checks it allows
/// `need` descriptors (a clear failure, not a skip, on a machine that does not).
fn allow_open_files(need: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        // Root may raise the hard limit too; otherwise take what the hard limit allows.
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max.max(need),
            rlim_max: lim.rlim_max.max(need),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            lim = raised;
        } else {
            lim.rlim_cur = lim.rlim_max;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
    assert!(
        lim.rlim_cur >= need,
        "this test needs {need} open files; the hard limit is {}",
        lim.rlim_cur
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_inlet_carries_more_connections_than_one_link_holds() {
    use airlock_portal::MAX_STREAMS_PER_LINK;
    let n = MAX_STREAMS_PER_LINK + 8;
    // Two socket pairs per stream (client side and service side), both ends in this process.
    allow_open_files(4 * n as u64 + 256);
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
    let b_portals = Portals::default();
    let spec = OutletSpec {
        name: "svc".into(),
        to: "uppercase service".into(),
    };
    b_portals
        .add_outlet(
            &b,
            Outlet::with_target(spec, uppercase_service(), "kafka-outlet"),
        )
        .unwrap();
    let inlet = Inlet::start_local(
        &a,
        InletSpec {
            name: "many".into(),
            from: "127.0.0.1:9".parse().unwrap(),
            to: format!(
                "/ip4/127.0.0.1/tcp/{}/secure/api/service/svc",
                listen.port()
            ),
            authorized: vec![b_id.to_string()],
        },
        "kafka-inlet",
    )
    .await
    .unwrap();
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        streams.push(inlet.open_local(&a).await.unwrap());
    }
    // Every one of them, held at once, is its own working conversation.
    for (i, s) in streams.iter_mut().enumerate() {
        let text = format!("stream {i:05}");
        s.write_all(text.as_bytes()).await.unwrap();
        let mut back = vec![0u8; text.len()];
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut back))
            .await
            .unwrap_or_else(|_| panic!("stream {i} not answered"))
            .unwrap_or_else(|e| panic!("stream {i}: {e}"));
        assert_eq!(back, text.to_uppercase().into_bytes());
    }
    let outlet = &b_portals.outlets()[0];
    assert_eq!((outlet.links, outlet.connections), (2, n));
    assert_eq!(inlet.info().connections, n);
    inlet.stop(&a).await;
}

#[test]
fn socket_reads_grow_with_bulk_traffic_and_shrink_when_it_turns_interactive() {
    use super::stream::{ReadSize, MIN_READ};
    use airlock_portal::MAX_CHUNK;
    let mut r = ReadSize::default();
    assert_eq!(r.next(u64::MAX), MIN_READ);
    assert_eq!(r.next(100), 100, "never more than the credit");
    // Reads that fill the buffer double it, up to the largest chunk.
    for _ in 0..20 {
        let max = r.next(u64::MAX);
        r.observe(max, max);
    }
    assert_eq!(r.next(u64::MAX), MAX_CHUNK);
    // A read cut short by credit changes nothing.
    r.observe(100, 100);
    assert_eq!(r.next(u64::MAX), MAX_CHUNK);
    // Small reads halve it, down to the smallest.
    for _ in 0..20 {
        r.observe(64, r.next(u64::MAX));
    }
    assert_eq!(r.next(u64::MAX), MIN_READ);
}
