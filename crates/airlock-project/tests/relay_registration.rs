//! Registering relays on in-process nodes: who may claim which name (project permission,
//! `relay` policies, no takeover of a live registration), pinning the relay host by identifier,
//! and how refusals are classified for those who wait.

mod common;

use airlock_identity::IdentitySecret;
use airlock_node::unix_now;
use airlock_project::relay::{RelayAccess, RelayKeeper};
use common::relay::{hub, register};
use common::{member, node};
use std::time::Duration;

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
