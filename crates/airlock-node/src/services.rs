//! Built-in services every node runs: `echo` and `uppercase`.

use crate::message::Message;
use crate::node::Node;
use crate::router::Worker;
use airlock_wire::{Address, Route};

/// Replies with the payload unchanged.
pub struct Echo;

/// Replies with the payload's ASCII letters in upper case.
pub struct Uppercase;

fn reply(node: &Node, mut msg: Message, me: &str, transform: impl FnOnce(&mut [u8])) {
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
    node.dispatch(back);
}

impl Worker for Echo {
    fn handle(&self, node: &Node, msg: Message) {
        reply(node, msg, "echo", |_| {});
    }
}

impl Worker for Uppercase {
    fn handle(&self, node: &Node, msg: Message) {
        reply(node, msg, "uppercase", |b| b.make_ascii_uppercase());
    }
}
