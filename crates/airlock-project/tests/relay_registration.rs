//! Relays end to end on in-process nodes: registration rules (project permission, `relay`
//! policies, no takeover, names bound to their first owner), a portal reached through a relay
//! at a plain node, and inlets via a project relay pinning the relay's owner.

mod common;

use airlock_identity::IdentitySecret;
use airlock_node::portal::{InletSpec, OutletSpec};
use airlock_node::{unix_now, Node, ProjectRoute};
use airlock_project::api::{AuthorityClient, AuthorityRequest};
use airlock_project::authority::{Authority, AuthorityConfig};
use airlock_project::relay::{RelayAccess, RelayKeeper, RelayService};
use airlock_project::store::{AuthorityStore, Member};
use common::node;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A node presenting a credential with `pairs` from `authority`.
async fn member(name: &str, authority: &IdentitySecret, pairs: &[(&str, &str)]) -> Node {
    let n = node(name).await;
    let attrs = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let c =
        airlock_credential::Credential::issue(authority, n.identifier(), attrs, unix_now(), 600)
            .unwrap();
    n.set_credentials(vec![c.encode()]);
    n
}

/// A relay host trusting `authority`'s credentials.
async fn hub(authority: &IdentitySecret, access: RelayAccess) -> (Node, String) {
    let hub = node("hub").await;
    hub.set_trusted_authorities(vec![authority.history().verify(unix_now()).unwrap()]);
    RelayService::new(access).register(&hub);
    let at = format!("/ip4/127.0.0.1/tcp/{}", hub.listen_addr().port());
    (hub, at)
}

async fn register(n: &Node, at: &str, name: &str) -> Result<(), String> {
    let (keeper, first) = RelayKeeper::start(n, at, name, vec![], Duration::from_secs(10)).await;
    if first.is_err() {
        keeper.stop(n);
    }
    first.map_err(|e| airlock_project::error_text(&e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_node_grants_names_by_credential_and_policy() {
    let authority = IdentitySecret::create(unix_now());
    let (hub, at) = hub(&authority, RelayAccess::ProjectPermission).await;

    let bank = member("bank", &authority, &[("airlock.relay", "bank")]).await;
    register(&bank, &at, "bank").await.expect("granted name");

    let e = register(&bank, &at, "payroll").await.unwrap_err();
    assert!(e.contains("may not claim relay \"payroll\""), "{e}");

    let nobody = node("nobody").await;
    let e = register(&nobody, &at, "bank2").await.unwrap_err();
    assert!(e.contains("no valid project credential"), "{e}");

    // Another member allowed any name still cannot take over a live registration.
    let other = member("other", &authority, &[("airlock.relay", "*")]).await;
    let e = register(&other, &at, "bank").await.unwrap_err();
    assert!(e.contains("held by another member"), "{e}");

    // A relay policy on the project node narrows it further.
    hub.set_policy(
        None,
        Some("relay"),
        "(= subject.team \"blue\")".parse().unwrap(),
    )
    .unwrap();
    let e = register(&other, &at, "free").await.unwrap_err();
    assert!(e.contains("denied by the relay policy"), "{e}");
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_host_can_be_pinned_by_identifier() {
    let authority = IdentitySecret::create(unix_now());
    let (hub, at) = hub(&authority, RelayAccess::Policy).await;
    hub.set_policy(None, Some("relay"), "true".parse().unwrap())
        .unwrap();
    let bank = member("bank", &authority, &[]).await;
    let impostor = node("impostor").await;

    // Pinned to another identity: the channel to the hub is refused, nothing is registered.
    let (keeper, first) = RelayKeeper::start(
        &bank,
        &at,
        "pinned",
        vec![impostor.identifier()],
        Duration::from_secs(10),
    )
    .await;
    let e = airlock_project::error_text(&first.unwrap_err());
    keeper.stop(&bank);
    assert!(
        e.contains(&hub.identifier().to_string()) && e.contains("not authorized"),
        "{e}"
    );
    assert_eq!(keeper.info().status, "down");

    // Pinned to the hub: registered, and the info names the pinned host.
    let (keeper, first) = RelayKeeper::start(
        &bank,
        &at,
        "pinned",
        vec![hub.identifier()],
        Duration::from_secs(10),
    )
    .await;
    first.expect("the right host");
    assert_eq!(keeper.info().authorized, vec![hub.identifier().to_string()]);
    keeper.stop(&bank);
}

#[test]
fn host_pinning_needs_a_channel_of_our_own() {
    use airlock_project::relay::can_pin_host;
    assert!(can_pin_host("/ip4/10.0.0.1/tcp/4000"));
    assert!(can_pin_host("/ip4/10.0.0.1/tcp/4000/secure/api"));
    assert!(can_pin_host("/project/p/service/forward_to_h/secure/api"));
    assert!(!can_pin_host("/project/p"));
    assert!(!can_pin_host("/project/p/service/forward_to_h"));
    assert!(!can_pin_host("not a route"));
}

/// Waits (bounded) until `node` has refused at least `n` deliveries; returns the count.
async fn refused_at_least(node: &Node, n: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = node.refused_deliveries();
        if got >= n || tokio::time::Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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

/// Waits (bounded) until `hub` holds no registration of `name`.
async fn dropped(hub_relays: &RelayService, name: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while hub_relays.list().iter().any(|(n, _)| n == name) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "registration of {name} not dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A project node on the SQLite store at `path`: the authority of `authority` (trusted for
/// credentials) and a relay service binding names in the same store. Returns the node, its
/// relay service and the route to it.
async fn project_node(
    authority: &IdentitySecret,
    path: &std::path::Path,
) -> (Node, RelayService, String) {
    let store = Arc::new(AuthorityStore::open(path).unwrap());
    let hub = node("project").await;
    hub.set_trusted_authorities(vec![authority.history().verify(unix_now()).unwrap()]);
    Authority::new(AuthorityConfig {
        project: "p".into(),
        identity: authority.clone(),
        credential_ttl: 600,
        store: store.clone(),
    })
    .register(&hub);
    let relays = RelayService::with_bindings(RelayAccess::ProjectPermission, store);
    relays.clone().register(&hub);
    let at = format!("/ip4/127.0.0.1/tcp/{}", hub.listen_addr().port());
    (hub, relays, at)
}

/// Records `n` as a member of the project in the store at `path` (relay permission `relay`,
/// administrator if `admin`) and points it at the project node `hub`.
async fn admit(path: &std::path::Path, n: &Node, relay: Option<&str>, admin: bool, hub: &Node) {
    AuthorityStore::open(path)
        .unwrap()
        .put_member(&Member {
            identifier: n.identifier().to_string(),
            attributes: Default::default(),
            relay: relay.map(str::to_string),
            enroller: admin,
            admin,
            added_at: unix_now(),
        })
        .await
        .unwrap();
    point_at(n, hub);
}

/// Makes `/project/p` on `n` lead to `hub`.
fn point_at(n: &Node, hub: &Node) {
    n.set_project(
        "p",
        ProjectRoute {
            route: format!("/ip4/127.0.0.1/tcp/{}", hub.listen_addr().port())
                .parse()
                .unwrap(),
            identifier: hub.identifier(),
        },
    );
}

async fn ask(
    n: &Node,
    req: AuthorityRequest,
) -> Result<serde_json::Value, airlock_project::api::RequestError> {
    let client = AuthorityClient::connect(n, "p", Duration::from_secs(10)).await?;
    client.request(&req, Duration::from_secs(10)).await
}

/// Security review finding: once the owner's channel dropped (or the project node restarted),
/// any member allowed `*` could claim its relay name and receive the traffic meant for it.
/// Names now stay bound to their first owner, in the authority store, until an administrator
/// releases them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_name_is_not_claimed_by_another_member_after_its_owner_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authority.sqlite");
    let authority = IdentitySecret::create(unix_now());
    let (hub, relays, at) = project_node(&authority, &path).await;

    let bank = member("bank", &authority, &[("airlock.relay", "bank")]).await;
    let other = member("other", &authority, &[("airlock.relay", "*")]).await;
    let admin = node("admin").await;
    admit(&path, &bank, Some("bank"), false, &hub).await;
    admit(&path, &other, Some("*"), false, &hub).await;
    admit(&path, &admin, None, true, &hub).await;

    let (keeper, first) =
        RelayKeeper::start(&bank, &at, "bank", vec![], Duration::from_secs(10)).await;
    first.expect("the bank registers its name");
    keeper.stop(&bank);
    dropped(&relays, "bank").await;

    let bound = format!("relay \"bank\" is bound to {}", bank.identifier());
    let e = register(&other, &at, "bank").await.unwrap_err();
    assert!(e.contains(&bound), "{e}");
    assert!(
        e.contains("airlock project relay release bank"),
        "the refusal says how to release: {e}"
    );

    // The project node restarts on the same store: still bound.
    hub.shutdown().await;
    let (hub, relays, at) = project_node(&authority, &path).await;
    for n in [&bank, &other, &admin] {
        point_at(n, &hub);
    }
    let e = register(&other, &at, "bank").await.unwrap_err();
    assert!(e.contains(&bound), "{e}");
    // The owner itself registers again.
    let (keeper, first) =
        RelayKeeper::start(&bank, &at, "bank", vec![], Duration::from_secs(10)).await;
    first.expect("the owner keeps its name");
    let e = ask(
        &other,
        AuthorityRequest::RelayOwner {
            name: "bank".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(e["owner"], bank.identifier().to_string());

    // Only an administrator releases a name.
    let e = ask(
        &other,
        AuthorityRequest::RelayRelease {
            name: "bank".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(
        format!("{e:#}").contains("only project administrators"),
        "{e:#}"
    );
    let list = ask(&admin, AuthorityRequest::RelayList).await.unwrap();
    assert_eq!(list[0]["name"], "bank");
    ask(
        &admin,
        AuthorityRequest::RelayRelease {
            name: "bank".into(),
        },
    )
    .await
    .unwrap();
    // Releasing does not cut a live registration; once the owner's channel drops, the name is
    // free.
    let e = register(&other, &at, "bank").await.unwrap_err();
    assert!(e.contains("held by another member"), "{e}");
    keeper.stop(&bank);
    dropped(&relays, "bank").await;
    register(&other, &at, "bank")
        .await
        .expect("a released name may be claimed");
    let e = ask(
        &bank,
        AuthorityRequest::RelayOwner {
            name: "bank".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(e["owner"], other.identifier().to_string());
}

/// A TCP server that answers every connection with `reply` and closes it.
async fn server(reply: &'static [u8]) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut b = [0u8; 64];
                let _ = s.read(&mut b).await;
                let _ = s.write_all(reply).await;
            });
        }
    });
    addr
}

/// Security review finding: an inlet made with `--via NAME` trusted any identity at the
/// outlet's end, so whoever held relay NAME at the project next (another member allowed `*`
/// after the name was released, or a malicious project node) received its traffic. The inlet
/// now pins the identity the project has NAME bound to when it is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inlet_via_a_relay_pins_the_owner_and_refuses_an_impostor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authority.sqlite");
    let authority = IdentitySecret::create(unix_now());
    let (hub, relays, _) = project_node(&authority, &path).await;
    let trusted = authority.history().verify(unix_now()).unwrap();

    let bank = member("bank", &authority, &[("airlock.relay", "bank")]).await;
    let impostor = member("impostor", &authority, &[("airlock.relay", "*")]).await;
    let client = member("client", &authority, &[]).await;
    let admin = node("admin").await;
    admit(&path, &bank, Some("bank"), false, &hub).await;
    admit(&path, &impostor, Some("*"), false, &hub).await;
    admit(&path, &client, None, false, &hub).await;
    admit(&path, &admin, None, true, &hub).await;
    for n in [&bank, &impostor, &client] {
        n.set_trusted_authorities(vec![trusted.clone()]);
    }
    for (n, reply) in [(&bank, &b"bank"[..]), (&impostor, &b"impostor"[..])] {
        n.create_outlet(OutletSpec {
            name: "outlet".into(),
            to: server(reply).await,
        })
        .unwrap();
    }

    let (keeper, first) =
        RelayKeeper::start(&bank, "/project/p", "bank", vec![], Duration::from_secs(10)).await;
    first.expect("the bank registers its relay");
    let to = "/project/p/service/forward_to_bank/secure/api/service/outlet".to_string();
    let authorized = airlock_project::relay::inlet_authorized_via(&client, "p", "bank", &[])
        .await
        .unwrap();
    assert_eq!(authorized, vec![bank.identifier().to_string()]);

    // The name changes hands: released by an administrator, claimed by another member.
    ask(
        &admin,
        AuthorityRequest::RelayRelease {
            name: "bank".into(),
        },
    )
    .await
    .unwrap();
    keeper.stop(&bank);
    dropped(&relays, "bank").await;
    let (taken, first) = RelayKeeper::start(
        &impostor,
        "/project/p",
        "bank",
        vec![],
        Duration::from_secs(10),
    )
    .await;
    first.expect("the impostor claims the released name");

    let inlet = client
        .create_inlet(InletSpec {
            name: "db".into(),
            from: "127.0.0.1:0".parse().unwrap(),
            to,
            authorized,
        })
        .await
        .unwrap();
    let mut s = tokio::net::TcpStream::connect(&inlet.from).await.unwrap();
    let _ = s.write_all(b"secret query").await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got)).await;
    assert!(
        got.is_empty(),
        "the inlet reached the new holder of the relay: {:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(
        impostor.outlets()[0].links,
        0,
        "a link reached the impostor"
    );
    let info = client
        .inlets()
        .into_iter()
        .find(|i| i.name == "db")
        .unwrap();
    let why = info.last_error.unwrap_or_default();
    assert!(
        why.contains(&impostor.identifier().to_string()) && why.contains("not authorized"),
        "{why}"
    );
    taken.stop(&impostor);
}

/// A node that hosts no project binds relay names in memory: another identity cannot take a
/// name over after its owner's channel dropped, until the node restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_relay_host_binds_names_until_it_restarts() {
    let authority = IdentitySecret::create(unix_now());
    let hub = node("hub").await;
    hub.set_policy(None, Some("relay"), "true".parse().unwrap())
        .unwrap();
    let relays = RelayService::new(RelayAccess::Policy);
    relays.clone().register(&hub);
    let at = format!("/ip4/127.0.0.1/tcp/{}", hub.listen_addr().port());
    let bank = member("bank", &authority, &[]).await;
    let (keeper, first) =
        RelayKeeper::start(&bank, &at, "edge", vec![], Duration::from_secs(10)).await;
    first.expect("registered");
    keeper.stop(&bank);
    dropped(&relays, "edge").await;
    let other = node("other").await;
    let e = register(&other, &at, "edge").await.unwrap_err();
    assert!(
        e.contains(&format!("is bound to {}", bank.identifier())) && e.contains("restarts"),
        "{e}"
    );
    register(&bank, &at, "edge").await.expect("the owner again");
}

/// What a relay owner is told is typed: a refusal retrying cannot fix (no permission for the
/// name, a binding to another identity) is permanent and ends a wait at once; one that may lift
/// by itself (another member's live registration) or no answer at all is transient, and the
/// keeper goes on trying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_failures_are_classified_for_waiters() {
    use airlock_node::{Classify, FailureKind};
    let authority = IdentitySecret::create(unix_now());
    let (_hub, at) = hub(&authority, RelayAccess::ProjectPermission).await;
    let bank = member("bank", &authority, &[("airlock.relay", "bank")]).await;
    let (holder, first) =
        RelayKeeper::start(&bank, &at, "bank", vec![], Duration::from_secs(10)).await;
    first.expect("granted name");

    // No permission for the name: permanent, and a long wait ends at the refusal.
    let (keeper, first) =
        RelayKeeper::start(&bank, &at, "payroll", vec![], Duration::from_secs(10)).await;
    assert_eq!(
        first.unwrap_err().failure_kind(),
        FailureKind::Permanent,
        "a missing relay permission is final"
    );
    let started = tokio::time::Instant::now();
    let why = keeper
        .wait_settled(Duration::from_secs(30))
        .await
        .expect_err("refused for good");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(why.contains("may not claim relay \"payroll\""), "{why}");
    assert_eq!(keeper.info().last_error_kind, Some(FailureKind::Permanent));
    keeper.stop(&bank);

    // Held by another member's live registration: transient, the keeper keeps trying.
    let other = member("other", &authority, &[("airlock.relay", "*")]).await;
    let (taker, first) =
        RelayKeeper::start(&other, &at, "bank", vec![], Duration::from_secs(10)).await;
    let e = first.unwrap_err();
    assert_eq!(e.failure_kind(), FailureKind::Transient, "{e}");
    assert_eq!(
        taker.wait_settled(Duration::from_millis(700)).await,
        Ok(false)
    );
    assert_eq!(taker.info().last_error_kind, Some(FailureKind::Transient));
    // Once the holder lets go, the name is still bound to it: that is final.
    holder.stop(&bank);
    let why = taker
        .wait_settled(Duration::from_secs(20))
        .await
        .expect_err("bound to the first owner");
    assert!(why.contains("is bound to"), "{why}");
    taker.stop(&other);

    // Nothing listening: transient.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (keeper, first) = RelayKeeper::start(
        &other,
        &format!("/ip4/127.0.0.1/tcp/{}", closed.port()),
        "edge",
        vec![],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(first.unwrap_err().failure_kind(), FailureKind::Transient);
    keeper.stop(&other);
}
