//! The member side of the authority protocol: one shared channel, kept across refusals.

mod common;

use airlock_identity::IdentitySecret;
use airlock_node::{unix_now, Node, ProjectRoute};
use airlock_project::api::{AuthorityRequest, RequestError};
use airlock_project::authority::{Authority, AuthorityConfig};
use airlock_project::refresh::AuthoritySession;
use airlock_project::store::AuthorityStore;
use common::node;
use std::sync::Arc;

fn open_channels(n: &Node) -> Vec<String> {
    let mut v: Vec<String> = n
        .channels()
        .iter()
        .filter(|c| !c.is_closed())
        .map(|c| c.address().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_keeps_the_channel_and_a_lost_project_drops_it() {
    let project = node("project").await;
    Authority::new(AuthorityConfig {
        project: "p".into(),
        identity: IdentitySecret::create(unix_now()),
        credential_ttl: 600,
        store: Arc::new(AuthorityStore::in_memory().unwrap()),
    })
    .register(&project);

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
    let session = AuthoritySession::new(outsider.clone(), "p".into());

    // Not a member: the authority answers no, twice, over the same channel.
    let e = session
        .request(&AuthorityRequest::Credential)
        .await
        .unwrap_err();
    let RequestError::Refused { reason } = e else {
        panic!("a refusal, not a transport error: {e:?}");
    };
    assert!(reason.contains("is not a member"), "{reason}");
    let first = open_channels(&outsider);
    assert_eq!(first.len(), 1, "{first:?}");
    let e = session
        .request(&AuthorityRequest::Revoked)
        .await
        .unwrap_err();
    assert!(e.is_refusal(), "{e:?}");
    assert_eq!(open_channels(&outsider), first);

    // Refusals that keep coming replace the channel (another project node may answer).
    session
        .request(&AuthorityRequest::Revoked)
        .await
        .unwrap_err();
    assert!(open_channels(&outsider).is_empty());
    session
        .request(&AuthorityRequest::Revoked)
        .await
        .unwrap_err();
    let second = open_channels(&outsider);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second, first);

    // The project goes away: the error is not a refusal, and no channel is left open.
    project.shutdown().await;
    let e = session
        .request(&AuthorityRequest::Credential)
        .await
        .unwrap_err();
    assert!(!e.is_refusal(), "{e:?}");
    assert!(open_channels(&outsider).is_empty());
}
