//! Access policies on portals: allow, deny with a fast refusal, re-check on credential change
//! and on revocation.

mod common;

use airlock_identity::IdentitySecret;
use airlock_node::portal::{InletSpec, OutletSpec};
use airlock_node::{unix_now, Node, ProjectRoute};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::credential;

/// Two project members (the project route is never dialled here; it only marks the nodes as
/// project members, which makes "valid credential required" the default policy).
async fn members(authority: &IdentitySecret) -> (Node, Node) {
    let trusted = vec![authority.history().verify(unix_now()).unwrap()];
    let bank = common::node("bank").await;
    let analysis = common::node("analysis").await;
    for n in [&bank, &analysis] {
        n.set_trusted_authorities(trusted.clone());
        n.set_project(
            "default",
            ProjectRoute {
                route: "/ip4/127.0.0.1/tcp/9".parse().unwrap(),
                identifier: authority.identifier(),
            },
        );
    }
    (bank, analysis)
}

async fn ping(inlet: SocketAddr) -> Result<(), String> {
    let mut s = TcpStream::connect(inlet).await.map_err(|e| e.to_string())?;
    s.write_all(b"ping").await.map_err(|e| e.to_string())?;
    let mut b = [0u8; 4];
    match tokio::time::timeout(Duration::from_secs(20), s.read_exact(&mut b)).await {
        Ok(Ok(_)) if &b == b"ping" => Ok(()),
        Ok(Ok(_)) => Err("wrong bytes".into()),
        Ok(Err(e)) => Err(format!("closed: {e}")),
        Err(_) => Err("timed out".into()),
    }
}

async fn inlet(analysis: &Node, bank: &Node, name: &str) -> SocketAddr {
    analysis
        .create_inlet(InletSpec {
            name: name.into(),
            from: "127.0.0.1:0".parse().unwrap(),
            to: common::secure_route(bank, "outlet"),
            authorized: vec![],
        })
        .await
        .unwrap()
        .from
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlet_policy_allows_denies_and_cuts() {
    let authority = IdentitySecret::create(unix_now());
    let (bank, analysis) = members(&authority).await;
    let echo = common::echo_server().await;
    bank.create_outlet(OutletSpec {
        name: "outlet".into(),
        to: echo.to_string(),
    })
    .unwrap();
    bank.set_policy(
        None,
        Some("tcp-outlet"),
        "(= subject.mongodb-inlet \"true\")".parse().unwrap(),
    )
    .unwrap();
    bank.set_credentials(vec![credential(
        &authority,
        &bank,
        &[("mongodb-outlet", "true")],
    )]);

    // Without the attribute: refused, and the client is closed quickly (no hang).
    analysis.set_credentials(vec![credential(&authority, &analysis, &[("team", "x")])]);
    let denied = inlet(&analysis, &bank, "denied").await;
    let t = Instant::now();
    assert!(ping(denied).await.is_err());
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "refusal took {:?}",
        t.elapsed()
    );
    assert!(bank.outlets()[0].refused >= 1);

    // With the attribute (re-presented on live channels): allowed.
    analysis.set_credentials(vec![credential(
        &authority,
        &analysis,
        &[("mongodb-inlet", "true")],
    )]);
    let allowed = inlet(&analysis, &bank, "allowed").await;
    ping(allowed).await.unwrap();

    // The attribute is withdrawn on the live channel: the periodic re-check cuts the open
    // connection, and new connections are refused at Open.
    let mut open = TcpStream::connect(allowed).await.unwrap();
    open.write_all(b"x").await.unwrap();
    let mut one = [0u8; 1];
    open.read_exact(&mut one).await.unwrap();
    analysis.set_credentials(vec![credential(
        &authority,
        &analysis,
        &[("mongodb-inlet", "false")],
    )]);
    // Wait for the cut, bounded by two re-check intervals.
    let cut = tokio::time::timeout(
        2 * airlock_node::node::ACCESS_RECHECK_INTERVAL + Duration::from_secs(2),
        async {
            let mut b = [0u8; 8];
            open.read(&mut b).await
        },
    )
    .await
    .expect("link not cut after the credential lost its attribute");
    assert!(matches!(cut, Ok(0) | Err(_)));
    assert!(ping(allowed).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_policy_in_a_project_requires_a_credential_and_revocation_cuts() {
    let authority = IdentitySecret::create(unix_now());
    let (bank, analysis) = members(&authority).await;
    let echo = common::echo_server().await;
    bank.create_outlet(OutletSpec {
        name: "outlet".into(),
        to: echo.to_string(),
    })
    .unwrap();
    // The inlet's default policy wants the outlet node's credential too.
    bank.set_credentials(vec![credential(&authority, &bank, &[])]);
    // No credential at all: the default policy of a project member denies.
    let i = inlet(&analysis, &bank, "nocred").await;
    assert!(ping(i).await.is_err());

    analysis.set_credentials(vec![credential(&authority, &analysis, &[])]);
    let i = inlet(&analysis, &bank, "cred").await;
    ping(i).await.unwrap();

    // Revoking the analysis identity on the bank node closes its channels at once.
    let mut open = TcpStream::connect(i).await.unwrap();
    open.write_all(b"y").await.unwrap();
    let mut one = [0u8; 1];
    open.read_exact(&mut one).await.unwrap();
    bank.set_revoked("default", [analysis.identifier()].into_iter().collect());
    let mut b = [0u8; 8];
    let r = tokio::time::timeout(Duration::from_secs(5), open.read(&mut b))
        .await
        .expect("cut at once");
    assert!(matches!(r, Ok(0) | Err(_)));
    assert!(ping(i).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inlet_policy_judges_the_outlet_node_before_any_byte_flows() {
    let authority = IdentitySecret::create(unix_now());
    let (bank, analysis) = members(&authority).await;
    let echo = common::echo_server().await;
    bank.create_outlet(OutletSpec {
        name: "outlet".into(),
        to: echo.to_string(),
    })
    .unwrap();
    analysis.set_credentials(vec![credential(&authority, &analysis, &[])]);
    analysis
        .set_policy(
            None,
            Some("tcp-inlet"),
            "(= subject.mongodb-outlet \"true\")".parse().unwrap(),
        )
        .unwrap();

    // The bank's credential lacks mongodb-outlet: the inlet refuses it at once (typed refusal,
    // no retry loop), and its clients are closed.
    bank.set_credentials(vec![credential(&authority, &bank, &[("team", "x")])]);
    let denied = inlet(&analysis, &bank, "denied").await;
    let t = Instant::now();
    assert!(ping(denied).await.is_err());
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "refusal took {:?} (retried?)",
        t.elapsed()
    );
    let info = analysis
        .inlets()
        .into_iter()
        .find(|i| i.name == "denied")
        .unwrap();
    let err = info.last_error.unwrap_or_default();
    assert!(err.contains("tcp-inlet policy denies"), "{err}");

    // With the attribute, the same inlet connects.
    bank.set_credentials(vec![credential(
        &authority,
        &bank,
        &[("mongodb-outlet", "true")],
    )]);
    let allowed = inlet(&analysis, &bank, "allowed").await;
    ping(allowed).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responder_refusal_is_typed_and_not_retried_by_the_inlet() {
    // The outlet node's listener trusts only a stranger: it refuses the inlet's node after
    // handshake message 3, when the inlet's side already counts the channel as open.
    let stranger = common::identity().secret.identifier();
    let bank = common::node_with(
        "bank",
        common::identity(),
        "127.0.0.1:0".parse().unwrap(),
        vec![stranger],
    )
    .await;
    let analysis = common::node("analysis").await;
    let echo = common::echo_server().await;
    bank.create_outlet(OutletSpec {
        name: "outlet".into(),
        to: echo.to_string(),
    })
    .unwrap();
    let i = inlet(&analysis, &bank, "refused").await;
    let t = Instant::now();
    assert!(ping(i).await.is_err());
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "the inlet retried a refusal for {:?}",
        t.elapsed()
    );
    let err = analysis.inlets()[0].last_error.clone().unwrap_or_default();
    assert!(err.contains("refused"), "{err}");
    assert!(bank.handshake_counts().refused >= 1);
}
