//! Built-in services every node runs: `echo` and `uppercase`.

use crate::message::Message;
use crate::router::{Deliver, Endpoint};
use airlock_wire::{Address, Route};

/// Replies with the payload unchanged.
pub struct Echo;

/// Replies with the payload's ASCII letters in upper case.
pub struct Uppercase;

fn reply(deliver: &Deliver, mut msg: Message, me: &str, transform: impl FnOnce(&mut [u8])) {
    msg.onward.pop_front();
    if msg.ret.is_empty() {
        return;
    }
    transform(msg.payload.data_mut());
    let back = Message {
        onward: msg.ret,
        ret: Route::single(Address::new(me).expect("valid")),
        payload: msg.payload,
        origin: crate::flow_control::Origin::Local,
    };
    deliver.deliver(back);
}

impl Endpoint for Echo {
    fn handle(&self, deliver: &Deliver, msg: Message) {
        reply(deliver, msg, "echo", |_| {});
    }
}

impl Endpoint for Uppercase {
    fn handle(&self, deliver: &Deliver, msg: Message) {
        reply(deliver, msg, "uppercase", |b| b.make_ascii_uppercase());
    }
}
