//! Property test of flow control on a real node: thousands of random onward and return routes,
//! built from the addresses that really exist on the node (connections, both ends of every
//! channel, the listener, services, the outlet) plus junk, arrive from a connection and from an
//! authenticated channel peer. None may make the node write to another connection or seal
//! anything into another channel, open a portal link, or reach the other member at all.

mod common;

use airlock_node::{Message, Origin};
use airlock_portal::PortalFrame;
use airlock_wire::{Address, Packet, Route};

fn a(s: &str) -> Address {
    Address::new(s).unwrap()
}

/// xorshift64*: deterministic, seed printed on failure.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn first_hop(route_text: &str) -> Address {
    a(route_text
        .trim_start_matches('[')
        .split(' ')
        .next()
        .unwrap()
        .trim_end_matches(']'))
}

fn dec(enc: &Address) -> Address {
    a(&enc.as_str().replace(".e", ".d"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_routes_from_the_wire_never_reach_what_their_origin_may_not() {
    // B: outlet for C only; C: inlet (link up); M: an authenticated stranger with a channel.
    let (b, c, _) = common::guarded_portal().await;
    let m = common::node("m").await;
    let m_channel = common::channel_to(&m, &b).await;

    let by_peer = |id| {
        b.channels()
            .into_iter()
            .find(|ch| ch.peer().map(|p| p.identifier) == Some(id))
            .unwrap()
    };
    let b_to_c = by_peer(c.identifier());
    let b_to_m = by_peer(m.identifier());
    let conn_c = first_hop(&b_to_c.info().route);
    let conn_m = first_hop(&b_to_m.info().route);
    let c_channel = c.channels()[0].clone();

    // Every address that exists, and some that do not.
    let mut pool: Vec<Address> = (1..=16).map(|k| a(&format!("tcp.{k}"))).collect();
    for ch in [&b_to_c, &b_to_m, &c_channel, &m_channel] {
        pool.push(ch.address().clone());
        pool.push(dec(ch.address()));
    }
    for s in [
        "api",
        "echo",
        "uppercase",
        "outlet",
        "relays",
        "authority",
        "x",
    ] {
        pool.push(a(s));
    }
    let origins = [
        Origin::Transport(conn_m.clone()),
        Origin::Channel(b_to_m.peer().unwrap().clone()),
    ];
    let hello = PortalFrame::Hello { window: 1 << 20 }.encode();
    let payloads: Vec<Vec<u8>> = vec![
        vec![0x01; 40],
        vec![0x02, 0, 0, 0, 0, 0, 0, 0, 0],
        vec![0x04, 0x01, b'n', b'o'],
        hello.data().to_vec(),
        PortalFrame::Open { stream: 1 }.encode().data().to_vec(),
        b"ping".to_vec(),
    ];

    let seed = 0x5eed_0000_0000_0001u64 ^ std::process::id() as u64;
    let mut rng = Rng(seed);
    let sent_c = b_to_c.sent();
    let out_c = b.connection_bytes_out(&conn_c).unwrap();
    for round in 0..4000 {
        let origin = origins[rng.below(origins.len())].clone();
        let onward = Route::new(
            (0..1 + rng.below(16))
                .map(|_| pool[rng.below(pool.len())].clone())
                .collect(),
        );
        // The receiving hop pushes itself on the return route, as the transport and the
        // channel do; the rest is the sender's choice.
        let mut ret = Route::new(
            (0..rng.below(4))
                .map(|_| pool[rng.below(pool.len())].clone())
                .collect(),
        );
        ret.push_front(origin.hop().unwrap().clone());
        let payload = Packet::copy_from(&payloads[rng.below(payloads.len())]);
        b.dispatch(Message::with_origin(
            onward.clone(),
            ret.clone(),
            payload,
            origin.clone(),
        ));
        assert_eq!(
            b_to_c.sent(),
            sent_c,
            "seed {seed:#x} round {round}: {onward} from {} made B seal into its channel to C",
            origin.describe()
        );
        assert_eq!(
            b.connection_bytes_out(&conn_c),
            Some(out_c),
            "seed {seed:#x} round {round}: {onward} from {} made B write to C's connection",
            origin.describe()
        );
    }
    // Effects that take a task hop: the channel to M answers in order after all of them.
    let reply = common::request(
        &m,
        Route::new(vec![m_channel.address().clone(), a("echo")]),
        b"sync",
    )
    .await;
    assert_eq!(reply.expect("echo").payload.data(), b"sync");
    assert_eq!(b_to_c.sent(), sent_c, "seed {seed:#x}");
    assert_eq!(
        b.outlets()[0].links,
        1,
        "seed {seed:#x}: a stranger opened a link"
    );
    assert_eq!(
        c.refused_deliveries(),
        0,
        "seed {seed:#x}: something reached C"
    );
    assert_eq!(c_channel.rejected(), 0, "seed {seed:#x}");
    assert!(!b_to_c.is_closed() && !c_channel.is_closed());
    assert!(b.refused_deliveries() > 0);
}
