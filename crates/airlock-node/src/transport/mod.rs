//! TCP transport: listeners and connections carrying framed, routed messages.
//!
//! Each connection is a worker (address `tcp.N`). A message routed to it is framed in place and
//! written **directly from the routing task** with a non-blocking write when nothing is queued;
//! only when the socket is full does the rest go to an outbox that the connection's flusher task
//! drains with vectored writes once the socket is writable again. This saves a task wake-up and a
//! cross-thread hop per chunk on the data path. The reader task decodes frames, prepends the
//! connection's address to the return route and dispatches each message inline.
//!
//! Defences: the peer must send the preamble within [`HANDSHAKE_TIMEOUT`]; frames over the size
//! limit or malformed close the connection; a connection silent for [`IDLE_TIMEOUT`] is closed
//! (peers send heartbeats every [`HEARTBEAT_INTERVAL`]); at most [`MAX_CONNECTIONS`] are accepted.
//!
//! Connections and their tasks know only a [`TransportContext`]: where to deliver what they read
//! and the transport's own registry — not the node.

use crate::flow_control::{Access, Origin};
use crate::message::Message;
use crate::router::{Deliver, Endpoint};
use airlock_wire::transport_frame::{self, FrameDecoder, InboundFrame, PREAMBLE};
use airlock_wire::Address;
use bytes::{Buf, Bytes, BytesMut};
use std::collections::{HashMap, VecDeque};
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};

/// Time allowed for a new peer to send the preamble.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no traffic at all for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Heartbeats are sent after this long without outbound traffic.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);
/// Maximum accepted connections per listener.
pub const MAX_CONNECTIONS: usize = 4096;
/// Maximum accepted connections from one source IP address (before any authentication).
pub const MAX_CONNECTIONS_PER_SOURCE: usize = 64;
/// Most bytes queued for a peer that does not read; beyond it the connection is closed, so a
/// peer that never reads cannot make this node buffer without bound. Portal credit (2 MiB per
/// stream) keeps legitimate queues far below it for up to about a hundred busy streams.
pub const MAX_OUTBOX_BYTES: usize = 256 * 1024 * 1024;

pub use crate::close_hooks::CloseHook;
use crate::close_hooks::CloseHooks;

/// What became of bytes handed to a connection.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    /// Written or queued.
    Ok,
    /// The connection already failed.
    Failed,
    /// The outbox went over [`MAX_OUTBOX_BYTES`]: the connection must close.
    Overflow,
}

/// Frames waiting for the socket to become writable.
#[derive(Default)]
struct Outbox {
    queue: VecDeque<Bytes>,
    /// Bytes in `queue`.
    queued: usize,
    /// The flusher task owns the socket's write side until the queue is empty.
    flushing: bool,
    /// A write failed; the connection is closing.
    failed: bool,
}

/// The transport's own registry: live connections by address, reusable outbound connections
/// by target, and the listening tasks. Owned by the node; connections add and remove
/// themselves.
#[derive(Default)]
pub struct Transport {
    outbound: Mutex<HashMap<String, Address>>,
    connections: Mutex<HashMap<Address, Arc<Connection>>>,
    listeners: Mutex<Vec<JoinHandle<()>>>,
}

impl Transport {
    /// The live outbound connection to `target`, if any.
    fn outbound(&self, target: &str) -> Option<Address> {
        self.outbound.lock().expect("outbound").get(target).cloned()
    }

    fn remember_outbound(&self, target: &str, addr: Address) {
        self.outbound
            .lock()
            .expect("outbound")
            .insert(target.to_string(), addr);
    }

    fn forget_outbound(&self, target: &str, addr: &Address) {
        let mut m = self.outbound.lock().expect("outbound");
        if m.get(target) == Some(addr) {
            m.remove(target);
        }
    }

    fn remember(&self, c: Arc<Connection>) {
        self.connections
            .lock()
            .expect("conns")
            .insert(c.address().clone(), c);
    }

    fn forget(&self, a: &Address) {
        self.connections.lock().expect("conns").remove(a);
    }

    /// The connection at address `a`.
    pub fn get(&self, a: &Address) -> Option<Arc<Connection>> {
        self.connections.lock().expect("conns").get(a).cloned()
    }

    /// Every live connection.
    pub fn all(&self) -> Vec<Arc<Connection>> {
        self.connections
            .lock()
            .expect("conns")
            .values()
            .cloned()
            .collect()
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.connections.lock().expect("conns").len()
    }

    /// True if there is no connection.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn track_listener(&self, h: JoinHandle<()>) {
        self.listeners.lock().expect("listeners").push(h);
    }

    /// Stops the listeners and waits until their sockets are closed (so the port can be reused
    /// at once).
    pub(crate) async fn stop_listeners(&self) {
        let listeners: Vec<_> = self
            .listeners
            .lock()
            .expect("listeners")
            .drain(..)
            .collect();
        for l in listeners {
            l.abort();
            let _ = l.await;
        }
    }
}

/// What connections and listeners work with: delivery of what they read, the transport's
/// registry, and the node's source of unique numbers (connection addresses). Built once by the
/// node; cheap to clone.
#[derive(Clone)]
pub struct TransportContext {
    deliver: Deliver,
    registry: Arc<Transport>,
    ids: Arc<AtomicU64>,
}

impl TransportContext {
    /// A context delivering through `deliver`, keeping connections in `registry`, numbering them
    /// from `ids`.
    pub fn new(deliver: Deliver, registry: Arc<Transport>, ids: Arc<AtomicU64>) -> Self {
        TransportContext {
            deliver,
            registry,
            ids,
        }
    }

    /// Delivery of routed messages.
    pub fn deliver(&self) -> &Deliver {
        &self.deliver
    }

    /// The transport's registry.
    pub fn registry(&self) -> &Transport {
        &self.registry
    }

    /// A node-unique number.
    pub fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }
}

impl AsRef<TransportContext> for TransportContext {
    fn as_ref(&self) -> &TransportContext {
        self
    }
}

/// One TCP connection to another node.
pub struct Connection {
    addr: Address,
    peer: SocketAddr,
    stream: Arc<TcpStream>,
    out: Mutex<Outbox>,
    wake: Notify,
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
    fn send_bytes(&self, mut b: Bytes) -> Sent {
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

/// Starts listening; returns the bound address. Accepted connections become workers.
///
/// `ctx` is anything that lends a [`TransportContext`]: the context itself, or a
/// [`crate::Node`] (the public entry point).
pub async fn listen(
    ctx: &impl AsRef<TransportContext>,
    addr: SocketAddr,
) -> std::io::Result<SocketAddr> {
    let ctx = ctx.as_ref();
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let ctx2 = ctx.clone();
    let limit = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let per_source: Arc<Mutex<std::collections::HashMap<std::net::IpAddr, usize>>> = Arc::default();
    let handle = tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "connection limit reached; refusing");
                continue;
            };
            {
                let mut m = per_source.lock().expect("per source");
                let n = m.entry(peer.ip()).or_insert(0);
                if *n >= MAX_CONNECTIONS_PER_SOURCE {
                    tracing::warn!(%peer, "connection limit for this source address reached; refusing");
                    continue;
                }
                *n += 1;
            }
            let conn = start(&ctx2, stream, peer, None);
            let (ps, ip) = (per_source.clone(), peer.ip());
            let _ = conn.on_close(Box::new(move || {
                drop(permit);
                let mut m = ps.lock().expect("per source");
                if let Some(n) = m.get_mut(&ip) {
                    *n -= 1;
                    if *n == 0 {
                        m.remove(&ip);
                    }
                }
            }));
        }
    });
    ctx.registry.track_listener(handle);
    Ok(local)
}

/// Connects to `target` (`host:port`), reusing a live outbound connection to the same target.
///
/// `ctx` is anything that lends a [`TransportContext`]: the context itself, a channel context,
/// or a [`crate::Node`] (the public entry point).
pub async fn connect(ctx: &impl AsRef<TransportContext>, target: &str) -> std::io::Result<Address> {
    let ctx = ctx.as_ref();
    if let Some(addr) = ctx.registry.outbound(target) {
        return Ok(addr);
    }
    let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(target))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("timed out connecting to {target}"),
            )
        })??;
    let peer = stream.peer_addr()?;
    let conn = start(ctx, stream, peer, Some(target.to_string()));
    ctx.registry
        .remember_outbound(target, conn.address().clone());
    Ok(conn.address().clone())
}

fn start(
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

async fn read_loop(deliver: &Deliver, conn: &Arc<Connection>) -> anyhow::Result<()> {
    // The read buffer grows with the traffic: idle connections keep 16 KiB, busy ones read up
    // to 512 KiB per call (fewer syscalls).
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut chunk = 16 * 1024;
    let mut decoder = FrameDecoder::new();
    let mut first = true;
    loop {
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(InboundFrame::Message {
                    onward,
                    mut ret,
                    payload,
                })) => {
                    ret.push_front(conn.addr.clone());
                    deliver.deliver(Message::with_origin(
                        onward,
                        ret,
                        payload,
                        Origin::Transport(conn.addr.clone()),
                    ));
                }
                Ok(Some(InboundFrame::Heartbeat)) => {}
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(peer = %conn.peer, "closing connection: {e}");
                    return Ok(());
                }
            }
        }
        if buf.capacity() - buf.len() < chunk / 4 {
            buf.reserve(chunk);
        }
        let wait = if first {
            HANDSHAKE_TIMEOUT
        } else {
            IDLE_TIMEOUT
        };
        let n = match tokio::time::timeout(wait, read_some(&conn.stream, &mut buf)).await {
            Ok(r) => r?,
            Err(_) => {
                tracing::info!(peer = %conn.peer, "closing idle connection");
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        // A read that filled most of the space asks for more next time; small reads shrink it.
        chunk = if n * 2 >= chunk {
            (chunk * 2).min(512 * 1024)
        } else {
            (chunk / 2).max(16 * 1024)
        };
        first = false;
    }
}

async fn read_some(stream: &TcpStream, buf: &mut BytesMut) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read_buf(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

/// Drains the outbox whenever writers handed it over; sends heartbeats when idle.
async fn flush_loop(conn: &Connection) -> std::io::Result<()> {
    let mut batch: Vec<Bytes> = Vec::with_capacity(64);
    loop {
        let notified = conn.wake.notified();
        let flushing = {
            let out = conn.out.lock().expect("outbox");
            if out.failed {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            out.flushing
        };
        if !flushing {
            if tokio::time::timeout(HEARTBEAT_INTERVAL, notified)
                .await
                .is_err()
            {
                conn.send_bytes(Bytes::from_static(&HEARTBEAT));
            }
            continue;
        }
        loop {
            {
                let mut out = conn.out.lock().expect("outbox");
                if out.failed {
                    return Err(std::io::ErrorKind::BrokenPipe.into());
                }
                if out.queue.is_empty() {
                    out.flushing = false;
                    break;
                }
                let n = out.queue.len().min(64);
                for b in out.queue.drain(..n) {
                    batch.push(b);
                }
                let taken: usize = batch.iter().map(|b| b.len()).sum();
                out.queued = out.queued.saturating_sub(taken);
            }
            write_all_vectored(&conn.stream, &mut batch).await?;
        }
    }
}

const HEARTBEAT: [u8; 5] = [0, 0, 0, 1, transport_frame::KIND_HEARTBEAT];

/// Writes every buffer in `batch` (vectored, waiting for writability, handling partial writes)
/// and empties it.
pub async fn write_all_vectored(stream: &TcpStream, batch: &mut Vec<Bytes>) -> std::io::Result<()> {
    let mut idx = 0;
    while idx < batch.len() {
        stream.writable().await?;
        let slices: Vec<IoSlice<'_>> = batch[idx..]
            .iter()
            .take(64)
            .map(|b| IoSlice::new(b))
            .collect();
        let mut n = match stream.try_write_vectored(&slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        while n > 0 {
            let len = batch[idx].len();
            if n >= len {
                n -= len;
                idx += 1;
            } else {
                batch[idx].advance(n);
                n = 0;
            }
        }
    }
    batch.clear();
    Ok(())
}
