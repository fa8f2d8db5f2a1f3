//! An inlet's status follows the truth: it re-establishes its link in the background when the
//! link drops (no client needed), keeps the last error with its kind, and a create that can
//! never work fails (typed as permanent) and leaves no inlet behind.

mod common;

use airlock_identity::IdentitySecret;
use airlock_node::portal::link::ConnectError;
use airlock_node::portal::{
    CreateInletError, Inlet, InletInfo, InletSpec, InletStatus, LinkError, OutletSpec,
};
use airlock_node::{failure, unix_now, FailureKind, Node, ProjectRoute};
use common::credential;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Polls `node`'s inlet `name` until `pred` holds or `within` passes; returns the last status.
async fn inlet_until(
    node: &Node,
    name: &str,
    within: Duration,
    pred: impl Fn(&InletInfo) -> bool,
) -> InletInfo {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let info = node
            .inlets()
            .into_iter()
            .find(|i| i.name == name)
            .expect("the inlet exists");
        if pred(&info) || tokio::time::Instant::now() >= deadline {
            return info;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ping(inlet: SocketAddr) -> Result<(), String> {
    let mut s = TcpStream::connect(inlet).await.map_err(|e| e.to_string())?;
    s.write_all(b"ping").await.map_err(|e| e.to_string())?;
    let mut b = [0u8; 4];
    match tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut b)).await {
        Ok(Ok(_)) if &b == b"ping" => Ok(()),
        Ok(Ok(_)) => Err("wrong bytes".into()),
        Ok(Err(e)) => Err(format!("closed: {e}")),
        Err(_) => Err("timed out".into()),
    }
}

fn spec(name: &str, to: String) -> InletSpec {
    InletSpec {
        name: name.into(),
        from: "127.0.0.1:0".parse().unwrap(),
        to,
        authorized: vec![],
    }
}

/// Two project members (the project route is never dialled; membership makes "a valid
/// credential" the default policy and lets a revocation list apply).
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inlet_goes_up_again_after_the_outlet_node_restarts_without_a_client() {
    let echo = common::echo_server().await;
    let id1 = common::identity();
    let n1 = common::node_with("n1", id1.clone(), "127.0.0.1:0".parse().unwrap(), vec![]).await;
    let n1_addr = n1.listen_addr();
    n1.create_outlet(OutletSpec {
        name: "outlet".into(),
        to: echo.to_string(),
    })
    .unwrap();
    let n2 = common::node("n2").await;
    let info = n2
        .create_inlet_and_wait(
            spec("i", common::secure_route(&n1, "outlet")),
            Duration::from_secs(10),
        )
        .await
        .expect("created");
    assert_eq!(info.status, InletStatus::Up, "{info:?}");

    n1.shutdown().await;
    drop(n1);
    // Down, with the reason, and the reason is one retrying can fix.
    let down = inlet_until(&n2, "i", Duration::from_secs(10), |i| {
        i.status == InletStatus::Down && i.last_error_kind == Some(FailureKind::Transient)
    })
    .await;
    assert_eq!(down.status, InletStatus::Down, "{down:?}");
    assert_eq!(
        down.last_error_kind,
        Some(FailureKind::Transient),
        "{down:?}"
    );
    assert!(down.last_error.is_some(), "{down:?}");

    let n1 = common::node_with("n1", id1, n1_addr, vec![]).await;
    n1.create_outlet(OutletSpec {
        name: "outlet".into(),
        to: echo.to_string(),
    })
    .unwrap();
    // Up again with no client connecting: the background reconnection did it (back-off is at
    // most 10 s, so 15 s bounds it).
    let up = inlet_until(&n2, "i", Duration::from_secs(15), |i| {
        i.status == InletStatus::Up
    })
    .await;
    assert_eq!(up.status, InletStatus::Up, "{up:?}");
    assert_eq!(up.connections_total, 0, "no client may have helped: {up:?}");
    assert_eq!(up.last_error, None, "{up:?}");
    assert_eq!(n1.outlets()[0].links, 1);
    ping(info.from.parse().unwrap()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlet_policy_refusal_fails_the_create_and_leaves_no_inlet() {
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
    bank.set_credentials(vec![credential(&authority, &bank, &[])]);
    analysis.set_credentials(vec![credential(&authority, &analysis, &[("team", "x")])]);

    // A port known to be free, so that we can see it is released again.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut s = spec("denied", common::secure_route(&bank, "outlet"));
    s.from = port;
    let started = tokio::time::Instant::now();
    let err = analysis
        .create_inlet_and_wait(s, Duration::from_secs(20))
        .await
        .expect_err("the outlet's policy refuses this node");
    assert!(matches!(err, CreateInletError::Refused(_)), "{err:?}");
    assert_eq!(failure::classify(&err), FailureKind::Permanent, "{err:#}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a refusal must end the wait, not the time ({:?})",
        started.elapsed()
    );
    assert!(format!("{err:#}").contains("refused"), "{err:#}");
    assert!(analysis.inlets().is_empty(), "{:?}", analysis.inlets());
    assert!(analysis.inlet("denied").is_none());
    std::net::TcpListener::bind(port).expect("the inlet's port is released");
    assert!(bank.outlets()[0].refused >= 1);

    // The inlet's own link attempt says who refused: the outlet, over an open channel.
    let inlet = Inlet::start(
        analysis.portal_context(),
        spec("denied", common::secure_route(&bank, "outlet")),
    )
    .await
    .unwrap();
    let Err(e) = inlet.link(analysis.portal_context()).await else {
        panic!("no link can be made");
    };
    assert!(
        matches!(e, LinkError::Connect(ConnectError::Refused(_))),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("the outlet refused this node"),
        "{e}"
    );
    inlet.stop(analysis.portal_context()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_outlet_is_transient_and_the_inlet_keeps_trying() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let n = common::node("n").await;
    let route = format!(
        "/ip4/127.0.0.1/tcp/{}/secure/api/service/outlet",
        closed.port()
    );
    let info = n
        .create_inlet_and_wait(spec("later", route), Duration::from_millis(1500))
        .await
        .expect("a transient failure keeps the inlet");
    assert_eq!(info.status, InletStatus::Down);
    assert_eq!(
        info.last_error_kind,
        Some(FailureKind::Transient),
        "{info:?}"
    );
    assert!(
        info.last_error
            .as_deref()
            .is_some_and(|e| e.contains("unreachable")),
        "{info:?}"
    );
    assert_eq!(n.inlets().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_after_the_fact_is_kept_as_a_permanent_last_error() {
    let authority = IdentitySecret::create(unix_now());
    let (bank, analysis) = members(&authority).await;
    let echo = common::echo_server().await;
    bank.create_outlet(OutletSpec {
        name: "outlet".into(),
        to: echo.to_string(),
    })
    .unwrap();
    bank.set_credentials(vec![credential(&authority, &bank, &[])]);
    analysis.set_credentials(vec![credential(&authority, &analysis, &[])]);
    let info = analysis
        .create_inlet_and_wait(
            spec("db", common::secure_route(&bank, "outlet")),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(info.status, InletStatus::Up, "{info:?}");

    bank.set_revoked("default", [analysis.identifier()].into_iter().collect());
    let refused = inlet_until(&analysis, "db", Duration::from_secs(10), |i| {
        i.last_error_kind == Some(FailureKind::Permanent)
    })
    .await;
    assert_eq!(refused.status, InletStatus::Down, "{refused:?}");
    assert_eq!(
        refused.last_error_kind,
        Some(FailureKind::Permanent),
        "{refused:?}"
    );
    let why = refused.last_error.unwrap_or_default();
    assert!(why.contains("revoked"), "the reason must be kept: {why}");
    assert_eq!(refused.connections_total, 0);
}
