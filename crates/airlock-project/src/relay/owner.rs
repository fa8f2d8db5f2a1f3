//! Asking a project who holds a relay name, and what an inlet `--via` that relay pins.

use airlock_identity::Identifier;
use airlock_node::Node;
use std::time::Duration;

/// Why a project could not say who holds a relay name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayOwnerError {
    /// The project's authority could not be asked, or refused to answer.
    #[error("cannot ask project {project:?} who holds relay {name:?}")]
    Ask {
        /// The project.
        project: String,
        /// The relay name.
        name: String,
        /// Why.
        #[source]
        source: crate::api::RequestError,
    },
    /// The answer named no valid identifier.
    #[error("project {project:?} answered a malformed owner {owner:?} for relay {name:?}")]
    MalformedOwner {
        /// The project.
        project: String,
        /// The relay name.
        name: String,
        /// What it answered.
        owner: String,
    },
}

/// Who project `project` has relay `name` bound to (asked of its authority through a channel
/// that trusts only the project; members may ask). `None`: nobody registered it yet (or its
/// binding was released).
pub async fn relay_owner(
    node: &Node,
    project: &str,
    name: &str,
    timeout: Duration,
) -> Result<Option<Identifier>, RelayOwnerError> {
    let ask = |source| RelayOwnerError::Ask {
        project: project.to_string(),
        name: name.to_string(),
        source,
    };
    let client = crate::api::AuthorityClient::connect(node, project, timeout)
        .await
        .map_err(ask)?;
    let v = client
        .request(
            &crate::api::AuthorityRequest::RelayOwner {
                name: name.to_string(),
            },
            timeout,
        )
        .await
        .map_err(ask)?;
    match v["owner"].as_str() {
        Some(o) => o
            .parse()
            .map(Some)
            .map_err(|_| RelayOwnerError::MalformedOwner {
                project: project.to_string(),
                name: name.to_string(),
                owner: o.to_string(),
            }),
        None => Ok(None),
    }
}

/// The identities an inlet that reaches its outlet through project relay `relay` (`--via`)
/// accepts at the outlet's end: `authorized` when given (the user's choice), else the identity
/// the project has `relay` bound to ([`relay_owner`]), pinned when the inlet is created so that
/// whoever holds the name later (another member after an administrator released it, or a
/// project node that lies) cannot stand in for the outlet. Empty when the name is not bound
/// yet: the inlet then accepts any outlet node that its `tcp-inlet` policy admits (by default,
/// any holder of a valid project credential). Errors when the project cannot be asked.
pub async fn inlet_authorized_via(
    node: &Node,
    project: &str,
    relay: &str,
    authorized: &[String],
) -> Result<Vec<String>, RelayOwnerError> {
    if !authorized.is_empty() {
        return Ok(authorized.to_vec());
    }
    Ok(relay_owner(node, project, relay, Duration::from_secs(10))
        .await?
        .map(|o| vec![o.to_string()])
        .unwrap_or_default())
}
