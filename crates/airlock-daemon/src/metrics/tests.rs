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
    endpoint_with(HEAD_TIMEOUT).await
}

async fn endpoint_with(head_timeout: Duration) -> (SocketAddr, Arc<Health>, Node) {
    let node = Node::start(NodeConfig::loopback("ops")).await.unwrap();
    let health = Arc::new(Health::default());
    let addr = serve_with(
        "127.0.0.1:0".parse().unwrap(),
        node.clone(),
        Arc::new(RelayKeepers::default()),
        health.clone(),
        head_timeout,
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

#[test]
fn kafka_record_counters_have_help_type_and_a_line_per_topic() {
    use airlock_node::kafka::TopicRecordCounts;
    let mut o = String::new();
    render_kafka_records(
        &mut o,
        &[
            (
                "demo".into(),
                TopicRecordCounts {
                    encrypted: 8,
                    decrypted: 16,
                    refused: 1,
                    failed: 0,
                },
            ),
            ("(other)".into(), TopicRecordCounts::default()),
        ],
    );
    for (name, demo) in [
        ("encrypted", 8),
        ("decrypted", 16),
        ("refused", 1),
        ("failed", 0),
    ] {
        let family = format!("airlock_kafka_records_{name}_total");
        assert!(o.contains(&format!("# TYPE {family} counter\n")), "{o}");
        assert!(o.contains(&format!("# HELP {family} ")), "{o}");
        assert!(
            o.contains(&format!("{family}{{topic=\"demo\"}} {demo}\n")),
            "{o}"
        );
        assert!(
            o.contains(&format!("{family}{{topic=\"(other)\"}} 0\n")),
            "{o}"
        );
    }
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
    // The Kafka record counters are declared even before any record passed.
    assert!(
        m.contains("# TYPE airlock_kafka_records_encrypted_total counter"),
        "{m}"
    );
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

    let a = exchange(addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
    assert_eq!(status(&a), "200", "{a}");
}

/// Connects `n` clients that send nothing, and waits until the endpoint holds a slot for each:
/// a client accepted after them is turned away (closed without an answer) only once all `n`
/// hold one, and the accept loop takes connections in order.
async fn fill_slots(addr: SocketAddr, n: usize) -> (Vec<TcpStream>, String) {
    let mut idle = Vec::new();
    for _ in 0..n {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let turned_away = exchange(addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
    (idle, turned_away)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_beyond_the_cap_are_turned_away_until_slots_free() {
    // A head timeout far beyond the test: the slots stay full until the clients leave.
    let (addr, _health, _node) = endpoint_with(Duration::from_secs(600)).await;
    let (idle, turned_away) = fill_slots(addr, MAX_CONCURRENT + 8).await;
    assert_eq!(
        turned_away, "",
        "a client beyond the cap is closed without an answer"
    );
    // The 8 beyond the cap were closed at once, the others are still held.
    let mut closed = 0;
    let mut held = Vec::new();
    for mut s in idle {
        let mut b = [0u8; 16];
        match tokio::time::timeout(Duration::from_millis(50), s.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            Ok(Ok(n)) => panic!("unexpected answer to an idle client: {:?}", &b[..n]),
            Err(_) => held.push(s),
        }
    }
    assert_eq!((held.len(), closed), (MAX_CONCURRENT, 8));
    // The clients leave: their slots free and the endpoint answers again (bounded wait).
    drop(held);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let a = exchange(addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
        if status(&a) == "200" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "slots were not freed after the clients left: {a:?}"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_client_gets_400_after_the_head_timeout_and_frees_its_slot() {
    let (addr, _health, _node) = endpoint_with(Duration::from_millis(300)).await;
    let (idle, _) = fill_slots(addr, MAX_CONCURRENT).await;
    for mut s in idle {
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
            .await
            .expect("the head timeout ends an idle client")
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out).starts_with("HTTP/1.1 400"),
            "{out:?}"
        );
    }
    let a = exchange(addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
    assert_eq!(status(&a), "200", "{a}");
}
