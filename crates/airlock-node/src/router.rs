//! The address table of a node and the [`Worker`] trait.

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
    /// Handles a message whose first onward address is this worker's.
    fn handle(&self, node: &Node, msg: Message);
}

/// Maps addresses to workers.
#[derive(Default)]
pub struct Router {
    workers: RwLock<HashMap<Address, Arc<dyn Worker>>>,
}

impl Router {
    /// Registers a worker; returns false if the address is taken.
    pub fn register(&self, addr: Address, worker: Arc<dyn Worker>) -> bool {
        let mut w = self.workers.write().expect("router lock");
        if w.contains_key(&addr) {
            return false;
        }
        w.insert(addr, worker);
        true
    }

    /// Removes a worker.
    pub fn unregister(&self, addr: &Address) {
        self.workers.write().expect("router lock").remove(addr);
    }

    /// Looks up a worker.
    pub fn get(&self, addr: &Address) -> Option<Arc<dyn Worker>> {
        self.workers.read().expect("router lock").get(addr).cloned()
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
