//! A routed message inside a node.

use airlock_authority::VerifiedCredential;
use airlock_identity::Identifier;
use airlock_wire::{Address, Packet, Route};
use std::sync::{Arc, RwLock};

/// The authenticated peer of the secure channel a message arrived through. Set only by a
/// channel's decrypting end on this node; never read from the wire, so it cannot be forged.
#[derive(Debug, Clone)]
pub struct ChannelPeer {
    /// The peer's identifier.
    pub identifier: Identifier,
    /// The local (encrypting) address of the channel: replies go through it.
    pub channel: Address,
    /// The peer's current verified credential (attributes signed by a trusted authority), if
    /// any. Replaced when the peer refreshes its credential on the live channel.
    pub credential: Arc<RwLock<Option<VerifiedCredential>>>,
}

impl ChannelPeer {
    /// The peer's verified credential if it is still valid at `now`.
    pub fn credential_at(&self, now: u64) -> Option<VerifiedCredential> {
        self.credential
            .read()
            .expect("credential lock")
            .clone()
            .filter(|c| c.expires_at >= now)
    }
}

/// A message being routed on this node.
#[derive(Debug)]
pub struct Message {
    /// Remaining hops; the first one is the worker that handles the message next.
    pub onward: Route,
    /// Where answers go.
    pub ret: Route,
    /// The payload.
    pub payload: Packet,
    /// Set when the message came out of a secure channel.
    pub peer: Option<Arc<ChannelPeer>>,
}

impl Message {
    /// A message with no channel peer.
    pub fn new(onward: Route, ret: Route, payload: Packet) -> Self {
        Message {
            onward,
            ret,
            payload,
            peer: None,
        }
    }
}
