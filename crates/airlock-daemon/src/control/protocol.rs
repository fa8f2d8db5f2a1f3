//! The control protocol between the CLI and a running node: one JSON request per line, one
//! JSON response per line, over the node's private Unix socket.
//!
//! A request is an object tagged by `op` (`{"op":"inlet-list"}`, `{"op":"outlet-delete",
//! "name":"db"}`); a response is `{"ok":true,"result":…}` or `{"ok":false,"error":"…"}`. Each
//! request has one result type, named on its variant below. These types are the whole
//! contract: the node builds its answers from them and the CLI reads its answers into them, so
//! neither side picks fields out of untyped JSON. A line that is not a request gets an error
//! response naming what is wrong ([`RequestError`]), never a dropped connection or a panic.

use airlock_node::kafka::{KafkaInletSpec, KafkaOutletSpec};
use airlock_node::portal::{InletSpec, OutletSpec};
pub use airlock_node::FailureKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A control request. The result type of each is given in its documentation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Node status → [`NodeStatus`].
    Status,
    /// Graceful stop → `"stopping"`; the node closes the connection when it has exited.
    Stop,
    /// Create an outlet → [`OutletView`].
    OutletCreate {
        /// What to create.
        spec: OutletSpec,
    },
    /// List outlets → `Vec<`[`OutletView`]`>`.
    OutletList,
    /// Delete an outlet → [`Deleted`]`<String>`.
    OutletDelete {
        /// Name.
        name: String,
    },
    /// Create an inlet → [`InletView`].
    InletCreate {
        /// What to create.
        spec: InletSpec,
        /// How long to wait for the link to be up or refused for good (default 3 s). A
        /// permanent refusal within it is an error and removes the inlet again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_ms: Option<u64>,
    },
    /// List inlets → `Vec<`[`InletView`]`>`.
    InletList,
    /// Delete an inlet → [`Deleted`]`<String>`.
    InletDelete {
        /// Name.
        name: String,
    },
    /// Create a Kafka outlet → [`KafkaOutletView`].
    KafkaOutletCreate {
        /// What to create.
        spec: KafkaOutletSpec,
    },
    /// List Kafka outlets → `Vec<`[`KafkaOutletView`]`>`.
    KafkaOutletList,
    /// Delete a Kafka outlet → [`Deleted`]`<String>`.
    KafkaOutletDelete {
        /// Name.
        name: String,
    },
    /// Create a Kafka inlet → [`KafkaInletView`].
    KafkaInletCreate {
        /// What to create.
        spec: KafkaInletSpec,
        /// How long to wait for the bootstrap link to be up or refused for good (default 3 s),
        /// as for [`Request::InletCreate`]: a permanent refusal within it is an error and
        /// removes the inlet again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_ms: Option<u64>,
    },
    /// List Kafka inlets → `Vec<`[`KafkaInletView`]`>`.
    KafkaInletList,
    /// Delete a Kafka inlet → [`Deleted`]`<String>`.
    KafkaInletDelete {
        /// Name.
        name: String,
    },
    /// Open a secure channel → [`ChannelOpened`].
    ChannelCreate {
        /// Route to the listener, e.g. `/ip4/127.0.0.1/tcp/4000/service/api`.
        to: String,
        /// Acceptable peer identifiers (empty = any).
        authorized: Vec<String>,
        /// Handshake timeout.
        timeout_ms: u64,
    },
    /// List channels → `Vec<`[`ChannelView`]`>`.
    ChannelList,
    /// Close a channel → [`Deleted`]`<String>`.
    ChannelDelete {
        /// Encrypting address.
        address: String,
    },
    /// Set a policy → [`PolicyView`].
    PolicyCreate {
        /// Resource name.
        resource: Option<String>,
        /// Resource type.
        resource_type: Option<String>,
        /// S-expression.
        expression: String,
    },
    /// List policies → `Vec<`[`PolicyView`]`>`.
    PolicyList,
    /// Delete a policy → [`Deleted`]`<bool>`.
    PolicyDelete {
        /// Resource name.
        resource: Option<String>,
        /// Resource type.
        resource_type: Option<String>,
    },
    /// Create (and keep registered) a relay → [`RelayCreated`].
    RelayCreate {
        /// Relay name.
        name: String,
        /// Where to register it: `/project/P` or a route to a node.
        at: String,
        /// Identities accepted at the relay host (empty: any).
        #[serde(default)]
        authorized: Vec<String>,
        /// How long to wait for the registration or a permanent refusal; without it, the node
        /// waits (at most 10 s) for the first attempt's answer. A permanent refusal is an error
        /// and removes the relay again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_ms: Option<u64>,
    },
    /// List relays → `Vec<`[`RelayView`]`>`.
    RelayList,
    /// Delete a relay → [`Deleted`]`<String>`.
    RelayDelete {
        /// Relay name.
        name: String,
    },
    /// Send a message and wait for one reply → [`MessageReply`].
    MessageSend {
        /// Route.
        to: String,
        /// Payload (UTF-8).
        payload: String,
        /// Reply timeout.
        timeout_ms: u64,
        /// Acceptable identifiers for the last secure channel in the route.
        authorized: Vec<String>,
    },
}

/// The `op` of every request this version understands.
const OPS: &[&str] = &[
    "status",
    "stop",
    "outlet-create",
    "outlet-list",
    "outlet-delete",
    "inlet-create",
    "inlet-list",
    "inlet-delete",
    "kafka-outlet-create",
    "kafka-outlet-list",
    "kafka-outlet-delete",
    "kafka-inlet-create",
    "kafka-inlet-list",
    "kafka-inlet-delete",
    "channel-create",
    "channel-list",
    "channel-delete",
    "policy-create",
    "policy-list",
    "policy-delete",
    "relay-create",
    "relay-list",
    "relay-delete",
    "message-send",
];

/// Why a line is not a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not a JSON object with a string `op`.
    #[error("malformed request ({0}): send one JSON object with an \"op\" per line")]
    Malformed(String),
    /// An `op` this node does not know.
    #[error("unknown request {0:?} (the node may run another airlock version than its client: restart it with the version of the CLI)")]
    UnknownOp(String),
    /// A known `op` with missing or ill-typed fields.
    #[error("invalid {op} request: {detail}")]
    Invalid {
        /// The request's `op`.
        op: String,
        /// What is wrong with it.
        detail: String,
    },
}

impl Request {
    /// Decodes one request line.
    pub fn decode(line: &str) -> Result<Request, RequestError> {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| RequestError::Malformed(e.to_string()))?;
        let op = match value.get("op") {
            Some(serde_json::Value::String(op)) => op.clone(),
            Some(_) => return Err(RequestError::Malformed("\"op\" is not a string".into())),
            None if value.is_object() => {
                return Err(RequestError::Malformed("no \"op\"".into()));
            }
            None => return Err(RequestError::Malformed("not a JSON object".into())),
        };
        if !OPS.contains(&op.as_str()) {
            return Err(RequestError::UnknownOp(op));
        }
        serde_json::from_value(value).map_err(|e| RequestError::Invalid {
            op,
            detail: e.to_string(),
        })
    }
}

/// One response line: `{"ok":true,"result":…}` or `{"ok":false,"error":"…"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response<T> {
    /// Whether the request succeeded.
    pub ok: bool,
    /// The result, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<T>,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<T> Response<T> {
    /// A success.
    pub fn success(result: T) -> Self {
        Response {
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    /// A failure.
    pub fn failure(error: String) -> Self {
        Response {
            ok: false,
            result: None,
            error: Some(error),
        }
    }
}

/// Result of [`Request::Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Node name.
    pub name: String,
    /// The node's identifier.
    pub identifier: String,
    /// Bound TCP listener address.
    pub tcp_listen: String,
    /// Process id.
    pub pid: u32,
    /// Seconds since the node started.
    pub uptime_secs: u64,
    /// Open transport connections.
    pub connections: usize,
    /// Secure channels.
    pub secure_channels: usize,
    /// Inlets.
    pub inlets: usize,
    /// Outlets.
    pub outlets: usize,
}

/// Whether an inlet has a live link to its outlet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkStatus {
    /// Linked: client connections go through.
    Up,
    /// Not linked (yet): the inlet keeps trying.
    Down,
}

/// Whether a relay this node keeps is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayStatus {
    /// Registered: others reach the node at the relay's address.
    Up,
    /// Not registered (yet): the node keeps trying.
    Down,
}

impl std::fmt::Display for LinkStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LinkStatus::Up => "up",
            LinkStatus::Down => "down",
        })
    }
}

impl std::fmt::Display for RelayStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RelayStatus::Up => "up",
            RelayStatus::Down => "down",
        })
    }
}

/// An outlet, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutletView {
    /// Service address name.
    pub name: String,
    /// Route suffix to use in inlets: `/service/NAME`.
    pub address: String,
    /// Target `host:port`.
    pub to: String,
    /// Links from inlets currently open.
    pub links: usize,
    /// Client connections open now.
    pub connections: usize,
    /// Bytes from inlets to the target.
    pub bytes_in: u64,
    /// Bytes from the target to inlets.
    pub bytes_out: u64,
    /// Messages refused (not through a secure channel, or by policy).
    pub refused: u64,
}

/// An inlet, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InletView {
    /// Name (alias).
    pub name: String,
    /// Bound address.
    pub from: String,
    /// Route to the outlet.
    pub to: String,
    /// Whether a link to the outlet is established.
    pub status: LinkStatus,
    /// The outlet node's identifier, when linked.
    pub peer: Option<String>,
    /// Open client connections.
    pub connections: usize,
    /// Client connections accepted in total.
    pub connections_total: u64,
    /// Bytes from clients to the outlet.
    pub bytes_out: u64,
    /// Bytes from the outlet to clients.
    pub bytes_in: u64,
    /// Last error establishing the link.
    pub last_error: Option<String>,
    /// Whether retrying can fix the last error (`permanent`: a refusal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_kind: Option<FailureKind>,
    /// The outlet node identities the inlet accepts, as `tcp-inlet create` shows them (the
    /// node does not send them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorized: Vec<String>,
}

/// A Kafka outlet, as listed: the bootstrap outlet and the broker outlets made for it, with
/// their counters summed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaOutletView {
    /// Service address name of the bootstrap outlet (brokers are at `NAME-broker-ID`).
    pub name: String,
    /// Route suffix to use in Kafka inlets: `/service/NAME`.
    pub address: String,
    /// The cluster's bootstrap server, `host:port`.
    pub bootstrap_server: String,
    /// TLS to the bootstrap server and the brokers.
    #[serde(default)]
    pub tls: bool,
    /// The CA file trusted for TLS (none: the Mozilla roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<String>,
    /// Brokers the cluster advertised so far: `ID=host:port`.
    #[serde(default)]
    pub brokers: Vec<String>,
    /// Links from Kafka inlets currently open (bootstrap and brokers).
    pub links: usize,
    /// Client connections open now.
    pub connections: usize,
    /// Bytes from inlets to the cluster.
    pub bytes_in: u64,
    /// Bytes from the cluster to inlets.
    pub bytes_out: u64,
    /// Messages refused (not through a secure channel, or by policy).
    pub refused: u64,
}

/// A Kafka inlet, as listed: its bootstrap portal's link, and the counters of the bootstrap
/// and broker portals summed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaInletView {
    /// Name.
    pub name: String,
    /// Bootstrap address clients use (bound).
    pub from: String,
    /// Route to the Kafka outlet's node (through its secure channel).
    pub to: String,
    /// The Kafka outlet's service name at that node.
    pub outlet: String,
    /// Local ports for the brokers, `FIRST-LAST`.
    pub broker_ports: String,
    /// Brokers reached through this inlet so far: `ID=local address`.
    #[serde(default)]
    pub brokers: Vec<String>,
    /// Whether record values are encrypted end to end.
    #[serde(default)]
    pub encrypt: bool,
    /// With `encrypt`, the top-level fields of JSON values encrypted (`--encrypted-field`);
    /// empty: whole values.
    #[serde(default)]
    pub encrypted_fields: Vec<String>,
    /// Whether the bootstrap link to the outlet is established.
    pub status: LinkStatus,
    /// The outlet node's identifier, when linked.
    pub peer: Option<String>,
    /// Open client connections.
    pub connections: usize,
    /// Client connections accepted in total.
    pub connections_total: u64,
    /// Bytes from clients to the outlet.
    pub bytes_out: u64,
    /// Bytes from the outlet to clients.
    pub bytes_in: u64,
    /// Last error establishing the bootstrap link.
    pub last_error: Option<String>,
    /// Whether retrying can fix the last error (`permanent`: a refusal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_kind: Option<FailureKind>,
    /// The outlet node identities the inlet accepts, as the CLI recorded them (the node does
    /// not send them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorized: Vec<String>,
}

/// A secure channel, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelView {
    /// Encrypting address (use `/service/<address>` in routes).
    pub address: String,
    /// `initiator` or `responder`.
    pub role: String,
    /// The peer identifier once known.
    pub peer: Option<String>,
    /// `handshaking`, `open` or `closed`.
    pub status: String,
    /// Where it goes (initiator) or came from (responder).
    pub route: String,
    /// Seconds since creation.
    pub age_secs: u64,
    /// The peer's verified credential attributes, if any.
    pub attributes: Option<BTreeMap<String, String>>,
}

/// Result of [`Request::ChannelCreate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelOpened {
    /// `/service/ADDRESS` of the channel's encrypting end.
    pub address: String,
    /// The peer's identifier.
    pub peer: Option<String>,
}

/// A policy, as set or listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyView {
    /// Resource name, if the policy is for one resource.
    pub resource: Option<String>,
    /// Resource type.
    pub resource_type: Option<String>,
    /// The expression, canonical form.
    pub expression: String,
}

/// A relay this node keeps registered, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayView {
    /// Relay name.
    pub name: String,
    /// Route of the node holding the registration.
    pub at: String,
    /// Whether it is registered.
    pub status: RelayStatus,
    /// Where others reach this node.
    pub address: String,
    /// Last error, if any.
    pub last_error: Option<String>,
    /// Whether retrying can fix the last error (`permanent`: a refusal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_kind: Option<FailureKind>,
    /// Identities accepted at the relay host (empty: any, or the project for `/project/P`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorized: Vec<String>,
}

/// Result of [`Request::RelayCreate`]: the relay, and why it is not registered yet if the
/// first registration failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayCreated {
    /// The relay.
    #[serde(flatten)]
    pub relay: RelayView,
    /// The first registration's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Result of [`Request::MessageSend`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageReply {
    /// The reply's payload (UTF-8, lossy).
    pub reply: String,
    /// Who sent the reply, through the last secure channel of the route.
    pub peer: Option<String>,
}

/// Result of the delete requests: what was deleted (a name, or `true` for a policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted<T> {
    /// The deleted resource.
    pub deleted: T,
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
