//! TCP portals: inlets accept client connections and carry each as a stream over a secure
//! channel to an outlet, which connects to the target service.
//!
//! * [`link`] — a portal link: the streams of one inlet over one channel, with flow control;
//! * [`stream`] — moving bytes between one local socket and its stream;
//! * [`socket`] — that local socket: TCP, or a socket pair with a service in this process;
//! * [`target`] — where an outlet's streams go (TCP, or such a service);
//! * [`inlet`] — the listening side, which (re-)establishes its link in the background;
//! * [`outlet`] — the service side, reachable only through a secure channel;
//! * [`registry`] — the node's inlets and outlets by name;
//! * [`PortalContext`] — what all of them work with instead of the node.

mod context;
pub mod inlet;
pub mod link;
pub mod outlet;
pub mod registry;
pub mod socket;
pub mod stream;
pub mod target;
#[cfg(test)]
mod tests;

pub use context::PortalContext;
pub use inlet::{Inlet, InletError, InletInfo, InletSpec, InletStatus, LinkError};
pub use outlet::{Outlet, OutletInfo, OutletSpec};
pub use registry::{CreateInletError, CreateOutletError, Portals};
pub use socket::PortalSocket;
pub use target::{LocalHandler, OutletTarget};
