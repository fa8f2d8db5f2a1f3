//! The operations endpoint answers what it should and survives what it should not see.

use super::*;
use airlock_node::NodeConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[test]
fn label_values_are_escaped() {
    assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

async fn endpoint() -> (SocketAddr, Arc<Health>, Node) {
    let node = Node::start(NodeConfig::loopback("ops")).await.unwrap();
    let health = Arc::new(Health::default());
    let addr = serve(
        "127.0.0.1:0".parse().unwrap(),
        node.clone(),
        Arc::new(RelayKeepers::default()),
        health.clone(),
    )
    .await
    .unwrap();
    (addr, health, node)
}

/// Sends `request` raw and returns the whole answer (the server closes after one).
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The server may close before reading everything it was sent (over-long heads).
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn status(answer: &str) -> &str {
    answer.split_whitespace().nth(1).unwrap_or("none")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_follow_the_lifecycle() {
    let (addr, health, _node) = endpoint().await;
    assert_eq!(
        status(&exchange(addr, b"GET /healthz HTTP/1.1\r\n\r\n").await),
        "200"
    );
    let a = exchange(addr, b"GET /readyz HTTP/1.1\r\n\r\n").await;
    assert_eq!(status(&a), "503", "{a}");
    assert!(a.contains("starting"), "{a}");
    health.set_started();
    assert_eq!(
        status(&exchange(addr, b"GET /readyz HTTP/1.1\r\n\r\n").await),
        "200"
    );
    let m = exchange(addr, b"GET /metrics?x=1 HTTP/1.0\n\n").await;
    assert_eq!(status(&m), "200");
    assert!(m.contains("# TYPE "), "{m}");
    health.set_stopping();
    let a = exchange(addr, b"GET /readyz HTTP/1.1\r\n\r\n").await;
    assert!(a.contains("shutting down"), "{a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_4xx_and_the_endpoint_lives_on() {
    let (addr, _health, _node) = endpoint().await;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"POST /metrics HTTP/1.1\r\n\r\n".to_vec(), "405"),
        (b"GET /../../etc/passwd HTTP/1.1\r\n\r\n".to_vec(), "404"),
        (b"\r\n\r\n".to_vec(), "400"),
        (b"\xff\xfe\x00garbage\r\n\r\n".to_vec(), "400"),
        // A head that never ends within 8 KiB.
        (
            [
                b"GET /metrics HTTP/1.1\r\nX: ".to_vec(),
                vec![b'a'; 64 * 1024],
            ]
            .concat(),
            "400",
        ),
        // Truncated: the client closes its side before the head ends.
        (b"GET /metr".to_vec(), "400"),
    ];
    for (req, want) in cases {
        let a = if req == b"GET /metr" {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(&req).await.unwrap();
            s.shutdown().await.unwrap();
            let mut out = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
            String::from_utf8_lossy(&out).into_owned()
        } else {
            exchange(addr, &req).await
        };
        assert_eq!(
            status(&a),
            want,
            "{:?} → {a}",
            String::from_utf8_lossy(&req[..req.len().min(40)])
        );
    }

    // Idle clients hold a slot for at most the head timeout (2 s); while the slots are full,
    // further clients are turned away at once; once the idle ones got their 400 and left, the
    // endpoint answers again.
    let mut idle = Vec::new();
    let flood = std::time::Instant::now();
    for _ in 0..(MAX_CONCURRENT + 8) {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let turned_away = exchange(addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
    // No slot can free up before the head timeout (2 s) of the first idle client.
    let slots_still_full = flood.elapsed() < Duration::from_millis(1900);
    let (mut answered, mut silent) = (0, 0);
    for mut s in idle {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        match String::from_utf8_lossy(&out) {
            a if a.starts_with("HTTP/1.1 400") => answered += 1,
            a if a.is_empty() => silent += 1,
            a => panic!("unexpected answer to an idle client: {a:?}"),
        }
    }
    assert_eq!(answered + silent, MAX_CONCURRENT + 8);
    assert!(answered >= 1, "{answered}");
    if slots_still_full {
        assert_eq!(answered, MAX_CONCURRENT);
        assert_eq!(
            turned_away, "",
            "a client beyond the cap is closed without an answer"
        );
    }
    let a = exchange(addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
    assert_eq!(status(&a), "200", "{a}");
}
