//! What portal workers (links, their streams, outlets, inlets) work with instead of the node:
//! the channel context their links send through, the access-control check for `tcp-inlet` and
//! `tcp-outlet` policies, and the counters. Built once by the node; cheap to clone.

use crate::access::AccessControl;
use crate::channel::{ChannelContext, SecureChannel};
use crate::counters::Counters;
use crate::message::ChannelPeer;
use crate::router::{Deliver, Router};
use crate::transport::TransportContext;
use airlock_wire::Address;
use std::sync::Arc;

/// The narrow context of portal workers.
#[derive(Clone)]
pub struct PortalContext {
    channels: ChannelContext,
    node_name: Arc<str>,
}

impl PortalContext {
    /// A context over `channels` (links send through secure channels; inlets open them) for the
    /// node called `node_name` (in error messages).
    pub fn new(channels: ChannelContext, node_name: &str) -> Self {
        PortalContext {
            channels,
            node_name: node_name.into(),
        }
    }

    /// The channel context links send through and inlets open channels with.
    pub fn channels(&self) -> &ChannelContext {
        &self.channels
    }

    /// Delivery of routed messages.
    pub fn deliver(&self) -> &Deliver {
        self.channels.deliver()
    }

    /// The address table (links and outlets register there).
    pub fn router(&self) -> &Router {
        self.channels.router()
    }

    /// The node's counters.
    pub fn counters(&self) -> &Counters {
        self.channels.counters()
    }

    /// Access control.
    pub fn access(&self) -> &AccessControl {
        self.channels.access()
    }

    /// The node's name (for messages).
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// The channel whose encrypting address is `a`.
    pub fn channel(&self, a: &Address) -> Option<Arc<SecureChannel>> {
        self.channels.channel(a)
    }

    /// Decides whether `peer` may use resource `name` of type `rtype` (see [`crate::policy`]).
    pub fn authorize(&self, name: &str, rtype: &str, peer: &ChannelPeer) -> Result<(), String> {
        self.channels.access().authorize(name, rtype, peer)
    }

    /// True once the node started draining: outlets refuse new connections.
    pub fn is_draining(&self) -> bool {
        self.counters().is_draining()
    }
}

impl AsRef<PortalContext> for PortalContext {
    fn as_ref(&self) -> &PortalContext {
        self
    }
}

impl AsRef<ChannelContext> for PortalContext {
    fn as_ref(&self) -> &ChannelContext {
        &self.channels
    }
}

impl AsRef<TransportContext> for PortalContext {
    fn as_ref(&self) -> &TransportContext {
        self.channels.transport()
    }
}
