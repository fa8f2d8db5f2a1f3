//! The `kafka_keys` service of a project node: the key directory of Kafka record encryption
//! (docs/kafka-encryption.md §7, docs/protocol.md §9.9).
//!
//! Members reach it over their secure channel to the project, as they reach the authority; the
//! caller is the channel's authenticated peer and every request first checks that it is a
//! current member (deleted members are refused at once). It keeps consumer key attestations,
//! key records and their grants in the project store — public keys and sealed DEKs only, so a
//! compromised directory can deny service but not read a record.
//!
//! * `requests` — deciding one request (who may publish, store, add to and read what);
//! * [`KeyDirectoryError`] — why the directory refused, with a stable code per reason;
//! * [`client`] — the member side: [`KeyDirectoryClient`];
//! * [`source`] — [`DirectoryKeySource`], the key source of this node's encrypting Kafka inlets;
//! * [`KeyDirectory`] — the worker: caps requests in flight, decides each in a task, answers.

pub mod client;
mod error;
mod requests;
pub mod source;

pub use client::{FetchedKey, KeyDirectoryClient, ListedConsumer, OwnKey};
pub use error::{ClientError, KeyDirectoryError, RefusalCode};
pub use requests::KeyDirectoryRequest;
pub use source::DirectoryKeySource;

use crate::authority::AuthorityConfig;
use airlock_node::{Message, Node, Worker};
use airlock_wire::{Address, Packet, Route};
use serde_json::{json, Value};
use std::sync::Arc;

/// The service address of the key directory on a project node.
pub const KAFKA_KEYS_ADDRESS: &str = "kafka_keys";
/// Largest request body: a key record with [`airlock_kafka_keys::MAX_GRANTS`] grants, hex in
/// JSON, fits.
pub const MAX_REQUEST_LEN: usize = 512 * 1024;
/// Requests decided at once; more are answered "busy, try again".
pub const MAX_IN_FLIGHT: usize = 64;
/// Consumer keys in one `list-consumers` answer (the client pages with `after`).
pub const LIST_PAGE: u32 = 200;
/// Key records in one `own-keys` answer (the client pages with `after`).
pub const OWN_KEYS_PAGE: u32 = 64;

/// The service worker. It needs the authority's configuration: its store, and its identity to
/// issue the credentials listed with each consumer key.
pub struct KeyDirectory {
    cfg: Arc<AuthorityConfig>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl KeyDirectory {
    /// A directory over the authority's `cfg` (the same store and identity).
    pub fn new(cfg: AuthorityConfig) -> Self {
        KeyDirectory {
            cfg: Arc::new(cfg),
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// Registers the service on `node` at [`KAFKA_KEYS_ADDRESS`].
    pub fn register(self, node: &Node) {
        node.router().register(
            Address::new(KAFKA_KEYS_ADDRESS).expect("valid"),
            airlock_node::Access::Service,
            Arc::new(self),
        );
    }
}

impl Worker for KeyDirectory {
    fn handle(&self, node: &Node, msg: Message) {
        let Some(peer) = msg.peer().cloned() else {
            tracing::warn!("kafka key directory request without a secure channel refused");
            return;
        };
        if msg.ret.is_empty() {
            return;
        }
        if msg.payload.len() > MAX_REQUEST_LEN {
            let e = KeyDirectoryError::BadRequest(format!(
                "the request is {} bytes, more than {MAX_REQUEST_LEN}",
                msg.payload.len()
            ));
            answer(node, msg.ret, &refusal(&e));
            return;
        }
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            let busy = json!({
                "ok": false,
                "error": format!("the project's key directory is busy ({MAX_IN_FLIGHT} requests in flight); try again in a moment"),
                "retry": true,
            });
            answer(node, msg.ret, &busy);
            return;
        };
        let body = msg.payload.data().to_vec();
        let (cfg, node, ret) = (self.cfg.clone(), node.clone(), msg.ret);
        tokio::spawn(async move {
            let _permit = permit;
            let caller = peer.identifier;
            let decided = async {
                let req: KeyDirectoryRequest = serde_json::from_slice(&body)
                    .map_err(|e| KeyDirectoryError::BadRequest(e.to_string()))?;
                requests::process(&cfg, &caller, req, airlock_node::unix_now()).await
            }
            .await;
            let v = match decided {
                Ok(v) => json!({"ok": true, "result": v}),
                Err(e) => {
                    tracing::debug!(caller = %caller, "kafka key directory refused: {e}");
                    refusal(&e)
                }
            };
            answer(&node, ret, &v);
        });
    }
}

/// `{"ok": false, "error", "code"}`, with `"retry": true` when nothing was decided.
fn refusal(e: &KeyDirectoryError) -> Value {
    let mut v = json!({"ok": false, "error": crate::error_text(e), "code": e.code().as_str()});
    if e.is_retryable() {
        v["retry"] = json!(true);
    }
    v
}

/// Sends `v` back along `ret`.
fn answer(node: &Node, ret: Route, v: &Value) {
    node.dispatch(Message::new(
        ret,
        Route::single(Address::new(KAFKA_KEYS_ADDRESS).expect("valid")),
        Packet::copy_from(v.to_string().as_bytes()),
    ));
}
