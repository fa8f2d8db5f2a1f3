//! The address table of a node and the [`Worker`] trait.
//!
//! Every address is registered with the [`Access`] rule of its worker; the node's dispatcher
//! checks the rule against the message's origin before the worker sees the message.

use crate::flow_control::{Access, Origin, Refusal};
use crate::message::Message;
use crate::node::Node;
use airlock_wire::Address;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Something that handles messages addressed to it.
///
/// `handle` runs on the task that delivered the message (a TCP reader, a portal reader, a
/// control request) and must not block: anything slow is spawned or queued.
pub trait Worker: Send + Sync + 'static {
    /// Handles a message whose first onward address is this worker's (already admitted by the
    /// worker's [`Access`] rule).
    fn handle(&self, node: &Node, msg: Message);
}

/// The outcome of [`Router::lookup`].
pub enum Lookup {
    /// Nothing is registered at the address.
    Missing,
    /// The worker does not accept the message's origin.
    Refused(Refusal),
    /// The worker, which accepts the origin.
    Found(Arc<dyn Worker>),
}

/// A registered worker with its access rule.
#[derive(Clone)]
pub struct Entry {
    /// The worker.
    pub worker: Arc<dyn Worker>,
    /// Which origins it accepts.
    pub access: Access,
}

/// Maps addresses to workers.
#[derive(Default)]
pub struct Router {
    workers: RwLock<HashMap<Address, Entry>>,
}

impl Router {
    /// Registers a worker that accepts `access`; returns false if the address is taken.
    pub fn register(&self, addr: Address, access: Access, worker: Arc<dyn Worker>) -> bool {
        let mut w = self.workers.write().expect("router lock");
        if w.contains_key(&addr) {
            return false;
        }
        w.insert(addr, Entry { worker, access });
        true
    }

    /// Removes a worker.
    pub fn unregister(&self, addr: &Address) {
        self.workers.write().expect("router lock").remove(addr);
    }

    /// Looks up a worker and its access rule.
    pub fn get(&self, addr: &Address) -> Option<Entry> {
        self.workers.read().expect("router lock").get(addr).cloned()
    }

    /// Looks up the worker at `addr` and checks that it admits `origin` (no allocation: the
    /// hot path of every message).
    pub fn lookup(&self, addr: &Address, origin: &Origin) -> Lookup {
        let w = self.workers.read().expect("router lock");
        match w.get(addr) {
            None => Lookup::Missing,
            Some(e) => match e.access.admits(origin) {
                Ok(()) => Lookup::Found(e.worker.clone()),
                Err(r) => Lookup::Refused(r),
            },
        }
    }

    /// The access rule of an address.
    pub fn access(&self, addr: &Address) -> Option<Access> {
        self.workers
            .read()
            .expect("router lock")
            .get(addr)
            .map(|e| e.access.clone())
    }

    /// Number of registered workers.
    pub fn len(&self) -> usize {
        self.workers.read().expect("router lock").len()
    }

    /// True if nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
