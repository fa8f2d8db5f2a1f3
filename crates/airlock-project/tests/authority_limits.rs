//! The authority bounds what callers who are not members can make it do.

mod common;

use airlock_identity::IdentitySecret;
use airlock_node::{unix_now, Node, ProjectRoute};
use airlock_project::api::{AuthorityClient, AuthorityRequest, RequestError};
use airlock_project::authority::{Authority, AuthorityConfig};
use airlock_project::limits::AuthorityLimits;
use airlock_project::store::AuthorityStore;
use common::node;
use std::sync::Arc;
use std::time::Duration;

fn config() -> AuthorityConfig {
    AuthorityConfig {
        project: "p".into(),
        identity: IdentitySecret::create(unix_now()),
        credential_ttl: 600,
        store: Arc::new(AuthorityStore::in_memory().unwrap()),
    }
}

async fn outsider_of(project: &Node) -> Node {
    let outsider = node("outsider").await;
    outsider.set_project(
        "p",
        ProjectRoute {
            route: format!("/ip4/127.0.0.1/tcp/{}", project.listen_addr().port())
                .parse()
                .unwrap(),
            identifier: project.identifier(),
        },
    );
    outsider
}

/// A burst of enrollment attempts with guessed secrets: after the burst the authority refuses
/// them without looking at the secrets (the default bucket holds 10 and refills at 5/s; 40
/// answers over one loopback channel take far less than the 6 s it would take to refill).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_ticket_secrets_is_rate_limited() {
    let project = node("project").await;
    Authority::new(config()).register(&project);
    let outsider = outsider_of(&project).await;
    let client = AuthorityClient::connect(&outsider, "p", Duration::from_secs(10))
        .await
        .unwrap();
    let mut limited = 0;
    for i in 0..40u8 {
        let e = client
            .request(
                &AuthorityRequest::Enroll {
                    secret: hex::encode([i; 32]),
                },
                Duration::from_secs(10),
            )
            .await
            .unwrap_err();
        let RequestError::Refused { reason } = e else {
            panic!("not a refusal: {e}");
        };
        if reason.contains("too many requests") {
            limited += 1;
        } else {
            assert!(reason.contains("not valid for this project"), "{reason}");
        }
    }
    assert!(limited >= 20, "only {limited} of 40 attempts were limited");
}

/// Over the cap of requests in flight, the authority answers at once that it is busy, marked
/// `retry` (not a refusal: the caller should try again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_cap_of_requests_in_flight_the_answer_is_retry() {
    let project = node("project").await;
    Authority::with_limits(
        config(),
        AuthorityLimits {
            max_in_flight: 0,
            ..AuthorityLimits::default()
        },
    )
    .register(&project);
    let outsider = outsider_of(&project).await;
    let client = AuthorityClient::connect(&outsider, "p", Duration::from_secs(10))
        .await
        .unwrap();
    let e = client
        .request(&AuthorityRequest::Credential, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RequestError::Undecided { reason } if reason.contains("busy")),
        "{e:?}"
    );
}

/// Members are not rate-limited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_not_rate_limited() {
    let project = node("project").await;
    let cfg = config();
    let store = cfg.store.clone();
    Authority::with_limits(
        cfg,
        AuthorityLimits {
            non_member_burst: 1,
            non_member_rate: 0.001,
            ..AuthorityLimits::default()
        },
    )
    .register(&project);
    let member = outsider_of(&project).await;
    store
        .put_member(&airlock_project::Member {
            identifier: member.identifier().to_string(),
            attributes: Default::default(),
            relay: None,
            enroller: false,
            admin: false,
            added_at: unix_now(),
        })
        .await
        .unwrap();
    let client = AuthorityClient::connect(&member, "p", Duration::from_secs(10))
        .await
        .unwrap();
    for _ in 0..5 {
        client
            .request(&AuthorityRequest::Credential, Duration::from_secs(10))
            .await
            .unwrap();
    }
}
