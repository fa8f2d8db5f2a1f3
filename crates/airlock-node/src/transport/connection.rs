//! One TCP connection to another node: a worker at `tcp.N` whose messages are framed and written
//! straight from the routing task, with an outbox for what the socket does not take at once.
//! Its reader and flusher tasks (`io`) are started here and end with it.

use super::io::{flush_loop, read_loop};
use super::{TransportContext, MAX_OUTBOX_BYTES};
use crate::close_hooks::{CloseHook, CloseHooks};
use crate::flow_control::Access;
use crate::message::Message;
use crate::router::{Deliver, Endpoint};
use airlock_wire::transport_frame::{self, PREAMBLE};
use airlock_wire::Address;
use bytes::{Buf, Bytes};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// What became of bytes handed to a connection.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Sent {
    /// Written or queued.
    Ok,
    /// The connection already failed.
    Failed,
    /// The outbox went over [`MAX_OUTBOX_BYTES`]: the connection must close.
    Overflow,
}

/// Frames waiting for the socket to become writable.
#[derive(Default)]
pub(super) struct Outbox {
    pub(super) queue: VecDeque<Bytes>,
    /// Bytes in `queue`.
    pub(super) queued: usize,
    /// The flusher task owns the socket's write side until the queue is empty.
    pub(super) flushing: bool,
    /// A write failed; the connection is closing.
    pub(super) failed: bool,
}

/// One TCP connection to another node.
pub struct Connection {
    pub(super) addr: Address,
    pub(super) peer: SocketAddr,
    pub(super) stream: Arc<TcpStream>,
    pub(super) out: Mutex<Outbox>,
    pub(super) wake: Notify,
    closed: AtomicBool,
    hooks: CloseHooks,
    tasks: Mutex<Vec<AbortHandle>>,
    outbound_key: Option<String>,
    bytes_out: AtomicU64,
    /// The router and registry this connection removes itself from when it closes.
    ctx: TransportContext,
}

impl Connection {
    /// The worker address of this connection.
    pub fn address(&self) -> &Address {
        &self.addr
    }

    /// Bytes of routed messages written or queued so far (not counting heartbeats).
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out.load(Ordering::Relaxed)
    }

    /// The remote socket address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Runs `hook` when the connection closes (at once if already closed); returns an id for
    /// `remove_hook`.
    pub fn on_close(&self, hook: CloseHook) -> u64 {
        self.hooks.add(&self.closed, hook)
    }

    /// Forgets a close hook.
    pub fn remove_hook(&self, id: u64) {
        self.hooks.remove(id);
    }

    fn run_hooks(&self) {
        self.hooks.run();
    }

    /// Closes the connection: stops both tasks, unregisters, runs close hooks.
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.ctx.deliver.router().unregister(&self.addr);
        self.ctx.registry.forget(&self.addr);
        if let Some(k) = &self.outbound_key {
            self.ctx.registry.forget_outbound(k, &self.addr);
        }
        for t in self.tasks.lock().expect("tasks").drain(..) {
            t.abort();
        }
        tracing::debug!(conn = %self.addr, peer = %self.peer, "connection closed");
        self.run_hooks();
    }
}

impl Endpoint for Connection {
    fn handle(&self, deliver: &Deliver, mut msg: Message) {
        msg.onward.pop_front();
        if self.is_closed() {
            return;
        }
        // Never send what the peer must refuse: it would close this connection and every
        // channel, relay and portal on it. Drop the one message instead.
        if let Err(e) = transport_frame::check_message(&msg.onward, &msg.ret, msg.payload.len()) {
            deliver.counters().count_unsendable(&self.addr, &e);
            return;
        }
        transport_frame::encode_message(&mut msg.payload, &msg.onward, &msg.ret);
        let bytes = msg.payload.freeze();
        self.bytes_out
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if self.send_bytes(bytes) == Sent::Overflow {
            // The flusher may be stuck waiting for writability: close from here.
            self.close();
        }
    }
}

impl Connection {
    /// Writes `b` now if the socket takes it, else queues the rest for the flusher task.
    pub(super) fn send_bytes(&self, mut b: Bytes) -> Sent {
        let mut out = self.out.lock().expect("outbox");
        if out.failed {
            return Sent::Failed;
        }
        if !out.flushing && out.queue.is_empty() {
            match self.stream.try_write(&b) {
                Ok(n) if n == b.len() => return Sent::Ok,
                Ok(n) => b.advance(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    out.failed = true;
                    drop(out);
                    self.wake.notify_one();
                    return Sent::Failed;
                }
            }
        }
        out.queued += b.len();
        if out.queued > MAX_OUTBOX_BYTES {
            tracing::warn!(conn = %self.addr, peer = %self.peer, "closing a connection whose peer does not read ({} bytes queued)", out.queued);
            out.failed = true;
            out.queue.clear();
            out.queued = 0;
            drop(out);
            self.wake.notify_one();
            return Sent::Overflow;
        }
        out.queue.push_back(b);
        if !out.flushing {
            out.flushing = true;
            drop(out);
            self.wake.notify_one();
        }
        Sent::Ok
    }
}

/// Makes `stream` a connection worker: registers it, sends the preamble and starts its reader
/// and flusher tasks.
pub(super) fn start(
    ctx: &TransportContext,
    stream: TcpStream,
    peer: SocketAddr,
    outbound_key: Option<String>,
) -> Arc<Connection> {
    let _ = stream.set_nodelay(true);
    let stream = Arc::new(stream);
    let addr = Address::new(format!("tcp.{}", ctx.next_id())).expect("valid address");
    let conn = Arc::new(Connection {
        addr: addr.clone(),
        peer,
        stream,
        out: Mutex::new(Outbox::default()),
        wake: Notify::new(),
        closed: AtomicBool::new(false),
        hooks: CloseHooks::default(),
        tasks: Mutex::new(Vec::new()),
        outbound_key,
        bytes_out: AtomicU64::new(0),
        ctx: ctx.clone(),
    });
    ctx.deliver
        .router()
        .register(addr, Access::Local, conn.clone());
    ctx.registry.remember(conn.clone());
    conn.send_bytes(Bytes::from_static(&PREAMBLE));
    // The reader needs only delivery; the writer only its connection.
    let (deliver, c1) = (ctx.deliver.clone(), conn.clone());
    let reader = tokio::spawn(async move {
        if let Err(e) = read_loop(&deliver, &c1).await {
            tracing::debug!(conn = %c1.addr, peer = %c1.peer, "connection reader ended: {e}");
        }
        c1.close();
    });
    let c2 = conn.clone();
    let writer = tokio::spawn(async move {
        if let Err(e) = flush_loop(&c2).await {
            tracing::debug!(conn = %c2.addr, "connection writer ended: {e}");
        }
        c2.close();
    });
    {
        let mut t = conn.tasks.lock().expect("tasks");
        t.push(reader.abort_handle());
        t.push(writer.abort_handle());
    }
    conn
}
