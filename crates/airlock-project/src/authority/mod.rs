//! The `authority` service of a project node.
//!
//! * `grants` — what a ticket may grant, and what an enroller may pass on;
//! * request decisions (`requests`): one request of an authenticated caller → an answer or an
//!   [`AuthorityError`];
//! * [`revoked_set`] / [`spawn_revocation_sync`] — the node's revoked set kept equal to the
//!   store's;
//! * [`Authority`] — the worker: caps requests in flight, decides each in a task, answers.

mod error;
mod grants;
mod requests;
mod revocation;

pub use error::AuthorityError;
pub use grants::{
    ENROLLER_MAX_TICKET_LIFETIME, ENROLLER_MAX_TICKET_USES, MAX_TICKET_LIFETIME, MAX_TICKET_USES,
};
pub use revocation::{revoked_set, spawn_revocation_sync, REVOCATION_SYNC};

use crate::api::AuthorityRequest;
use crate::limits::{AuthorityLimits, RateLimiter};
use crate::store::AuthorityStore;
use airlock_identity::{Identifier, IdentitySecret};
use airlock_node::{Message, Node, Worker};
use airlock_wire::{Address, Packet, Route};
pub(crate) use requests::credential_for;
use requests::process;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// How the authority runs.
pub struct AuthorityConfig {
    /// Project name.
    pub project: String,
    /// The authority's identity (signs credentials).
    pub identity: IdentitySecret,
    /// Credential lifetime in seconds.
    pub credential_ttl: u64,
    /// State.
    pub store: Arc<AuthorityStore>,
}

/// The service worker.
pub struct Authority {
    cfg: Arc<AuthorityConfig>,
    limits: AuthorityLimits,
    in_flight: Arc<tokio::sync::Semaphore>,
    limiter: Arc<Limiter>,
}

/// The per-identity bucket of callers that are not members.
pub(super) type Limiter = Mutex<RateLimiter<Identifier>>;

impl Authority {
    /// A service over `cfg` with the default [`AuthorityLimits`].
    pub fn new(cfg: AuthorityConfig) -> Self {
        Self::with_limits(cfg, AuthorityLimits::default())
    }

    /// A service over `cfg` with `limits`.
    pub fn with_limits(cfg: AuthorityConfig, limits: AuthorityLimits) -> Self {
        Authority {
            cfg: Arc::new(cfg),
            limits,
            in_flight: Arc::new(tokio::sync::Semaphore::new(limits.max_in_flight)),
            limiter: Arc::new(Mutex::new(RateLimiter::for_non_members(&limits))),
        }
    }

    /// Registers the service on `node` at [`crate::AUTHORITY_ADDRESS`].
    pub fn register(self, node: &Node) {
        node.router().register(
            Address::new(crate::AUTHORITY_ADDRESS).expect("valid"),
            airlock_node::Access::Service,
            Arc::new(self),
        );
    }
}

impl Worker for Authority {
    fn handle(&self, node: &Node, msg: Message) {
        let Some(peer) = msg.peer().cloned() else {
            tracing::warn!("authority request without a secure channel refused");
            return;
        };
        if msg.payload.len() > 64 * 1024 || msg.ret.is_empty() {
            return;
        }
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            // Over the cap: nothing was decided, the caller should try again a little later.
            tracing::debug!(caller = %peer.identifier, "authority busy, request refused");
            answer(node, msg.ret, &busy_answer(self.limits.max_in_flight));
            return;
        };
        let body = msg.payload.data().to_vec();
        let (cfg, node, ret) = (self.cfg.clone(), node.clone(), msg.ret);
        let limiter = self.limiter.clone();
        let project = self.cfg.project.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let caller = peer.identifier;
            let answer_v = async {
                let req: AuthorityRequest = serde_json::from_slice(&body)
                    .map_err(|e| AuthorityError::BadRequest(e.to_string()))?;
                let deleting = matches!(req, AuthorityRequest::MemberDelete { .. });
                let v = process(&cfg, Some(&limiter), &caller, req).await?;
                let revoked = if deleting {
                    revoked_set(&cfg.store).await
                } else {
                    None
                };
                Ok::<_, AuthorityError>((v, revoked))
            }
            .await;
            let v = match answer_v {
                Ok((v, revoked)) => {
                    if let Some(set) = revoked {
                        // Cut the deleted member off this node at once: its channels (and with
                        // them its relay registrations and portal paths) close.
                        node.set_revoked(&project, set);
                    }
                    json!({"ok": true, "result": v})
                }
                // A store failure decides nothing: the caller should try again (elsewhere).
                Err(e) if e.is_retryable() => {
                    json!({"ok": false, "error": crate::error_text(&e), "retry": true})
                }
                Err(e) => json!({"ok": false, "error": crate::error_text(&e)}),
            };
            answer(&node, ret, &v);
        });
    }
}

/// The answer to a request over the cap of requests in flight: undecided, try again.
fn busy_answer(max_in_flight: usize) -> Value {
    json!({
        "ok": false,
        "error": format!(
            "the project's authority is busy ({max_in_flight} requests in flight); try again in a moment"
        ),
        "retry": true,
    })
}

/// Sends `v` back along `ret`.
fn answer(node: &Node, ret: Route, v: &Value) {
    node.dispatch(Message::new(
        ret,
        Route::single(Address::new(crate::AUTHORITY_ADDRESS).expect("valid")),
        Packet::copy_from(v.to_string().as_bytes()),
    ));
}
