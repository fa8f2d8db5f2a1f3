//! What the secure channel driver works with instead of the node: delivery (through the
//! transport's context, which also knows the connections a channel runs over), the channels'
//! own registry, the node's keys and rekey policy for handshakes, and access control for the
//! trust decisions made during them (revocation, credentials). Built once by the node.

use super::{Channels, SecureChannel};
use crate::access::AccessControl;
use crate::close_hooks::CloseHook;
use crate::config::NodeIdentity;
use crate::counters::Counters;
use crate::router::{Deliver, Router};
use crate::transport::TransportContext;
use airlock_channel::{LocalIdentity, RekeyPolicy};
use airlock_wire::Address;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

/// The narrow context of channel ends, handshakes and the `api` listener. Cheap to clone
/// (a handful of `Arc`s).
#[derive(Clone)]
pub struct ChannelContext {
    transport: TransportContext,
    registry: Arc<Channels>,
    access: Arc<AccessControl>,
    keys: Arc<RwLock<NodeIdentity>>,
    rekey: RekeyPolicy,
}

impl ChannelContext {
    /// A context over `transport`, remembering channels in `registry`, presenting `keys` and the
    /// credentials of `access` in handshakes.
    pub fn new(
        transport: TransportContext,
        registry: Arc<Channels>,
        access: Arc<AccessControl>,
        keys: Arc<RwLock<NodeIdentity>>,
        rekey: RekeyPolicy,
    ) -> Self {
        ChannelContext {
            transport,
            registry,
            access,
            keys,
            rekey,
        }
    }

    /// Delivery of routed messages.
    pub fn deliver(&self) -> &Deliver {
        self.transport.deliver()
    }

    /// The address table (channel ends register both their addresses).
    pub fn router(&self) -> &Router {
        self.transport.deliver().router()
    }

    /// The node's counters.
    pub fn counters(&self) -> &Counters {
        self.transport.deliver().counters()
    }

    /// The transport's context (connections the channels run over).
    pub fn transport(&self) -> &TransportContext {
        &self.transport
    }

    /// The channels' registry.
    pub fn registry(&self) -> &Channels {
        &self.registry
    }

    /// Access control (revocation, credentials, policies).
    pub fn access(&self) -> &AccessControl {
        &self.access
    }

    /// A node-unique number.
    pub fn next_id(&self) -> u64 {
        self.transport.next_id()
    }

    /// What this node presents in handshakes now (the purpose key may rotate).
    pub fn local_identity(&self) -> LocalIdentity {
        let id = self.keys.read().expect("identity");
        LocalIdentity {
            history: id.secret.history().encode(),
            attestation: id.purpose.attestation.clone(),
            purpose_private: id.purpose.private_bytes(),
            credentials: self.access.credentials(),
        }
    }

    /// The channel rekey policy.
    pub fn rekey_policy(&self) -> RekeyPolicy {
        self.rekey
    }

    /// The channel whose encrypting address is `a`.
    pub fn channel(&self, a: &Address) -> Option<Arc<SecureChannel>> {
        self.registry.get(a)
    }

    /// The remote socket address of connection `a`.
    pub fn connection_peer(&self, a: &Address) -> Option<SocketAddr> {
        self.transport.registry().get(a).map(|c| c.peer())
    }

    /// Responder handshakes in progress (from `ip` only, if given).
    pub fn pending_handshakes(&self, ip: Option<IpAddr>) -> usize {
        self.registry.handshaking(ip)
    }

    /// Registers `hook` to run when the connection or channel at `addr` closes.
    pub fn on_close(&self, addr: &Address, hook: CloseHook) -> Option<u64> {
        if let Some(c) = self.transport.registry().get(addr) {
            return Some(c.on_close(hook));
        }
        if let Some(ch) = self.registry.get(addr) {
            return Some(ch.on_close(hook));
        }
        if let Some(l) = self.transport.registry().link(addr) {
            return Some(l.on_close(hook));
        }
        None
    }

    /// Removes a hook registered with [`ChannelContext::on_close`].
    pub fn remove_close_hook(&self, addr: &Address, id: u64) {
        if let Some(c) = self.transport.registry().get(addr) {
            c.remove_hook(id);
        } else if let Some(ch) = self.registry.get(addr) {
            ch.remove_hook(id);
        } else if let Some(l) = self.transport.registry().link(addr) {
            l.remove_hook(id);
        }
    }
}

impl AsRef<ChannelContext> for ChannelContext {
    fn as_ref(&self) -> &ChannelContext {
        self
    }
}

impl AsRef<TransportContext> for ChannelContext {
    fn as_ref(&self) -> &TransportContext {
        &self.transport
    }
}
