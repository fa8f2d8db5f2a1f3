//! The channel driver on its narrow context alone: two contexts built by hand (no `Node`
//! anywhere), joined by a real TCP connection, run a handshake, carry a request to a service
//! and back, count in their own counters and close through their own registries.

use super::*;
use crate::services::Echo;
use crate::test_support::{channel_context as context, Api};
use crate::transport;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(5);

/// Hands the first message it gets to a oneshot.
struct Reply(Mutex<Option<oneshot::Sender<Message>>>);

impl Endpoint for Reply {
    fn handle(&self, _: &Deliver, msg: Message) {
        if let Some(tx) = self.0.lock().unwrap().take() {
            let _ = tx.send(msg);
        }
    }
}

fn addr(s: &str) -> Address {
    Address::new(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_pair_runs_on_its_contexts_without_a_node() {
    let (a, _) = context();
    let (b, b_id) = context();
    b.router()
        .register(addr("api"), Access::Listener, Arc::new(Api(b.clone())));
    b.router()
        .register(addr("echo"), Access::Service, Arc::new(Echo));
    let bound = transport::listen(&b, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let conn = transport::connect(&a, &bound.to_string()).await.unwrap();

    let ch = create(
        &a,
        Route::new(vec![conn.clone(), addr("api")]),
        TrustPolicy::Identifiers(vec![b_id]),
        WAIT,
    )
    .await
    .expect("handshake over the contexts");
    assert_eq!(ch.peer().map(|p| p.identifier), Some(b_id));

    // A request through the channel to b's echo service, and the answer back to a.
    let (tx, rx) = oneshot::channel();
    let reply_to = Route::single(ch.address().clone());
    a.router().register(
        addr("reply"),
        Access::reply_via(&reply_to),
        Arc::new(Reply(Mutex::new(Some(tx)))),
    );
    a.deliver().deliver(Message::new(
        Route::new(vec![ch.address().clone(), addr("echo")]),
        Route::single(addr("reply")),
        Packet::copy_from(b"no node here"),
    ));
    let answer = tokio::time::timeout(WAIT, rx)
        .await
        .expect("echo answered")
        .unwrap();
    assert_eq!(answer.payload.data(), b"no node here");
    assert_eq!(answer.peer().map(|p| p.identifier), Some(b_id));

    // Each side counted in, and registered with, its own subsystems.
    assert_eq!(a.counters().handshakes().established, 1);
    assert_eq!(b.counters().handshakes().established, 1);
    assert_eq!(a.registry().all().len(), 1);
    assert_eq!(b.registry().all().len(), 1);

    // Closing the connection closes the channels over it on both sides (close hooks found
    // through the contexts' registries), and their ends leave the routers.
    a.transport()
        .registry()
        .get(&conn)
        .expect("connection")
        .close();
    assert_eq!(ch.wait_closed(WAIT).await, Some(ChannelStatus::Closed));
    assert!(a.registry().all().is_empty());
    assert!(a.router().get(ch.address()).is_none());
    let deadline = tokio::time::Instant::now() + WAIT;
    while !b.registry().all().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the responder outlived its connection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
