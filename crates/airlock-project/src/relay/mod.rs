//! Relays: a node behind NAT dials out to a reachable node (usually the project node) and
//! registers a name; others reach it at `/project/P/service/forward_to_NAME` (or
//! `ROUTE/service/forward_to_NAME` for a relay at another node).
//!
//! * [`RelayService`] (every node, address `relays`): accepts `{"op":"register","name":…}` only
//!   through a secure channel. On a project node ([`RelayAccess::ProjectPermission`]) the
//!   registrant must hold a valid credential from the project whose `airlock.relay` attribute
//!   grants NAME (or `*`); revoked members are refused. On every node the `relay` policies apply
//!   too (lookup name → type `relay` → default). It registers a forwarder `forward_to_NAME` that
//!   sends every message back through the registering channel; when that channel closes, the
//!   forwarder goes. A live name held by another identity is not taken over; the same identity
//!   re-registering replaces its old registration. A name is **bound** to the identity that
//!   first registered it ([`RelayBindings`]: the authority store on a project node, memory
//!   elsewhere): nobody else may register it, also after the owner's channel dropped or the node
//!   restarted, until the binding is released (`airlock project relay release NAME`, or deleting
//!   the owner from the project).
//! * [`RelayKeeper`] (the node that owns the relay): keeps a registration alive — registers,
//!   waits until the channel drops, and registers again with jittered exponential back-off.

mod bindings;
mod forwarder;
mod keeper;
mod owner;
mod service;

pub use bindings::{BindFuture, BindingError, MemoryBindings, RelayBindings};
pub use forwarder::{CALLER_RECHECK, MAX_CALLERS_PER_RELAY};
pub use keeper::{
    can_pin_host, relay_host_route, RegisterError, RelayInfo, RelayKeeper, RelayStatus,
};
pub use owner::{inlet_authorized_via, relay_owner, RelayOwnerError};
pub use service::{RegistrationRefused, RelayAccess, RelayService};

/// The relay service address on a project node.
pub const RELAY_SERVICE: &str = "relays";

/// Most relay names one secure channel may hold at once.
pub const MAX_RELAYS_PER_CHANNEL: usize = 16;

/// Relay names: 1-48 of letters, digits, `-`, `_`, `.`.
pub fn valid_relay_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 48
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}
