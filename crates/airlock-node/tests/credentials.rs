//! Credentials presented in handshakes and re-presented on live channels.

mod common;

use airlock_channel::TrustPolicy;
use airlock_identity::IdentitySecret;
use airlock_node::resolve::resolve;
use airlock_node::{unix_now, Node};
use airlock_wire::{MultiAddr, Route};
use std::time::Duration;

/// Sends through the channel and waits for the echo: everything sent before on the same channel
/// has been processed by the peer when the reply arrives.
async fn round_trip(node: &Node, route: Route) {
    common::request(node, route, b"sync").await.expect("echo");
}

fn issue(authority: &IdentitySecret, node: &Node, pairs: &[(&str, &str)]) -> Vec<u8> {
    common::credential(authority, node, pairs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_verified_and_refreshed_without_new_handshake() {
    let authority = IdentitySecret::create(unix_now());
    let rogue = IdentitySecret::create(unix_now());
    let n1 = common::node("n1").await;
    let n2 = common::node("n2").await;
    n1.set_trusted_authorities(vec![authority.history().verify(unix_now()).unwrap()]);
    n2.set_credentials(vec![issue(&authority, &n2, &[("mongodb-inlet", "true")])]);

    let ma: MultiAddr = common::secure_route(&n1, "echo").parse().unwrap();
    let r = resolve(&n2, &ma, TrustPolicy::Everyone, Duration::from_secs(5))
        .await
        .unwrap();
    // The initiator is open after sending message 3; one round trip makes sure the responder
    // has processed it.
    round_trip(&n2, r.route.clone()).await;
    let responder = n1.channels().into_iter().next().unwrap();
    let peer = responder.peer().unwrap().clone();
    let cred = peer
        .credential_at(unix_now())
        .expect("credential verified in the handshake");
    assert_eq!(cred.attributes["mongodb-inlet"], "true");
    assert_eq!(cred.issuer, authority.identifier());

    // Re-presented on the live channel: same channel, new attributes.
    n2.set_credentials(vec![issue(
        &authority,
        &n2,
        &[("mongodb-inlet", "false"), ("team", "b")],
    )]);
    round_trip(&n2, r.route.clone()).await;
    assert_eq!(n1.channels().len(), 1, "no new channel");
    let cred = peer.credential_at(unix_now()).unwrap();
    assert_eq!(cred.attributes["mongodb-inlet"], "false");
    assert_eq!(cred.attributes["team"], "b");

    // A credential from an untrusted authority, or for another subject, gives no attributes.
    n2.set_credentials(vec![issue(&rogue, &n2, &[("mongodb-inlet", "true")])]);
    round_trip(&n2, r.route.clone()).await;
    assert!(peer.credential_at(unix_now()).is_none());
    n2.set_credentials(vec![issue(&authority, &n1, &[("mongodb-inlet", "true")])]);
    round_trip(&n2, r.route.clone()).await;
    assert!(peer.credential_at(unix_now()).is_none());
}
