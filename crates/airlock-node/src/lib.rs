//! The Airlock node runtime: the thin tokio shell around the sans-IO cores.
//!
//! A [`Node`] owns an identity, a [`router::Router`] of workers (services, secure channel ends,
//! TCP connections, portal links), TCP listeners and connections, and portals. Workers handle
//! messages synchronously on the task that received them — a TCP reader decrypts and hands data
//! to a portal stream without hopping through mailboxes — and only socket writes cross tasks.
//!
//! Layout:
//! * [`message`], [`router`] — routed messages, the address table and [`router::Deliver`];
//! * [`counters`] — the node's counters as a handle workers can bump;
//! * [`backoff`] — exponential back-off for the loops that retry in the background;
//! * [`config`] — how a node is started (keys, configuration) and the plain types its
//!   subsystems share;
//! * [`access`] — access control: policies, projects, credentials, revocation, admission;
//! * [`flow_control`] — which origins each address accepts (checked on every delivery);
//! * [`transport`] — TCP listeners and connections (framing from `airlock-wire`);
//! * [`channel`] — the secure channel driver (core from `airlock-channel`) and the `api` listener;
//! * [`services`] — `echo` and `uppercase`;
//! * [`portal`] — TCP inlets and outlets (flow control from `airlock-portal`);
//! * [`stream`] — stream mailboxes on a hub (Kafka) and links that run channels through them;
//! * [`resolve`] — turning `/ip4/…/secure/api/service/x` into a route;
//! * [`node`] — the node itself and its lifecycle; the only module that wires the subsystems
//!   together, handing each kind of worker a narrow context instead of the node.

#![warn(missing_docs)]

pub mod access;
pub mod backoff;
pub mod channel;
pub mod close_hooks;
pub mod config;
pub mod counters;
pub mod failure;
pub mod flow_control;
pub mod kafka;
pub mod listener;
pub mod message;
pub mod node;
pub mod policy;
pub mod portal;
pub mod resolve;
pub mod router;
pub mod services;
pub mod stream;
pub mod transport;

#[cfg(test)]
mod test_support;

pub use failure::{Classify, FailureKind};
pub use flow_control::{Access, Exposure, Origin};
pub use message::{ChannelPeer, Message};
pub use node::Worker;
pub use node::{Node, NodeConfig, NodeIdentity, ProjectRoute, StartError};
pub use router::{Deliver, Endpoint};

/// Current time as Unix seconds (the one clock of the workspace, from `airlock_wire::time`).
pub use airlock_wire::time::unix_now;

/// A random u64 from the OS RNG (for local addresses).
pub fn random_u64() -> u64 {
    rand::random()
}
