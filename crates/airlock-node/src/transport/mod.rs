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
//! and the transport's own registry — not the node.//!
//! * `registry` — [`Transport`], the node's registry of connections, and [`TransportContext`];
//! * `connection` — one [`Connection`] and its outbox;
//! * `io` — its reader and flusher tasks.

mod connection;
mod io;
mod registry;

pub use crate::close_hooks::CloseHook;
pub use connection::Connection;
pub use io::write_all_vectored;
pub use registry::{Transport, TransportContext};

use airlock_wire::Address;
use connection::start;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;

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

/// Starts listening; returns the bound address. Accepted connections become workers.
///
/// `ctx` is anything that lends a [`TransportContext`]: the context itself, or a
/// [`crate::Node`] (the public entry point).
pub async fn listen(
    ctx: &impl AsRef<TransportContext>,
    addr: SocketAddr,
) -> std::io::Result<SocketAddr> {
    let ctx = ctx.as_ref();
    let listener = crate::listener::bind(addr)?;
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
