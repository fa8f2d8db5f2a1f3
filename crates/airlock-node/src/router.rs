//! The address table of a node, the [`Endpoint`] trait of what is registered in it, and
//! [`Deliver`]: the one capability most workers need — hand a message to the worker named by
//! its route.
//!
//! Every address is registered with the [`Access`] rule of its worker; [`Deliver::deliver`]
//! checks the rule against the message's origin before the worker sees the message. Nothing
//! here knows the node: workers get a `Deliver` (or a context that holds one), never the node.

use crate::counters::Counters;
use crate::flow_control::{Access, Origin, Refusal};
use crate::message::Message;
use airlock_channel::{AbortNotice, ChannelKind};
use airlock_wire::{Address, Route};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Something registered at an address of the router.
///
/// `handle` runs on the task that delivered the message (a TCP reader, a portal reader, a
/// control request) and must not block: anything slow is spawned or queued. An endpoint that
/// needs more than `deliver` (a registry, access control) holds its own narrow context, resolved
/// once when it was registered.
pub trait Endpoint: Send + Sync + 'static {
    /// Handles a message whose first onward address is this endpoint's (already admitted by its
    /// [`Access`] rule).
    fn handle(&self, deliver: &Deliver, msg: Message);
}

/// Dispatches messages to the workers of one node's router: a cheap clone (two `Arc`s), taken
/// once when a worker starts. Delivery takes the router's read lock once, like the node's
/// dispatch always did; nothing is allocated per message.
#[derive(Clone)]
pub struct Deliver {
    router: Arc<Router>,
    counters: Counters,
}

impl Deliver {
    /// Delivers through `router`, counting refusals in `counters`.
    pub fn new(router: Arc<Router>, counters: Counters) -> Self {
        Deliver { router, counters }
    }

    /// The address table messages are delivered through.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The node's counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Routes a message to the worker named by its first onward address, if that worker
    /// accepts the message's origin (flow control, [`crate::flow_control`]); otherwise the
    /// message is dropped, counted and logged — with no answer to the sender.
    pub fn deliver(&self, msg: Message) {
        let Some(first) = msg.onward.first() else {
            return;
        };
        match self.router.lookup(first, &msg.origin) {
            Lookup::Found(w) => return w.handle(self, msg),
            Lookup::Refused(why) => self
                .counters
                .count_refused_delivery(first, &msg.origin, &why),
            Lookup::Missing => {
                tracing::debug!(address = %first, "no worker at address; message dropped");
            }
        }
        // A handshake towards a listener or relay that is missing, or that this message may not
        // reach: tell the initiator at once (unauthenticated notice, like a TCP RST) instead of
        // letting it time out. Both cases get the same words, and generated addresses
        // (connections, channel ends, links) get no answer at all, so nobody can probe which
        // of them exist.
        // The payload of a portal `Hello` also starts with 0x01 and gets the same notice; links
        // recognise it before decoding portal frames (docs/protocol.md §9.6).
        if msg.payload.data().first() == Some(&ChannelKind::Handshake1.byte())
            && !msg.ret.is_empty()
            && !crate::flow_control::is_generated(first)
        {
            let notice = AbortNotice::failed(format!(
                "nothing at address {first} that this message may reach on the node it reached"
            ));
            let back = Message::new(
                msg.ret,
                Route::empty(),
                airlock_wire::Packet::copy_from(&notice.encode()),
            );
            self.deliver(back);
        }
    }
}

impl AsRef<Deliver> for Deliver {
    fn as_ref(&self) -> &Deliver {
        self
    }
}

/// The outcome of [`Router::lookup`].
pub enum Lookup {
    /// Nothing is registered at the address.
    Missing,
    /// The worker does not accept the message's origin.
    Refused(Refusal),
    /// The worker, which accepts the origin.
    Found(Arc<dyn Endpoint>),
}

/// A registered worker with its access rule.
#[derive(Clone)]
pub struct Entry {
    /// The worker.
    pub worker: Arc<dyn Endpoint>,
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
    pub fn register(&self, addr: Address, access: Access, worker: Arc<dyn Endpoint>) -> bool {
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

    /// Forgets every worker (when the node goes away: workers hold [`Deliver`]s, and so the
    /// router, which would otherwise keep them and itself alive).
    pub(crate) fn clear(&self) {
        let all = std::mem::take(&mut *self.workers.write().expect("router lock"));
        drop(all);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Echo;
    use airlock_wire::Packet;
    use std::sync::mpsc;
    use std::sync::Mutex;

    /// Collects what reaches it.
    struct Sink(Mutex<mpsc::Sender<Message>>);

    impl Endpoint for Sink {
        fn handle(&self, _: &Deliver, msg: Message) {
            let _ = self.0.lock().unwrap().send(msg);
        }
    }

    fn a(s: &str) -> Address {
        Address::new(s).unwrap()
    }

    /// Delivery, flow control and the abort answer run on a bare router: no node involved.
    #[test]
    fn deliver_routes_refuses_and_answers_on_its_own() {
        let deliver = Deliver::new(Arc::new(Router::default()), Counters::default());
        let (tx, rx) = mpsc::channel();
        deliver
            .router()
            .register(a("echo"), Access::Service, Arc::new(Echo));
        deliver
            .router()
            .register(a("sink"), Access::Local, Arc::new(Sink(Mutex::new(tx))));

        // Local code reaches the service, and the service answers through the same `Deliver`.
        deliver.deliver(Message::new(
            Route::single(a("echo")),
            Route::single(a("sink")),
            Packet::copy_from(b"hi"),
        ));
        let answer = rx.try_recv().expect("echo answered");
        assert_eq!(answer.payload.data(), b"hi");
        assert_eq!(answer.ret.first(), Some(&a("echo")));

        // A handshake message 1 from a bare connection may not reach a service: it is counted
        // as refused and the sender is told at once.
        let m1 = [ChannelKind::Handshake1.byte(), 0, 0];
        deliver.deliver(Message::with_origin(
            Route::single(a("echo")),
            Route::single(a("sink")),
            Packet::copy_from(&m1),
            Origin::Transport(a("tcp.1")),
        ));
        assert_eq!(deliver.counters().refused_deliveries(), 1);
        let notice = rx.try_recv().expect("abort notice");
        assert!(AbortNotice::is_abort(notice.payload.data()));
        assert!(
            rx.try_recv().is_err(),
            "the service never saw the refused message"
        );
    }
}
