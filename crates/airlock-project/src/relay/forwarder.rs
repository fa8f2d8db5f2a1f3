//! The relay host's data path: `forward_to_NAME` carries callers' messages onto the registration
//! channel, and a per-caller back-path (`relay.<random>`) carries the owner's answers back.
//!
//! Neither takes the node: both are [`Endpoint`]s. The forwarder holds the node's
//! [`ChannelContext`] (delivery, access control for the caller check, close hooks of the
//! callers' hops, and what sending onto the registration channel needs), taken once when the
//! relay is registered; a back-path needs only the [`Deliver`] every endpoint is handed.

use airlock_node::channel::{ChannelContext, SecureChannel};
use airlock_node::{Access, Deliver, Endpoint, Message};
use airlock_wire::Address;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
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
    name: String,
    address: Address,
    /// The registration channel (weakly: the registration ends with it).
    channel: Weak<SecureChannel>,
    callers: Mutex<HashMap<Address, Caller>>,
    /// The relay host's channel context, taken once at registration.
    ctx: ChannelContext,
}

struct Caller {
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
    /// The forwarder of relay `name` at `address`, onto `channel`, working in `ctx` (the relay
    /// host's channel context). Register it with [`Forwarder::endpoint`].
    pub(super) fn new(
        ctx: ChannelContext,
        name: &str,
        address: Address,
        channel: &Arc<SecureChannel>,
    ) -> Arc<Self> {
        Arc::new(Forwarder {
            name: name.to_string(),
            address,
            channel: Arc::downgrade(channel),
            callers: Mutex::new(HashMap::new()),
            ctx,
        })
    }

    /// What the router holds at [`Forwarder::address`] (with [`Access::Service`]).
    pub(super) fn endpoint(self: &Arc<Self>) -> Arc<dyn Endpoint> {
        Arc::new(ForwarderEndpoint(self.clone()))
    }

    fn back_for(self: &Arc<Self>, msg: &Message) -> Result<Address, ForwardRefused> {
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
            self.ctx
                .access()
                .admits_member(peer)
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
        self.ctx.router().register(
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
        let (weak, h) = (Arc::downgrade(self), hop.clone());
        let hook = self.ctx.on_close(
            &hop,
            Box::new(move || {
                if let Some(f) = weak.upgrade() {
                    let gone = f.callers.lock().expect("callers").remove(&h);
                    if let Some(c) = gone {
                        f.ctx.router().unregister(&c.back);
                    }
                }
            }),
        );
        if let Some(c) = self.callers.lock().expect("callers").get_mut(&hop) {
            c.hook = hook;
        }
        Ok(back)
    }

    /// Removes the forwarder and every back-path from the router (the registration ended).
    pub(super) fn stop(&self) {
        self.ctx.router().unregister(&self.address);
        for (hop, c) in self.callers.lock().expect("callers").drain() {
            self.ctx.router().unregister(&c.back);
            if let Some(id) = c.hook {
                self.ctx.remove_close_hook(&hop, id);
            }
        }
    }

    /// The back-path addresses of the current callers.
    #[cfg(test)]
    fn back_paths(&self) -> Vec<Address> {
        let callers = self.callers.lock().expect("callers");
        callers.values().map(|c| c.back.clone()).collect()
    }
}

/// The forwarder in the router (an `Arc`, so that back-paths' close hooks can hold it weakly).
struct ForwarderEndpoint(Arc<Forwarder>);

impl Endpoint for ForwarderEndpoint {
    fn handle(&self, _: &Deliver, mut msg: Message) {
        let f = &self.0;
        let back = match f.back_for(&msg) {
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
        if let Err(e) = channel.send(&f.ctx, &msg.onward, &ret, msg.payload) {
            tracing::debug!(relay = %f.name, "relay could not forward: {e}");
        }
    }
}

/// `relay.<random>`: answers from the relay owner to one caller.
struct BackPath {
    forwarder: Address,
    to: Address,
}

impl Endpoint for BackPath {
    fn handle(&self, deliver: &Deliver, mut msg: Message) {
        msg.onward.pop_front();
        // Deliver onto the hop the caller spoke through, and nothing else; the caller answers
        // through the forwarder again.
        msg.onward.push_front(self.to.clone());
        msg.ret.pop_front();
        msg.ret.push_front(self.forwarder.clone());
        deliver.deliver(Message::new(msg.onward, msg.ret, msg.payload));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_channel::TrustPolicy;
    use airlock_node::counters::Counters;
    use airlock_node::router::Router;
    use airlock_node::{resolve, Exposure, Node, NodeConfig, Origin};
    use airlock_wire::{Packet, Route};
    use serde_json::json;
    use std::sync::mpsc;

    const T: Duration = Duration::from_secs(10);

    fn a(s: &str) -> Address {
        Address::new(s).unwrap()
    }

    /// Collects what reaches it.
    struct Sink(Mutex<mpsc::Sender<Message>>);

    impl Endpoint for Sink {
        fn handle(&self, _: &Deliver, msg: Message) {
            let _ = self.0.lock().unwrap().send(msg);
        }
    }

    /// A back-path on a bare router, no node: it takes answers only from the registration hop
    /// and delivers them only onto its caller's hop, with the forwarder first on the return
    /// route.
    #[test]
    fn a_back_path_answers_only_its_caller_and_only_from_the_owner() {
        let deliver = Deliver::new(Arc::new(Router::default()), Counters::default());
        let (tx, rx) = mpsc::channel();
        // Stand-ins for the caller's hop and the registration channel's hop.
        let (caller, registration) = (a("sc.caller"), a("sc.owner"));
        deliver.router().register(
            caller.clone(),
            Access::Local,
            Arc::new(Sink(Mutex::new(tx))),
        );
        deliver.router().register(
            a("relay.1"),
            Access::Via(registration.clone()),
            Arc::new(BackPath {
                forwarder: a("forward_to_bank"),
                to: caller.clone(),
            }),
        );
        let answer = |origin: Address| {
            Message::with_origin(
                Route::new(vec![a("relay.1"), a("sc.inner")]),
                Route::new(vec![registration.clone(), a("sc.bank")]),
                Packet::copy_from(b"answer"),
                Origin::Transport(origin),
            )
        };

        deliver.deliver(answer(registration.clone()));
        let got = rx.try_recv().expect("the caller got the answer");
        assert_eq!(got.onward, Route::new(vec![caller.clone(), a("sc.inner")]));
        assert_eq!(
            got.ret,
            Route::new(vec![a("forward_to_bank"), a("sc.bank")])
        );
        assert_eq!(got.payload.data(), b"answer");

        // Anything but the registration hop is refused before the back-path sees it.
        deliver.deliver(answer(a("sc.someone")));
        assert_eq!(deliver.counters().refused_deliveries(), 1);
        assert!(rx.try_recv().is_err());
    }

    /// The forwarder on real nodes, registered by hand with the host's channel context: a
    /// caller reaches the owner's `echo` end to end through it and gets the answers back
    /// through one back-path, which goes with the caller's channel; stopping the forwarder
    /// unregisters it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_forwarder_carries_a_caller_to_the_owner_and_back() {
        let start = |n: &str| Node::start(NodeConfig::loopback(n));
        let (hub, bank, client) = (
            start("hub").await.unwrap(),
            start("bank").await.unwrap(),
            start("client").await.unwrap(),
        );
        let at = format!("/ip4/127.0.0.1/tcp/{}", hub.listen_addr().port());

        // The registration channel, as a relay keeper opens it.
        let to_hub = format!("{at}/secure/api").parse().unwrap();
        let r = resolve::resolve(&bank, &to_hub, TrustPolicy::Everyone, T)
            .await
            .unwrap();
        let (bank_end, _) = r.channel.unwrap();
        bank_end.expose(Exposure::Listener);
        let deadline = tokio::time::Instant::now() + T;
        let hub_end = loop {
            let found = hub
                .channels()
                .into_iter()
                .find(|c| c.peer().map(|p| p.identifier) == Some(bank.identifier()));
            if let Some(c) = found {
                break c;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no channel at the hub"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let fw = Forwarder::new(
            hub.channel_context().clone(),
            "bank",
            a("forward_to_bank"),
            &hub_end,
        );
        assert!(hub.router().register_endpoint(
            a("forward_to_bank"),
            Access::Service,
            fw.endpoint()
        ));

        let via = format!("{at}/secure/api/service/forward_to_bank/secure/api/service/echo");
        let r = resolve::resolve(&client, &via.parse().unwrap(), TrustPolicy::Everyone, T)
            .await
            .unwrap();
        for word in ["through", "again"] {
            let body = json!({"ok": true, "result": word});
            let v = crate::api::request_json(&client, &r.route, &body, T)
                .await
                .unwrap();
            assert_eq!(v, word);
        }
        let backs = fw.back_paths();
        assert_eq!(backs.len(), 1, "one back-path per caller hop");
        assert_eq!(
            hub.router().access(&backs[0]),
            Some(Access::Via(hub_end.address().clone()))
        );

        // The caller's channel to the hub closes: its back-path goes with it.
        r.opened[0].close(&client, true);
        let deadline = tokio::time::Instant::now() + T;
        while !fw.back_paths().is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "back-path kept");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(hub.router().access(&backs[0]), None);

        fw.stop();
        assert_eq!(hub.router().access(&a("forward_to_bank")), None);
        for n in [client, bank, hub] {
            n.shutdown().await;
        }
    }
}
