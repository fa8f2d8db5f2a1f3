//! The transport's bookkeeping: [`Transport`], the registry of live connections, reusable
//! outbound connections and listening tasks that the node owns, and [`TransportContext`], the
//! narrow handle connections and listeners work with instead of the node.

use super::Connection;
use crate::close_hooks::Lifetime;
use crate::router::Deliver;
use airlock_wire::Address;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// The transport's own registry: live connections by address, reusable outbound connections
/// by target, and the listening tasks. Owned by the node; connections add and remove
/// themselves.
#[derive(Default)]
pub struct Transport {
    outbound: Mutex<HashMap<String, Address>>,
    connections: Mutex<HashMap<Address, Arc<Connection>>>,
    /// Links that are not TCP connections (stream pairs), by address: what channels over them
    /// watch to close with them.
    links: Mutex<HashMap<Address, Arc<Lifetime>>>,
    listeners: Mutex<Vec<JoinHandle<()>>>,
}

impl Transport {
    /// The live outbound connection to `target`, if any.
    pub(super) fn outbound(&self, target: &str) -> Option<Address> {
        self.outbound.lock().expect("outbound").get(target).cloned()
    }

    pub(super) fn remember_outbound(&self, target: &str, addr: Address) {
        self.outbound
            .lock()
            .expect("outbound")
            .insert(target.to_string(), addr);
    }

    pub(super) fn forget_outbound(&self, target: &str, addr: &Address) {
        let mut m = self.outbound.lock().expect("outbound");
        if m.get(target) == Some(addr) {
            m.remove(target);
        }
    }

    pub(super) fn remember(&self, c: Arc<Connection>) {
        self.connections
            .lock()
            .expect("conns")
            .insert(c.address().clone(), c);
    }

    pub(super) fn forget(&self, a: &Address) {
        self.connections.lock().expect("conns").remove(a);
    }

    /// The connection at address `a`.
    pub fn get(&self, a: &Address) -> Option<Arc<Connection>> {
        self.connections.lock().expect("conns").get(a).cloned()
    }

    /// Registers a link that is not a TCP connection (a stream pair) at `a`.
    pub fn remember_link(&self, a: Address, life: Arc<Lifetime>) {
        self.links.lock().expect("links").insert(a, life);
    }

    /// Forgets the link at `a` (after closing it).
    pub fn forget_link(&self, a: &Address) {
        self.links.lock().expect("links").remove(a);
    }

    /// The link at `a`, if one is registered.
    pub fn link(&self, a: &Address) -> Option<Arc<Lifetime>> {
        self.links.lock().expect("links").get(a).cloned()
    }

    /// Every live connection.
    pub fn all(&self) -> Vec<Arc<Connection>> {
        self.connections
            .lock()
            .expect("conns")
            .values()
            .cloned()
            .collect()
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.connections.lock().expect("conns").len()
    }

    /// True if there is no connection.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn track_listener(&self, h: JoinHandle<()>) {
        self.listeners.lock().expect("listeners").push(h);
    }

    /// Stops the listeners and waits until their sockets are closed (so the port can be reused
    /// at once).
    pub(crate) async fn stop_listeners(&self) {
        let listeners: Vec<_> = self
            .listeners
            .lock()
            .expect("listeners")
            .drain(..)
            .collect();
        for l in listeners {
            l.abort();
            let _ = l.await;
        }
    }
}

/// What connections and listeners work with: delivery of what they read, the transport's
/// registry, and the node's source of unique numbers (connection addresses). Built once by the
/// node; cheap to clone.
#[derive(Clone)]
pub struct TransportContext {
    pub(super) deliver: Deliver,
    pub(super) registry: Arc<Transport>,
    ids: Arc<AtomicU64>,
}

impl TransportContext {
    /// A context delivering through `deliver`, keeping connections in `registry`, numbering them
    /// from `ids`.
    pub fn new(deliver: Deliver, registry: Arc<Transport>, ids: Arc<AtomicU64>) -> Self {
        TransportContext {
            deliver,
            registry,
            ids,
        }
    }

    /// Delivery of routed messages.
    pub fn deliver(&self) -> &Deliver {
        &self.deliver
    }

    /// The transport's registry.
    pub fn registry(&self) -> &Transport {
        &self.registry
    }

    /// A node-unique number.
    pub fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }
}

impl AsRef<TransportContext> for TransportContext {
    fn as_ref(&self) -> &TransportContext {
        self
    }
}
