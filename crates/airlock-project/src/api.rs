//! Requests to the authority service and a client for them.
//!
//! Messages are routed through a secure channel to the project node (`/project/NAME`), whose
//! `authority` service answers each request with one message. Bodies are JSON:
//! `{"op": "enroll", "secret": "<hex>"}` → `{"ok": true, "result": …}` or `{"ok": false,
//! "error": "…"}`. The caller's identity is the authenticated peer of the channel; nothing in the
//! body can claim another identity.

use crate::AUTHORITY_ADDRESS;
use airlock_credential::Attributes;
use airlock_node::channel::SecureChannel;
use airlock_node::{resolve, Access, Message, Node, Worker};
use airlock_wire::{Address, MultiAddr, Packet, Route};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// What an administrator or enroller asks a ticket to grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRequest {
    /// Enrollments allowed.
    pub usage_count: u32,
    /// Lifetime in seconds.
    pub expires_in_secs: u64,
    /// Attributes of members enrolled with it.
    pub attributes: Attributes,
    /// Relay name permission (`*` = any).
    pub relay: Option<String>,
    /// Members enrolled with it may create tickets.
    pub enroller: bool,
}

/// A request to the authority.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum AuthorityRequest {
    /// Redeem a ticket secret (hex) and become a member.
    Enroll {
        /// Hex of the 32-byte secret.
        secret: String,
    },
    /// Fetch a fresh credential (members).
    Credential,
    /// Create a ticket (administrators and enrollers).
    CreateTicket {
        /// What it grants.
        ticket: TicketRequest,
    },
    /// List members (administrators).
    MemberList,
    /// Show a member (administrators).
    MemberShow {
        /// Identifier.
        identifier: String,
    },
    /// Add a member directly (administrators).
    MemberAdd {
        /// Identifier.
        identifier: String,
        /// Attributes.
        attributes: Attributes,
        /// Relay permission.
        relay: Option<String>,
        /// May create tickets.
        enroller: bool,
    },
    /// Identifiers of deleted members (members).
    Revoked,
    /// Remove a member (administrators); releases the relay names bound to it.
    MemberDelete {
        /// Identifier.
        identifier: String,
    },
    /// Every relay binding, name → owner identifier (administrators).
    RelayList,
    /// Who relay `name` is bound to (members): `{"name", "owner": identifier or null,
    /// "bound_at"}`. An inlet made with `--via NAME` pins the owner it answers.
    RelayOwner {
        /// Relay name.
        name: String,
    },
    /// Release the binding of relay `name`, so that another member may register it
    /// (administrators).
    RelayRelease {
        /// Relay name.
        name: String,
    },
}

struct Reply(Mutex<Option<oneshot::Sender<Message>>>);

impl Worker for Reply {
    fn handle(&self, _node: &Node, msg: Message) {
        if let Some(tx) = self.0.lock().expect("reply").take() {
            let _ = tx.send(msg);
        }
    }
}

/// Why a request to a project service got no positive answer.
///
/// [`RequestError::Refused`] is the one answer that says the request was decided (no): the
/// channel that carried it works. Every other variant means no decision came back, and the
/// request may succeed when tried again (perhaps over a new channel, to another project node).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The service answered and refused the request (`{"ok":false,"error":…}`).
    #[error("{reason}")]
    Refused {
        /// The service's reason, phrased for users.
        reason: String,
    },
    /// The service answered without deciding (`"retry":true`: busy, or its store failed).
    #[error("{reason}")]
    Undecided {
        /// The service's explanation.
        reason: String,
    },
    /// No answer came within the time allowed.
    #[error("no answer from the project within {after:?}")]
    Timeout {
        /// The time allowed.
        after: Duration,
    },
    /// No secure channel to the project could be opened.
    #[error("cannot reach project {project:?}")]
    Unreachable {
        /// The project's name.
        project: String,
        /// Why.
        #[source]
        source: airlock_node::resolve::ResolveError,
    },
    /// The project's name does not make a route (`/project/NAME/…`).
    #[error("invalid project name {project:?}")]
    InvalidProject {
        /// The name given.
        project: String,
        /// Why.
        #[source]
        source: airlock_wire::multiaddr::MultiAddrError,
    },
    /// The answer could not be understood.
    #[error("malformed answer from the project: {detail}")]
    MalformedAnswer {
        /// What was wrong with it.
        detail: String,
    },
}

impl RequestError {
    /// True when the service decided the request (and said no).
    pub fn is_refusal(&self) -> bool {
        matches!(self, RequestError::Refused { .. })
    }
}

/// A refusal is permanent; so is a project name that makes no route, and a channel the project
/// refused (a revoked member). No answer, an undecided one or an unreachable project is
/// transient.
impl airlock_node::Classify for RequestError {
    fn failure_kind(&self) -> airlock_node::FailureKind {
        use airlock_node::FailureKind;
        match self {
            RequestError::Refused { .. } | RequestError::InvalidProject { .. } => {
                FailureKind::Permanent
            }
            RequestError::Unreachable { source, .. } => source.failure_kind(),
            RequestError::Undecided { .. }
            | RequestError::Timeout { .. }
            | RequestError::MalformedAnswer { .. } => FailureKind::Transient,
        }
    }
}

/// Sends one request along `route` and waits for the JSON answer; an answer with `ok: false` is
/// a [`RequestError::Refused`] (or [`RequestError::Undecided`] when marked `retry`).
pub async fn request_json(
    node: &Node,
    route: &Route,
    body: &Value,
    timeout: Duration,
) -> Result<Value, RequestError> {
    let v = request_answer(node, route, body, timeout).await?;
    let reason = v["error"]
        .as_str()
        .unwrap_or("the project refused the request")
        .to_string();
    match v["ok"].as_bool() {
        Some(true) => Ok(v["result"].clone()),
        Some(false) if v["retry"].as_bool() != Some(true) => Err(RequestError::Refused { reason }),
        Some(false) => Err(RequestError::Undecided { reason }),
        None => Err(RequestError::MalformedAnswer {
            detail: "no \"ok\"".into(),
        }),
    }
}

/// Sends one request along `route` and returns the whole JSON answer (`{"ok": …}`), for
/// services whose refusals carry more than a reason (a `code` a client matches on).
pub async fn request_answer(
    node: &Node,
    route: &Route,
    body: &Value,
    timeout: Duration,
) -> Result<Value, RequestError> {
    let addr = Address::new(format!("reply.{:016x}", airlock_node::random_u64()))
        .expect("a reply address is a valid address");
    let (tx, rx) = oneshot::channel();
    // The answer may come only over the hop the request leaves by.
    node.router().register(
        addr.clone(),
        Access::reply_via(route),
        Arc::new(Reply(Mutex::new(Some(tx)))),
    );
    node.dispatch(Message::new(
        route.clone(),
        Route::single(addr.clone()),
        Packet::copy_from(body.to_string().as_bytes()),
    ));
    let reply = tokio::time::timeout(timeout, rx).await;
    node.router().unregister(&addr);
    let msg = match reply {
        Ok(Ok(m)) => m,
        _ => return Err(RequestError::Timeout { after: timeout }),
    };
    serde_json::from_slice(msg.payload.data()).map_err(|e| RequestError::MalformedAnswer {
        detail: e.to_string(),
    })
}

/// A connection to a project's authority through a secure channel that trusts only the project.
pub struct AuthorityClient {
    node: Node,
    route: Route,
    channels: Vec<Arc<SecureChannel>>,
}

impl AuthorityClient {
    /// Connects to the authority of `project` (which the node must know, see
    /// [`Node::set_project`]).
    pub async fn connect(
        node: &Node,
        project: &str,
        timeout: Duration,
    ) -> Result<Self, RequestError> {
        let ma: MultiAddr = format!("/project/{project}/service/{AUTHORITY_ADDRESS}")
            .parse()
            .map_err(|source| RequestError::InvalidProject {
                project: project.to_string(),
                source,
            })?;
        let r = resolve::resolve(node, &ma, airlock_channel::TrustPolicy::Everyone, timeout)
            .await
            .map_err(|source| RequestError::Unreachable {
                project: project.to_string(),
                source,
            })?;
        Ok(AuthorityClient {
            node: node.clone(),
            route: r.route,
            channels: r.opened,
        })
    }

    /// Sends a request.
    pub async fn request(
        &self,
        req: &AuthorityRequest,
        timeout: Duration,
    ) -> Result<Value, RequestError> {
        // A request is plain data: serializing it cannot fail.
        let body = serde_json::to_value(req).expect("a request serializes");
        request_json(&self.node, &self.route, &body, timeout).await
    }

    /// True once a channel under this client closed (the client must be replaced).
    pub fn is_closed(&self) -> bool {
        self.channels.iter().any(|c| c.is_closed())
    }

    /// Closes the channel.
    pub fn close(&self) {
        for ch in self.channels.iter().rev() {
            ch.close(&self.node, true);
        }
    }
}

impl Drop for AuthorityClient {
    fn drop(&mut self) {
        self.close();
    }
}
