//! Requests to the authority service and a client for them.
//!
//! Messages are routed through a secure channel to the project node (`/project/NAME`), whose
//! `authority` service answers each request with one message. Bodies are JSON:
//! `{"op": "enroll", "secret": "<hex>"}` → `{"ok": true, "result": …}` or `{"ok": false,
//! "error": "…"}`. The caller's identity is the authenticated peer of the channel; nothing in the
//! body can claim another identity.

use crate::AUTHORITY_ADDRESS;
use airlock_authority::Attributes;
use airlock_node::channel::SecureChannel;
use airlock_node::{resolve, Access, Message, Node, Worker};
use airlock_wire::{Address, MultiAddr, Packet, Route};
use anyhow::{bail, Context, Result};
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

/// The service answered, and refused the request (`{"ok":false,"error":…}` without
/// `"retry":true`): the channel that carried it is fine. Other errors of [`request_json`] mean
/// no usable answer came.
#[derive(Debug)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Sends one request along `route` and waits for the JSON answer; an answer with `ok: false` is
/// a [`Refusal`].
pub async fn request_json(
    node: &Node,
    route: &Route,
    body: &Value,
    timeout: Duration,
) -> Result<Value> {
    let addr = Address::new(format!("reply.{:016x}", airlock_node::random_u64()))?;
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
        _ => bail!("no answer from the project within {timeout:?}"),
    };
    let v: Value =
        serde_json::from_slice(msg.payload.data()).context("malformed answer from the project")?;
    let reason = v["error"]
        .as_str()
        .unwrap_or("the project refused the request");
    match v["ok"].as_bool() {
        Some(true) => Ok(v["result"].clone()),
        Some(false) if v["retry"].as_bool() != Some(true) => {
            Err(Refusal(reason.to_string()).into())
        }
        Some(false) => bail!("{reason}"),
        None => bail!("malformed answer from the project (no \"ok\")"),
    }
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
    pub async fn connect(node: &Node, project: &str, timeout: Duration) -> Result<Self> {
        let ma: MultiAddr = format!("/project/{project}/service/{AUTHORITY_ADDRESS}").parse()?;
        let r = resolve::resolve(node, &ma, airlock_channel::TrustPolicy::Everyone, timeout)
            .await
            .with_context(|| format!("cannot reach project {project:?}"))?;
        Ok(AuthorityClient {
            node: node.clone(),
            route: r.route,
            channels: r.opened,
        })
    }

    /// Sends a request.
    pub async fn request(&self, req: &AuthorityRequest, timeout: Duration) -> Result<Value> {
        request_json(
            &self.node,
            &self.route,
            &serde_json::to_value(req)?,
            timeout,
        )
        .await
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
