//! A hub (streams in memory), Bob and Alice as three in-process nodes joined by real TCP: a
//! secure channel through a pair of streams, and what an attacker who may use the hub can and
//! cannot do to Bob.

use super::*;
use crate::channel::{self, SecureChannel};
use crate::flow_control::Access;
use crate::message::Message;
use crate::router::{Deliver, Endpoint};
use crate::{Node, NodeConfig};
use airlock_channel::TrustPolicy;
use airlock_stream::protocol::{Request, Response};
use airlock_stream::StoredMessage;
use airlock_wire::{Address, Packet, Route};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

fn addr(s: &str) -> Address {
    Address::new(s).unwrap()
}

struct Collect(mpsc::UnboundedSender<Vec<u8>>);

impl Endpoint for Collect {
    fn handle(&self, _: &Deliver, msg: Message) {
        let _ = self.0.send(msg.payload.data().to_vec());
    }
}

struct Parties {
    hub: Node,
    bob: Node,
    bob_link: StreamLink,
    alice: Node,
    alice_link: StreamLink,
    channel: Arc<SecureChannel>,
    echoes: mpsc::UnboundedReceiver<Vec<u8>>,
}

async fn node(name: &str) -> Node {
    Node::start(NodeConfig::loopback(name)).await.unwrap()
}

fn client(of: &Node, hub: &Node) -> Arc<HubClient> {
    HubClient::new(
        of,
        &hub.listen_addr().to_string(),
        TrustPolicy::Identifiers(vec![hub.identifier()]),
    )
}

async fn parties() -> Parties {
    let hub = node("hub").await;
    hub::start_with(&hub, Store::Memory(Default::default())).unwrap();
    let bob = node("bob").await;
    let bob_hub = client(&bob, &hub);
    let inbox = bob_hub.create_stream(Some("bob.in")).await.unwrap();
    let outbox = bob_hub.create_stream(Some("bob.out")).await.unwrap();
    let bob_link = StreamLink::open(
        &bob,
        bob_hub,
        LinkSpec {
            sending: outbox.clone(),
            receiving: inbox.clone(),
            client_id: "bob".into(),
            start: Start::Beginning,
        },
    )
    .await
    .unwrap();
    let alice = node("alice").await;
    let alice_link = StreamLink::open(
        &alice,
        client(&alice, &hub),
        LinkSpec {
            sending: inbox,
            receiving: outbox,
            client_id: "alice".into(),
            start: Start::End,
        },
    )
    .await
    .unwrap();
    let channel = channel::create(
        &alice,
        Route::new(vec![alice_link.address().clone(), addr("api")]),
        TrustPolicy::Identifiers(vec![bob.identifier()]),
        WAIT,
    )
    .await
    .expect("a secure channel through the streams");
    let (tx, echoes) = mpsc::unbounded_channel();
    alice.router().register_endpoint(
        addr("inbox"),
        Access::Via(channel.address().clone()),
        Arc::new(Collect(tx)),
    );
    Parties {
        hub,
        bob,
        bob_link,
        alice,
        alice_link,
        channel,
        echoes,
    }
}

impl Parties {
    /// Sends `text` to Bob's echo service through the channel and waits for the echo.
    async fn echo(&mut self, text: &str) -> Result<String, String> {
        self.channel
            .send(
                &self.alice,
                &Route::single(addr("echo")),
                &Route::single(addr("inbox")),
                Packet::copy_from(text.as_bytes()),
            )
            .map_err(|e| e.to_string())?;
        let got = tokio::time::timeout(WAIT, self.echoes.recv())
            .await
            .map_err(|_| format!("no echo of {text:?}"))?
            .ok_or("inbox closed")?;
        Ok(String::from_utf8_lossy(&got).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secure_channel_runs_through_a_pair_of_streams() {
    let mut p = parties().await;
    assert_eq!(
        p.channel.peer().map(|x| x.identifier),
        Some(p.bob.identifier())
    );
    for i in 0..100 {
        let text = format!("message {i}");
        assert_eq!(p.echo(&text).await.unwrap(), text);
    }
    // Handshake messages 2 and the data messages went through; Bob saved his position.
    assert!(
        p.bob_link
            .stats()
            .delivered
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 102
    );
    // Alice's push loop counts a batch once the hub confirms it, which may come after Bob
    // already echoed it: wait (bounded) for the last confirmation.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let pushed = p
            .alice_link
            .stats()
            .pushed
            .load(std::sync::atomic::Ordering::Relaxed);
        if pushed >= 102 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Alice's link counts {pushed} confirmed pushes, expected at least 102"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = &p.hub;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_identity_neither_reads_nor_moves_bobs_position() {
    let mut p = parties().await;
    p.echo("before").await.unwrap();
    // Wait until Bob saved a position past what he read.
    let bob_hub = client(&p.bob, &p.hub);
    let get = |c: &Arc<HubClient>| {
        let c = c.clone();
        async move {
            let req = Request::IndexGet {
                id: c.next_id(),
                client: "bob".into(),
                stream: "bob.in".into(),
            };
            match c.request(&req, Duration::ZERO).await.unwrap() {
                Response::Index { index, .. } => index,
                other => panic!("{other:?}"),
            }
        }
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    let saved = loop {
        if let Some(i) = get(&bob_hub).await.filter(|i| *i >= 2) {
            break i;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Bob never saved a position"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // Mallory, another identity, asks for and overwrites "bob"'s position in "bob.in".
    let mallory = node("mallory").await;
    let m = client(&mallory, &p.hub);
    assert_eq!(get(&m).await, None, "Mallory read Bob's position");
    let save = Request::IndexSave {
        id: m.next_id(),
        client: "bob".into(),
        stream: "bob.in".into(),
        index: 1_000_000,
    };
    assert!(matches!(
        m.request(&save, Duration::ZERO).await.unwrap(),
        Response::Saved { .. }
    ));
    assert_eq!(get(&m).await, Some(1_000_000), "Mallory's own position");
    assert!(
        get(&bob_hub)
            .await
            .is_some_and(|i| i >= saved && i < 1_000_000),
        "Mallory moved Bob's position"
    );
    // And the channel works on.
    assert_eq!(p.echo("after").await.unwrap(), "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_anyone_pushes_into_bobs_stream_reaches_no_service_and_breaks_nothing() {
    let mut p = parties().await;
    assert_eq!(p.echo("one").await.unwrap(), "one");
    let mallory = node("mallory").await;
    let m = client(&mallory, &p.hub);

    // A copy of a record already in Bob's stream (a replayed data message), garbage, and a
    // stored message that tries to reach Bob's echo service without a channel.
    let pulled = match m
        .request(
            &Request::Pull {
                id: m.next_id(),
                stream: "bob.in".into(),
                from: 0,
                limit: 64,
                wait_ms: 0,
            },
            Duration::ZERO,
        )
        .await
        .unwrap()
    {
        Response::Pulled { records, .. } => records,
        other => panic!("{other:?}"),
    };
    let replayed = pulled
        .last()
        .expect("Alice's messages are in bob.in")
        .1
        .clone();
    let bare = StoredMessage {
        onward: Route::single(addr("echo")),
        ret: Route::single(addr("mallory")),
        payload: b"let me in".to_vec(),
    }
    .encode();
    let rejected_before = p.bob.channels().iter().map(|c| c.rejected()).sum::<u64>();
    let refused_before = p.bob.counters().refused_deliveries();
    let push = Request::Push {
        id: m.next_id(),
        stream: "bob.in".into(),
        records: vec![replayed, b"\xff garbage".to_vec(), bare],
    };
    assert!(matches!(
        m.request(&push, Duration::ZERO).await.unwrap(),
        Response::Pushed { count: 3, .. }
    ));

    // Bob's channel is still open and answers; the echo service never answered Mallory.
    assert_eq!(p.echo("two").await.unwrap(), "two");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rejected = p.bob.channels().iter().map(|c| c.rejected()).sum::<u64>();
        let refused = p.bob.counters().refused_deliveries();
        let malformed = p
            .bob_link
            .stats()
            .malformed
            .load(std::sync::atomic::Ordering::Relaxed);
        if rejected > rejected_before && refused > refused_before && malformed == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replay rejected {rejected_before}->{rejected}, service refused {refused_before}->{refused}, malformed {malformed}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!p.channel.is_closed());
    assert!(
        p.echoes.try_recv().is_err(),
        "nothing but the echoes Alice asked for"
    );
}

/// Pipelined echoes through the in-memory hub (no Kafka): how fast the link machinery itself
/// goes. Prints messages/s; run with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn pipelined_echoes_through_the_memory_hub() {
    let mut p = parties().await;
    let (n, window) = (5000usize, 64usize);
    let t0 = std::time::Instant::now();
    let (mut sent, mut got) = (0usize, 0usize);
    while got < n {
        while sent < n && sent - got < window {
            p.channel
                .send(
                    &p.alice,
                    &Route::single(addr("echo")),
                    &Route::single(addr("inbox")),
                    Packet::copy_from(format!("m{sent}").as_bytes()),
                )
                .unwrap();
            sent += 1;
        }
        tokio::time::timeout(WAIT, p.echoes.recv())
            .await
            .expect("an echo")
            .unwrap();
        got += 1;
    }
    println!(
        "{n} echoes, window {window}: {:.0} messages/s",
        n as f64 / t0.elapsed().as_secs_f64()
    );
}
