//! The relay host's data path: `forward_to_NAME` carries callers' messages onto the registration
//! channel, and a per-caller back-path (`relay.<random>`) carries the owner's answers back.

use airlock_node::channel::SecureChannel;
use airlock_node::{Access, Message, Node, Worker};
use airlock_wire::Address;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a relay host's forwarder dropped a caller's message (logged; the caller is not told).
#[derive(Debug, thiserror::Error)]
enum ForwardRefused {
    #[error("no return route")]
    NoReturnRoute,
    #[error("{0}")]
    NotMember(String),
    #[error("relay {0:?} serves {MAX_CALLERS_PER_RELAY} callers already")]
    TooManyCallers(String),
    #[error("the relay channel is closed")]
    ChannelClosed,
}

/// `forward_to_NAME`: carries messages from callers onto the registration channel.
///
/// Flow control (docs/protocol.md §2.1, §9.5): the forwarder is a service, so only messages
/// that a channel exposing services decrypted reach it (never bare TCP); a caller must not be
/// revoked and, on a project node, must be a member (the `relay` policy decides who may *hold*
/// a name; callers are authenticated end to end by the relay owner's listener and policies). It delivers only onto the channel the relay was
/// registered over — never along a route the caller chose. Answers come back through a
/// per-caller back-path address (`relay.<random>`) that accepts only the registration channel
/// and delivers only onto the hop the caller's messages came from, so a relay owner cannot use
/// the host to reach anything but the callers that reached it.
pub(super) struct Forwarder {
    pub(super) name: String,
    pub(super) address: Address,
    pub(super) channel: std::sync::Weak<SecureChannel>,
    pub(super) callers: Mutex<HashMap<Address, Caller>>,
}

pub(super) struct Caller {
    back: Address,
    checked: Instant,
    hook: Option<u64>,
}

/// Most callers (distinct hops) one relay serves at once.
pub const MAX_CALLERS_PER_RELAY: usize = 4096;

/// A caller's policy decision is re-evaluated this often (revocation and policy changes reach
/// live relay paths within this time plus the polling interval).
pub const CALLER_RECHECK: Duration = Duration::from_secs(10);

impl Forwarder {
    fn back_for(self: &Arc<Self>, node: &Node, msg: &Message) -> Result<Address, ForwardRefused> {
        let hop = match msg.origin.hop() {
            Some(h) => h.clone(),
            // Local code answering through its own reply slot.
            None => msg
                .ret
                .first()
                .cloned()
                .ok_or(ForwardRefused::NoReturnRoute)?,
        };
        let mut callers = self.callers.lock().expect("callers");
        if let Some(c) = callers.get_mut(&hop) {
            if c.checked.elapsed() < CALLER_RECHECK {
                return Ok(c.back.clone());
            }
        }
        if let Some(peer) = msg.peer() {
            node.admits_member(peer)
                .map_err(ForwardRefused::NotMember)?;
        }
        if let Some(c) = callers.get_mut(&hop) {
            c.checked = Instant::now();
            return Ok(c.back.clone());
        }
        if callers.len() >= MAX_CALLERS_PER_RELAY {
            return Err(ForwardRefused::TooManyCallers(self.name.clone()));
        }
        let channel = self
            .channel
            .upgrade()
            .ok_or(ForwardRefused::ChannelClosed)?;
        let back = Address::new(format!("relay.{:016x}", airlock_node::random_u64()))
            .expect("a back-path address is a valid address");
        node.router().register(
            back.clone(),
            Access::Via(channel.address().clone()),
            Arc::new(BackPath {
                forwarder: self.address.clone(),
                to: hop.clone(),
            }),
        );
        callers.insert(
            hop.clone(),
            Caller {
                back: back.clone(),
                checked: Instant::now(),
                hook: None,
            },
        );
        drop(callers);
        // The back-path goes with the caller's hop (the hook runs at once if it is gone).
        let (weak, n, h) = (Arc::downgrade(self), node.clone(), hop.clone());
        let hook = node.on_close(
            &hop,
            Box::new(move || {
                if let Some(f) = weak.upgrade() {
                    let gone = f.callers.lock().expect("callers").remove(&h);
                    if let Some(c) = gone {
                        n.router().unregister(&c.back);
                    }
                }
            }),
        );
        if let Some(c) = self.callers.lock().expect("callers").get_mut(&hop) {
            c.hook = hook;
        }
        Ok(back)
    }

    /// Removes every back-path (the registration ended).
    pub(super) fn stop(&self, node: &Node) {
        for (hop, c) in self.callers.lock().expect("callers").drain() {
            node.router().unregister(&c.back);
            if let Some(id) = c.hook {
                node.remove_close_hook(&hop, id);
            }
        }
    }
}

pub(super) struct ForwarderWorker(pub(super) Arc<Forwarder>);

impl Worker for ForwarderWorker {
    fn handle(&self, node: &Node, mut msg: Message) {
        let f = &self.0;
        let back = match f.back_for(node, &msg) {
            Ok(b) => b,
            Err(why) => {
                tracing::warn!(relay = %f.name, from = %msg.origin.describe(), "relay refused a message: {why}");
                return;
            }
        };
        let Some(channel) = f.channel.upgrade() else {
            return;
        };
        msg.onward.pop_front();
        let mut ret = msg.ret;
        ret.pop_front();
        ret.push_front(back);
        if let Err(e) = channel.send(node, &msg.onward, &ret, msg.payload) {
            tracing::debug!(relay = %f.name, "relay could not forward: {e}");
        }
    }
}

/// `relay.<random>`: answers from the relay owner to one caller.
struct BackPath {
    forwarder: Address,
    to: Address,
}

impl Worker for BackPath {
    fn handle(&self, node: &Node, mut msg: Message) {
        msg.onward.pop_front();
        // Deliver onto the hop the caller spoke through, and nothing else; the caller answers
        // through the forwarder again.
        msg.onward.push_front(self.to.clone());
        msg.ret.pop_front();
        msg.ret.push_front(self.forwarder.clone());
        node.dispatch(Message::new(msg.onward, msg.ret, msg.payload));
    }
}
