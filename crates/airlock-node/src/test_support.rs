//! Helpers for unit tests that run workers on hand-built contexts, with no `Node`: the wiring
//! `node/mod.rs` does at start, from fresh subsystems.

use crate::access::{AccessControl, Admission};
use crate::channel::{ChannelContext, Channels, Listener};
use crate::config::NodeIdentity;
use crate::counters::Counters;
use crate::message::Message;
use crate::router::{Deliver, Endpoint, Router};
use crate::transport::{Transport, TransportContext};
use airlock_channel::{RekeyPolicy, TrustPolicy};
use airlock_identity::Identifier;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

/// A channel context over fresh subsystems and a new identity (trusting unknown peers, as
/// in-process test nodes do), and that identity.
pub(crate) fn channel_context() -> (ChannelContext, Identifier) {
    let keys = NodeIdentity::generate(3600);
    let own = keys.secret.identifier();
    let deliver = Deliver::new(Arc::new(Router::default()), Counters::default());
    let transport = TransportContext::new(
        deliver,
        Arc::new(Transport::default()),
        Arc::new(AtomicU64::new(1)),
    );
    let access = AccessControl::new(own, Admission::new(vec![], true, None));
    let ctx = ChannelContext::new(
        transport,
        Arc::new(Channels::default()),
        Arc::new(access),
        Arc::new(RwLock::new(keys)),
        RekeyPolicy::default(),
    );
    (ctx, own)
}

/// The `api` listener, as a plain endpoint over a channel context.
pub(crate) struct Api(pub(crate) ChannelContext);

impl Endpoint for Api {
    fn handle(&self, _: &Deliver, msg: Message) {
        Listener::new(TrustPolicy::Everyone).handle(&self.0, msg);
    }
}
