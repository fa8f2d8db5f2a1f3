//! Portals through relays on in-process nodes: an inlet reaching an outlet behind a relay at a
//! plain node, and flow control keeping the relay host and the relay owner from being used
//! against each other.

mod common;

use airlock_identity::IdentitySecret;
use airlock_node::portal::{InletSpec, OutletSpec};
use airlock_node::unix_now;
use airlock_project::relay::{RelayAccess, RelayKeeper};
use common::relay::{hub, refused_at_least, register};
use common::{member, node};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_through_a_relay_at_a_plain_node_with_a_relay_policy() {
    let authority = IdentitySecret::create(unix_now());
    let (hub, at) = hub(&authority, RelayAccess::Policy).await;
    // Outside any project and without a relay policy, a node is no open relay host.
    let early = member("early", &authority, &[("team", "blue")]).await;
    let e = register(&early, &at, "early").await.unwrap_err();
    assert!(e.contains("accepts no relays"), "{e}");
    hub.set_policy(
        None,
        Some("relay"),
        "(= subject.team \"blue\")".parse().unwrap(),
    )
    .unwrap();

    let red = member("red", &authority, &[("team", "red")]).await;
    let e = register(&red, &at, "red").await.unwrap_err();
    assert!(e.contains("denied by the relay policy"), "{e}");

    // The bank dials out to the hub and serves an echo outlet behind the relay.
    let bank = member("bank", &authority, &[("team", "blue")]).await;
    let (keeper, first) =
        RelayKeeper::start(&bank, &at, "bank", vec![], Duration::from_secs(10)).await;
    first.expect("blue may register");
    let info = keeper.info();
    assert_eq!(info.status, "up");
    assert_eq!(
        info.address,
        format!("{at}/secure/api/service/forward_to_bank")
    );

    let echo_addr = common::echo_server().await;
    bank.create_outlet(OutletSpec {
        name: "outlet".into(),
        to: echo_addr.to_string(),
    })
    .unwrap();

    let client = node("client").await;
    let inlet = client
        .create_inlet(InletSpec {
            name: "db".into(),
            from: "127.0.0.1:0".parse().unwrap(),
            to: format!("{}/secure/api/service/outlet", info.address),
            authorized: vec![bank.identifier().to_string()],
        })
        .await
        .unwrap();
    let mut s = tokio::net::TcpStream::connect(&inlet.from).await.unwrap();
    s.write_all(b"through the relay").await.unwrap();
    let mut b = [0u8; 17];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut b))
        .await
        .expect("echo in time")
        .unwrap();
    assert_eq!(&b, b"through the relay");
    keeper.stop(&bank);
    hub.shutdown().await;
}

/// Flow control at a relay host and at the relay owner, attacked with what travels in clear
/// frame headers (channel and back-path addresses): a bare TCP client at the host, the relay
/// owner against the host's other channels, and the host against the relay owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_host_and_owner_cannot_be_used_against_each_other() {
    use airlock_portal::PortalFrame;
    use airlock_wire::{transport_frame, Address, Packet, Route};
    let a = |s: &str| Address::new(s).unwrap();
    let authority = IdentitySecret::create(unix_now());
    let (hub, at) = hub(&authority, RelayAccess::Policy).await;
    hub.set_policy(
        None,
        Some("relay"),
        "(= subject.team \"blue\")".parse().unwrap(),
    )
    .unwrap();
    let bank = member("bank", &authority, &[("team", "blue")]).await;
    let (keeper, first) =
        RelayKeeper::start(&bank, &at, "bank", vec![], Duration::from_secs(10)).await;
    first.expect("registered");
    let echo_addr = common::echo_server().await;
    let client = node("client").await;
    bank.create_outlet(OutletSpec {
        name: "outlet".into(),
        to: echo_addr.to_string(),
    })
    .unwrap();
    bank.set_policy(
        Some("outlet"),
        Some("tcp-outlet"),
        format!("(= subject.identifier \"{}\")", client.identifier())
            .parse()
            .unwrap(),
    )
    .unwrap();
    let inlet = client
        .create_inlet(InletSpec {
            name: "db".into(),
            from: "127.0.0.1:0".parse().unwrap(),
            to: format!("{}/secure/api/service/outlet", keeper.info().address),
            authorized: vec![bank.identifier().to_string()],
        })
        .await
        .unwrap();
    let mut s = tokio::net::TcpStream::connect(&inlet.from).await.unwrap();
    s.write_all(b"legit").await.unwrap();
    let mut b = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut b))
        .await
        .expect("echo through the relay")
        .unwrap();
    assert_eq!(bank.outlets()[0].links, 1);

    // The hub's channels: towards the bank (registration) and towards the client.
    let hub_to = |id| {
        hub.channels()
            .into_iter()
            .find(|c| c.peer().map(|p| p.identifier) == Some(id))
            .unwrap()
    };
    let hub_bank = hub_to(bank.identifier());
    let hub_client = hub_to(client.identifier());
    let hello = || PortalFrame::Hello { window: 1 << 20 }.encode();

    // 1. A bare TCP client at the hub: the forwarder, the hub's encrypting end towards the
    //    bank, and every back-path address are refused (services need a channel).
    let before = hub.refused_deliveries();
    let mut raw = tokio::net::TcpStream::connect(hub.listen_addr())
        .await
        .unwrap();
    raw.write_all(&transport_frame::PREAMBLE).await.unwrap();
    for onward in [
        Route::new(vec![a("forward_to_bank"), a("outlet")]),
        Route::new(vec![hub_bank.address().clone(), a("outlet")]),
        Route::new(vec![hub_client.address().clone(), a("uppercase")]),
    ] {
        let mut p = Packet::copy_from(hello().data());
        transport_frame::encode_message(&mut p, &onward, &Route::empty());
        raw.write_all(p.data()).await.unwrap();
    }
    assert!(
        refused_at_least(&hub, before + 3).await >= before + 3,
        "the hub did not refuse the bare TCP client"
    );

    // 2. The relay owner against the hub: through its registration channel it may not reach
    //    the hub's connections or its channel to the client.
    let bank_hub = bank
        .channels()
        .into_iter()
        .find(|c| c.peer().map(|p| p.identifier) == Some(hub.identifier()))
        .unwrap();
    let before = hub.refused_deliveries();
    bank_hub
        .send(
            &bank,
            &Route::new(vec![hub_client.address().clone(), a("uppercase")]),
            &Route::empty(),
            Packet::copy_from(b"speak as the hub"),
        )
        .unwrap();
    assert!(
        refused_at_least(&hub, before + 1).await > before,
        "the hub encrypted the relay owner's message into its channel to the client"
    );

    // 3. The hub against the relay owner: the registration channel exposes only the bank's
    //    listener, not its outlet or services.
    let before = bank.refused_deliveries();
    hub_bank
        .send(&hub, &Route::single(a("outlet")), &Route::empty(), hello())
        .unwrap();
    hub_bank
        .send(
            &hub,
            &Route::single(a("echo")),
            &Route::empty(),
            Packet::copy_from(b"x"),
        )
        .unwrap();
    assert!(
        refused_at_least(&bank, before + 2).await >= before + 2,
        "the bank let the relay host reach its services"
    );
    assert_eq!(bank.outlets()[0].links, 1, "the hub opened a portal link");
    assert_eq!(client.refused_deliveries(), 0);
    // The legitimate path still works.
    s.write_all(b"again").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut b))
        .await
        .expect("echo again")
        .unwrap();
    assert_eq!(&b, b"again");
    keeper.stop(&bank);
}
