//! Portal limits against an authenticated but hostile inlet that speaks portal frames by hand:
//! links per channel, streams per link, and the window it may advertise.

mod common;

use airlock_node::portal::OutletSpec;
use airlock_node::{Access, Message, Node, Worker};
use airlock_portal::{PortalFrame, MAX_LINKS_PER_CHANNEL, MAX_STREAMS_PER_LINK, MAX_WINDOW};
use airlock_wire::{Address, Route};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A hand-made inlet link end: hands every portal frame (and its return route) to a queue.
struct RawLink(mpsc::UnboundedSender<(PortalFrame, Route)>);

impl Worker for RawLink {
    fn handle(&self, _: &Node, msg: Message) {
        if let Ok(f) = PortalFrame::decode(msg.payload) {
            let _ = self.0.send((f, msg.ret));
        }
    }
}

struct Hostile {
    m: Node,
    channel: Arc<airlock_node::channel::SecureChannel>,
}

impl Hostile {
    async fn new(b: &Node) -> Hostile {
        let m = common::node("m").await;
        let channel = common::channel_to(&m, b).await;
        Hostile { m, channel }
    }

    /// Sends Hello with `window` from a new raw link; returns its frame queue.
    fn hello(&self, i: usize, window: u32) -> mpsc::UnboundedReceiver<(PortalFrame, Route)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let addr = Address::new(format!("raw{i}")).unwrap();
        self.m.router().register(
            addr.clone(),
            Access::Via(self.channel.address().clone()),
            Arc::new(RawLink(tx)),
        );
        self.channel
            .send(
                &self.m,
                &Route::single(Address::new("outlet").unwrap()),
                &Route::single(addr),
                PortalFrame::Hello { window }.encode(),
            )
            .unwrap();
        rx
    }
}

/// Node B with an outlet named `outlet` to `target`.
async fn outlet_node(target: std::net::SocketAddr) -> Node {
    let b = common::node("b").await;
    b.create_outlet(OutletSpec {
        name: "outlet".into(),
        to: target.to_string(),
    })
    .unwrap();
    b
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(PortalFrame, Route)>) -> (PortalFrame, Route) {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an answer in time")
        .expect("queue open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_channel_holds_a_bounded_number_of_links() {
    let b = outlet_node(common::echo_server().await).await;
    let h = Hostile::new(&b).await;
    for i in 0..MAX_LINKS_PER_CHANNEL {
        let mut rx = h.hello(i, 1024);
        assert!(matches!(
            next(&mut rx).await.0,
            PortalFrame::HelloAck { .. }
        ));
    }
    let mut rx = h.hello(MAX_LINKS_PER_CHANNEL, 1024);
    assert!(
        matches!(next(&mut rx).await.0, PortalFrame::Reset { stream: 0, .. }),
        "a link beyond the cap was accepted"
    );
    assert_eq!(b.outlets()[0].links, MAX_LINKS_PER_CHANNEL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_link_carries_a_bounded_number_of_streams() {
    let b = outlet_node(common::echo_server().await).await;
    let h = Hostile::new(&b).await;
    let mut rx = h.hello(0, 1024);
    let (ack, ret) = next(&mut rx).await;
    assert!(matches!(ack, PortalFrame::HelloAck { .. }));
    let mut to_link = ret;
    to_link.pop_front(); // the channel's own address on M
    for id in 1..=(MAX_STREAMS_PER_LINK as u32 + 1) {
        h.channel
            .send(
                &h.m,
                &to_link,
                &Route::single(Address::new("raw0").unwrap()),
                PortalFrame::Open { stream: id }.encode(),
            )
            .unwrap();
    }
    // Open streams stay open (the echo server holds them); the one beyond the cap is reset.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline - tokio::time::Instant::now();
        let (f, _) = tokio::time::timeout(left, rx.recv())
            .await
            .expect("the stream beyond the cap is reset")
            .unwrap();
        if let PortalFrame::Reset { stream, .. } = f {
            assert_eq!(
                stream,
                MAX_STREAMS_PER_LINK as u32 + 1,
                "an earlier stream was reset"
            );
            break;
        }
    }
    assert_eq!(b.outlets()[0].connections, MAX_STREAMS_PER_LINK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_advertised_window_is_capped() {
    // A target that sends far more than the cap as soon as a stream connects.
    let b = outlet_node(common::source_server(4 * MAX_WINDOW as usize).await).await;
    let h = Hostile::new(&b).await;
    let mut rx = h.hello(0, u32::MAX);
    let (_, ret) = next(&mut rx).await;
    let mut to_link = ret;
    to_link.pop_front();
    h.channel
        .send(
            &h.m,
            &to_link,
            &Route::single(Address::new("raw0").unwrap()),
            PortalFrame::Open { stream: 1 }.encode(),
        )
        .unwrap();
    // Never return credit: the outlet must stop at the capped window.
    let mut got: u64 = 0;
    loop {
        let wait = if got >= MAX_WINDOW as u64 {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(10)
        };
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Some((PortalFrame::Data { data, .. }, _))) => got += data.len() as u64,
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    assert_eq!(
        got, MAX_WINDOW as u64,
        "the outlet sent beyond the capped window"
    );
}
