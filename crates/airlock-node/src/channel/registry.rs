//! The channels' own registry: every channel end on the node by its encrypting address, and the
//! limits on handshakes in progress (how many are being answered at once, and the gate that
//! makes "check the limits, then register a responder" atomic).

use super::{ChannelStatus, SecureChannel, MAX_HANDSHAKE_WORK};
use airlock_wire::Address;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Semaphore;

/// Channel ends by encrypting address, and handshake admission state.
pub struct Channels {
    map: Mutex<HashMap<Address, Arc<SecureChannel>>>,
    handshake_work: Arc<Semaphore>,
    responder_gate: Mutex<()>,
}

impl Default for Channels {
    fn default() -> Self {
        Channels {
            map: Mutex::new(HashMap::new()),
            handshake_work: Arc::new(Semaphore::new(MAX_HANDSHAKE_WORK)),
            responder_gate: Mutex::new(()),
        }
    }
}

impl Channels {
    pub(super) fn remember(&self, c: Arc<SecureChannel>) {
        self.map
            .lock()
            .expect("channels")
            .insert(c.address().clone(), c);
    }

    pub(super) fn forget(&self, a: &Address) {
        self.map.lock().expect("channels").remove(a);
    }

    /// The channel whose encrypting address is `a`.
    pub fn get(&self, a: &Address) -> Option<Arc<SecureChannel>> {
        self.map.lock().expect("channels").get(a).cloned()
    }

    /// Every channel end.
    pub fn all(&self) -> Vec<Arc<SecureChannel>> {
        self.map
            .lock()
            .expect("channels")
            .values()
            .cloned()
            .collect()
    }

    /// Handshakes in progress, optionally only those of responders reached from `ip`.
    pub fn handshaking(&self, ip: Option<std::net::IpAddr>) -> usize {
        self.map
            .lock()
            .expect("channels")
            .values()
            .filter(|c| {
                c.status() == ChannelStatus::Handshaking && (ip.is_none() || c.source_ip() == ip)
            })
            .count()
    }

    /// Slots for answering handshake messages 1 off the reading task.
    pub(super) fn handshake_work(&self) -> Arc<Semaphore> {
        self.handshake_work.clone()
    }

    /// Serialises "check the handshake limits, then register a responder".
    pub(super) fn responder_gate(&self) -> MutexGuard<'_, ()> {
        self.responder_gate.lock().expect("responder gate")
    }
}
