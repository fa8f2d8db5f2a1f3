//! Flow control: which messages may reach which address on a node.
//!
//! Every message routed on a node carries its [`Origin`] — produced by code on this node, read
//! from one TCP connection, or decrypted by one secure channel (with that channel's
//! authenticated peer). Every address is registered with an [`Access`] rule saying which origins
//! it accepts, and the router checks the rule before it hands a message to a worker
//! ([`Access::admits`]). This is a pure decision (no I/O), tested on its own and by a property
//! test over random routes.
//!
//! The rules, and why (docs/protocol.md §2.1 has the table):
//! * a TCP connection's sender (`tcp.N`) and a channel's encrypting end (`sc.X.e`) accept only
//!   local origins: nothing that arrives from the wire may make this node write to a connection
//!   or encrypt into a channel on its behalf (that would let anyone speak *as this node*);
//! * a channel's decrypting end (`sc.X.d`) accepts only what arrives over its first hop (the
//!   connection or outer channel its peer speaks through), so nobody else can feed it
//!   handshake or abort messages;
//! * the secure-channel listener (`api`) accepts handshakes from any connection and from
//!   channels that expose it;
//! * services (echo, outlets, relay service, authority, relay forwarders) accept only what a
//!   channel that exposes services decrypted — never bare TCP;
//! * portal links, reply slots and relay back-paths accept only the one hop they belong to.
//!
//! Local origins are accepted everywhere: code on this node only sends along routes it chose
//! itself or along the return route of the message it answers, whose first hop is always the
//! hop that message came from (the transport and the channel push it on receipt).

use crate::message::ChannelPeer;
use airlock_wire::Address;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// Where a message being routed on this node came from. Set by the node, never read from the
/// wire.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Produced by code on this node: a service answering, an inlet, a channel driver, the
    /// control API.
    Local,
    /// Read from the TCP connection with this address (`tcp.N`): unauthenticated.
    Transport(Address),
    /// Decrypted by a secure channel; carries the channel's encrypting address and its
    /// authenticated peer.
    Channel(Arc<ChannelPeer>),
}

impl Origin {
    /// The hop the message arrived over (a connection or a channel), if it came from the wire.
    pub fn hop(&self) -> Option<&Address> {
        match self {
            Origin::Local => None,
            Origin::Transport(a) => Some(a),
            Origin::Channel(p) => Some(&p.channel),
        }
    }

    /// A short description for logs.
    pub fn describe(&self) -> String {
        match self {
            Origin::Local => "this node".into(),
            Origin::Transport(a) => format!("connection {a}"),
            Origin::Channel(p) => format!("secure channel with {}", p.identifier),
        }
    }
}

/// What a secure channel lets its peer reach on this node, besides the decrypting ends of
/// channels nested in it and the replies to requests sent through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Exposure {
    /// Nothing else (channels this node opened to call someone).
    Nothing = 0,
    /// The secure-channel listener: the peer may open channels nested in this one (a relay
    /// registration channel, so relayed handshakes reach this node's `api`).
    Listener = 1,
    /// The node's services, outlets, relays and listener (channels the `api` listener accepted).
    Services = 2,
}

impl Exposure {
    fn from_u8(v: u8) -> Self {
        match v {
            2 => Exposure::Services,
            1 => Exposure::Listener,
            _ => Exposure::Nothing,
        }
    }
}

/// An [`Exposure`] that can be widened after the channel opened.
#[derive(Debug, Default)]
pub struct ExposureCell(AtomicU8);

impl ExposureCell {
    /// A cell holding `e`.
    pub fn new(e: Exposure) -> Self {
        ExposureCell(AtomicU8::new(e as u8))
    }

    /// Current exposure.
    pub fn get(&self) -> Exposure {
        Exposure::from_u8(self.0.load(Ordering::Acquire))
    }

    /// Sets the exposure.
    pub fn set(&self, e: Exposure) {
        self.0.store(e as u8, Ordering::Release);
    }
}

/// Which origins an address accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Only code on this node (TCP senders, channel encrypting ends).
    Local,
    /// Local code, and what arrives over exactly this hop (a connection or a channel's
    /// encrypting address): channel decrypting ends, portal links, reply slots, relay
    /// back-paths.
    Via(Address),
    /// The secure-channel listener: local code, any connection, and channels exposing at least
    /// the listener.
    Listener,
    /// A service: local code and channels exposing services.
    Service,
}

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The address accepts only local origins.
    LocalOnly,
    /// The address accepts only its own hop.
    WrongHop,
    /// Services are not reachable over bare TCP.
    NotThroughChannel,
    /// The channel the message came out of does not expose this address.
    NotExposed,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::LocalOnly => "the address accepts only messages from this node",
            Refusal::WrongHop => {
                "the address accepts only messages from its own connection or channel"
            }
            Refusal::NotThroughChannel => "services are reachable only through a secure channel",
            Refusal::NotExposed => {
                "the secure channel it came through does not expose this address"
            }
        })
    }
}

impl Access {
    /// The rule for a reply slot of a request sent along `route`: only the hop the request
    /// leaves by (or local code, for a route that stays on this node).
    pub fn reply_via(route: &airlock_wire::Route) -> Access {
        match route.first() {
            Some(h) => Access::Via(h.clone()),
            None => Access::Local,
        }
    }

    /// Decides whether a message from `origin` may reach an address with this rule.
    pub fn admits(&self, origin: &Origin) -> Result<(), Refusal> {
        match (self, origin) {
            (_, Origin::Local) => Ok(()),
            (Access::Local, _) => Err(Refusal::LocalOnly),
            (Access::Via(hop), o) => {
                if o.hop() == Some(hop) {
                    Ok(())
                } else {
                    Err(Refusal::WrongHop)
                }
            }
            (Access::Listener, Origin::Transport(_)) => Ok(()),
            (Access::Listener, Origin::Channel(p)) => {
                if p.exposure.get() >= Exposure::Listener {
                    Ok(())
                } else {
                    Err(Refusal::NotExposed)
                }
            }
            (Access::Service, Origin::Transport(_)) => Err(Refusal::NotThroughChannel),
            (Access::Service, Origin::Channel(p)) => {
                if p.exposure.get() >= Exposure::Services {
                    Ok(())
                } else {
                    Err(Refusal::NotExposed)
                }
            }
        }
    }
}

/// Prefixes of addresses a node generates for itself (connections, channel ends, portal links,
/// relay back-paths, reply slots): never service names, never worth an answer to a stranger.
pub const GENERATED_PREFIXES: &[&str] = &["tcp.", "sc.", "portal.", "relay.", "reply."];

/// True for an address a node generates for itself (see [`GENERATED_PREFIXES`]).
pub fn is_generated(addr: &Address) -> bool {
    GENERATED_PREFIXES
        .iter()
        .any(|p| addr.as_str().starts_with(p))
}

#[cfg(test)]
mod tests;
