//! A portal link: one inlet's streams over one secure channel.
//!
//! The inlet sends `Hello` to the outlet's service address through the channel; the outlet
//! creates its own link worker and answers `HelloAck` from it, so both sides know each other's
//! link address. Then any number of streams open with a single `Open` frame — no round trip
//! before data may flow — and carry `Data`, `Credit`, `Fin` and `Reset` frames.
//!
//! The protocol state — windows, streams, credit, what to answer — is an
//! [`airlock_portal::LinkCore`]; this module is its shell: it registers the link's address,
//! checks that every frame came out of *its* secure channel from *its* peer (messages from
//! anywhere else, another channel or a bare TCP connection, are dropped), feeds the frames to the
//! core, sends what the core transmits and hands what it asks for to the stream sockets
//! ([`super::stream`]) or to the outlet's connector.
//!
//! * `hello` — setting the link up, and how a refusal reads;
//! * `frames` — the frames the peer sends, fed to the core;
//! * `streams` — opening, accepting and ending streams.

mod frames;
mod hello;
mod streams;

pub use hello::{Aborted, ConnectError, HelloRefusal, Refused};

use super::stream::{Stream, StreamEvent};
use super::PortalContext;
use crate::channel::SecureChannel;
use crate::message::Message;
use crate::portal::target::OutletTarget;
use crate::router::{Deliver, Endpoint};
use airlock_identity::Identifier;
use airlock_portal::{LinkCore, PortalFrame, ResetReason};
use airlock_wire::{Address, Packet, Route};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::oneshot;

/// Which end of the portal this link is.
pub enum Side {
    /// Inlet end; `hello_ack` fires when the outlet answered.
    Inlet {
        /// Completed by `HelloAck` (or a refusal).
        hello_ack: Mutex<Option<oneshot::Sender<Result<u32, HelloRefusal>>>>,
    },
    /// Outlet end; streams connect to `target`.
    Outlet {
        /// Where each stream goes.
        target: OutletTarget,
        /// The outlet's name (policy resource).
        resource: String,
        /// The policy resource type (`tcp-outlet`, `kafka-outlet`).
        resource_type: &'static str,
    },
}

/// Byte and connection counters.
#[derive(Default)]
pub struct LinkStats {
    /// Bytes received from local sockets and sent into the channel.
    pub bytes_out: AtomicU64,
    /// Bytes received from the channel and written to local sockets.
    pub bytes_in: AtomicU64,
    /// Streams opened in total.
    pub streams_opened: AtomicU64,
}

/// The protocol core and the sockets of its streams, under one lock.
struct Shared {
    core: LinkCore,
    sockets: HashMap<u32, Arc<Stream>>,
}

/// One side of a portal link.
pub struct Link {
    addr: Address,
    ret: Route,
    channel: Arc<SecureChannel>,
    peer: Identifier,
    remote: OnceLock<Route>,
    shared: Mutex<Shared>,
    closed: AtomicBool,
    /// Wakes [`Link::closed`] waiters once `closed` is set.
    closed_event: tokio::sync::Notify,
    close_reason: OnceLock<String>,
    side: Side,
    /// Counters shared with the inlet/outlet that owns the link.
    pub stats: Arc<LinkStats>,
    channel_hook: Mutex<Option<u64>>,
}

/// The link's entry in the router, with the context its frames are handled in.
struct LinkWorker {
    link: Arc<Link>,
    ctx: PortalContext,
}

impl Endpoint for LinkWorker {
    fn handle(&self, _: &Deliver, msg: Message) {
        self.link.handle(&self.ctx, msg);
    }
}

impl Link {
    fn new(
        ctx: &PortalContext,
        channel: Arc<SecureChannel>,
        side: Side,
        core: LinkCore,
        stats: Arc<LinkStats>,
    ) -> Option<Arc<Self>> {
        let peer = channel.peer()?.identifier;
        let addr = Address::new(format!("portal.{:016x}", crate::random_u64())).expect("valid");
        let link = Arc::new(Link {
            ret: Route::single(addr.clone()),
            addr,
            channel: channel.clone(),
            peer,
            remote: OnceLock::new(),
            shared: Mutex::new(Shared {
                core,
                sockets: HashMap::new(),
            }),
            closed: AtomicBool::new(false),
            closed_event: tokio::sync::Notify::new(),
            close_reason: OnceLock::new(),
            side,
            stats,
            channel_hook: Mutex::new(None),
        });
        // Only frames that came out of this link's own channel reach it.
        ctx.router().register(
            link.addr.clone(),
            crate::flow_control::Access::Via(channel.address().clone()),
            Arc::new(LinkWorker {
                link: link.clone(),
                ctx: ctx.clone(),
            }),
        );
        let weak = Arc::downgrade(&link);
        let n = ctx.clone();
        let id = channel.on_close(Box::new(move || {
            if let Some(l) = weak.upgrade() {
                l.close_with(&n, false, "its secure channel closed".into());
            }
        }));
        *link.channel_hook.lock().expect("hook") = Some(id);
        Some(link)
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().expect("link state")
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Resolves once the link is closed (at once if it already is): an event, not a poll.
    pub async fn closed(&self) {
        loop {
            let event = self.closed_event.notified();
            tokio::pin!(event);
            // Registered before the check: a close between the check and the await still wakes.
            event.as_mut().enable();
            if self.is_closed() {
                return;
            }
            event.await;
        }
    }

    /// Why the link closed (set by the first close), if it did.
    pub fn close_reason(&self) -> Option<&str> {
        self.close_reason.get().map(|s| s.as_str())
    }

    /// The channel peer (identity and current credential).
    pub fn channel_peer(&self) -> Option<Arc<crate::message::ChannelPeer>> {
        self.channel.peer().cloned()
    }

    /// The encrypting address of the link's secure channel.
    pub fn channel_address(&self) -> &Address {
        self.channel.address()
    }

    /// The window the peer advertised (capped at [`airlock_portal::MAX_WINDOW`]).
    pub fn peer_window(&self) -> u32 {
        self.shared().core.peer_window()
    }

    /// The peer identity.
    pub fn peer(&self) -> Identifier {
        self.peer
    }

    /// Number of open streams.
    pub fn stream_count(&self) -> usize {
        self.shared().sockets.len()
    }

    /// Sends a Data packet (header already prepended) to the peer link.
    pub fn send_packet(&self, ctx: &PortalContext, packet: Packet) -> bool {
        let Some(remote) = self.remote.get() else {
            return false;
        };
        self.channel.send(ctx, remote, &self.ret, packet).is_ok()
    }

    /// Sends a control frame to the peer link.
    pub fn send_control(&self, ctx: &PortalContext, frame: PortalFrame) -> bool {
        self.send_packet(ctx, frame.encode())
    }

    /// Sends whatever the core queued.
    fn flush(&self, ctx: &PortalContext) {
        loop {
            let Some(f) = self.shared().core.poll_transmit() else {
                return;
            };
            self.send_control(ctx, f);
        }
    }

    /// Closes the link: resets all its streams and unregisters. With `close_channel`, also
    /// closes the secure channel (the inlet owns its channel).
    pub fn close(&self, ctx: &PortalContext, close_channel: bool) {
        self.close_with(ctx, close_channel, "closed by this node".into());
    }

    /// [`Link::close`], recording `reason` (see [`Link::close_reason`]).
    pub fn close_with(&self, ctx: &PortalContext, close_channel: bool, reason: String) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = self.close_reason.set(reason);
        self.closed_event.notify_waiters();
        let (bye, sockets) = {
            let mut sh = self.shared();
            let bye = sh.core.close();
            // The core reports every stream reset; the sockets get Shutdown below.
            while sh.core.poll_event().is_some() {}
            let sockets: Vec<Arc<Stream>> = sh.sockets.drain().map(|(_, s)| s).collect();
            (bye, sockets)
        };
        // Tell the peer link, so its clients are cut too (not left waiting).
        if let Some(bye) = bye {
            if !self.channel.is_closed() {
                self.send_control(ctx, bye);
            }
        }
        ctx.router().unregister(&self.addr);
        for s in sockets {
            s.deliver(StreamEvent::Reset(ResetReason::Shutdown));
        }
        if let Some(id) = self.channel_hook.lock().expect("hook").take() {
            self.channel.remove_hook(id);
        }
        if close_channel {
            self.channel.close(ctx, true);
        }
    }
}
