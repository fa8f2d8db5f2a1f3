//! A routed message inside a node.

use crate::flow_control::{ExposureCell, Origin};
use airlock_credential::VerifiedCredential;
use airlock_identity::Identifier;
use airlock_wire::{Address, Packet, Route};
use std::sync::{Arc, RwLock};

/// The authenticated peer of the secure channel a message arrived through. Set only by a
/// channel's decrypting end on this node; never read from the wire, so it cannot be forged.
#[derive(Debug)]
pub struct ChannelPeer {
    /// The peer's identifier.
    pub identifier: Identifier,
    /// The local (encrypting) address of the channel: replies go through it.
    pub channel: Address,
    /// The peer's current verified credential (attributes signed by a trusted authority), if
    /// any. Replaced when the peer refreshes its credential on the live channel.
    pub credential: Arc<RwLock<Option<VerifiedCredential>>>,
    /// What the peer may reach on this node through the channel (see [`crate::flow_control`]).
    pub exposure: ExposureCell,
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
    /// Where it came from; the router admits it only to addresses that accept this origin.
    pub origin: Origin,
}

impl Message {
    /// A message produced by code on this node ([`Origin::Local`]).
    pub fn new(onward: Route, ret: Route, payload: Packet) -> Self {
        Message {
            onward,
            ret,
            payload,
            origin: Origin::Local,
        }
    }

    /// A message with the given origin.
    pub fn with_origin(onward: Route, ret: Route, payload: Packet, origin: Origin) -> Self {
        Message {
            onward,
            ret,
            payload,
            origin,
        }
    }

    /// The authenticated peer, when the message came out of a secure channel.
    pub fn peer(&self) -> Option<&Arc<ChannelPeer>> {
        match &self.origin {
            Origin::Channel(p) => Some(p),
            _ => None,
        }
    }
}
