//! Relay names stay bound to their first owner: in the authority store of a project node (until
//! an administrator releases them, and across restarts), in memory on a plain relay host, and
//! pinned by an inlet made via a relay so that a new holder of the name receives nothing.

mod common;

use airlock_identity::IdentitySecret;
use airlock_node::portal::{InletSpec, OutletSpec};
use airlock_node::unix_now;
use airlock_project::api::AuthorityRequest;
use airlock_project::relay::{RelayAccess, RelayKeeper, RelayService};
use common::relay::{admit, ask, dropped, point_at, project_node, register};
use common::{member, node, reply_server};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
            to: reply_server(reply).await,
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
