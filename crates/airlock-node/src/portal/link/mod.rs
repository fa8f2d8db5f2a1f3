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

use super::stream::{self, Stream, StreamEvent};
use super::PortalContext;
use crate::channel::SecureChannel;
use crate::message::Message;
use crate::router::{Deliver, Endpoint};
use airlock_channel::AbortNotice;
use airlock_identity::Identifier;
use airlock_portal::{
    CloseReason, LinkCore, LinkEvent, LinkState as CoreState, PortalFrame, ResetReason,
    MAX_STREAMS_PER_LINK,
};
use airlock_wire::{Address, Packet, Route};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// The outlet refused the link (its policy denies this identity).
#[derive(Debug, thiserror::Error)]
#[error("the outlet refused this node (its tcp-outlet policy denies this identity or credential)")]
pub struct Refused;

/// The outlet node aborted the link before it was up: an abort notice (docs/protocol.md §9.6)
/// answered the `Hello`, e.g. because there is no outlet at that address (any more).
#[derive(Debug, thiserror::Error)]
#[error("the outlet node aborted the portal link: {}", .0.reason)]
pub struct Aborted(pub AbortNotice);

/// How the outlet answered a `Hello` other than with `HelloAck`.
#[derive(Debug)]
pub enum HelloRefusal {
    /// `Reset` on stream 0: the outlet refused the link.
    Reset(ResetReason),
    /// An abort notice from the outlet's node.
    Aborted(AbortNotice),
}

/// Which end of the portal this link is.
pub enum Side {
    /// Inlet end; `hello_ack` fires when the outlet answered.
    Inlet {
        /// Completed by `HelloAck` (or a refusal).
        hello_ack: Mutex<Option<oneshot::Sender<Result<u32, HelloRefusal>>>>,
    },
    /// Outlet end; streams connect to `target`.
    Outlet {
        /// `host:port` of the service.
        target: String,
        /// The outlet's name (policy resource).
        resource: String,
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

/// The next thing to do after the core was fed: taken under the lock, done outside it (so no
/// socket write or channel send happens while the link is locked).
enum Action {
    Event(LinkEvent, Option<Arc<Stream>>),
    Transmit(PortalFrame),
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

    /// Inlet side: sends `Hello` to `outlet_route` (the route after the channel on the peer node)
    /// and waits for the outlet's `HelloAck`.
    pub async fn connect(
        ctx: &PortalContext,
        channel: Arc<SecureChannel>,
        outlet_route: Route,
        stats: Arc<LinkStats>,
        timeout: Duration,
    ) -> anyhow::Result<Arc<Link>> {
        let (tx, rx) = oneshot::channel();
        let side = Side::Inlet {
            hello_ack: Mutex::new(Some(tx)),
        };
        let link = Link::new(ctx, channel.clone(), side, LinkCore::inlet(), stats)
            .ok_or_else(|| anyhow::anyhow!("secure channel is not open"))?;
        // The Hello goes to the outlet's service address, not to a link (none exists yet).
        let hello = link.shared().core.poll_transmit().expect("Hello");
        channel.send(ctx, &outlet_route, &link.ret, hello.encode())?;
        // The channel may end first: a responder refuses the initiator after handshake message
        // 3, when this side already counts the channel as open. Report that as what it is.
        let answer = tokio::select! {
            r = tokio::time::timeout(timeout, rx) => Some(r),
            _ = async {
                if channel.wait_closed(timeout).await.is_none() {
                    std::future::pending::<()>().await;
                }
            } => None,
        };
        let Some(answer) = answer else {
            link.close_with(ctx, false, "its secure channel closed".into());
            return Err(match channel.status() {
                crate::channel::ChannelStatus::Refused(r) => {
                    crate::channel::ChannelError::Refused(r).into()
                }
                crate::channel::ChannelStatus::Failed(r) => {
                    crate::channel::ChannelError::Failed(r).into()
                }
                _ => anyhow::anyhow!("the secure channel to the outlet node closed"),
            });
        };
        match answer {
            Ok(Ok(Ok(_window))) => Ok(link),
            Ok(Ok(Err(HelloRefusal::Reset(_)))) => {
                link.close_with(ctx, false, Refused.to_string());
                Err(anyhow::Error::new(Refused))
            }
            Ok(Ok(Err(HelloRefusal::Aborted(notice)))) => {
                let e = Aborted(notice);
                link.close_with(ctx, false, e.to_string());
                Err(anyhow::Error::new(e))
            }
            _ => {
                let e = format!(
                    "the outlet did not answer within {timeout:?} (is there an outlet at {outlet_route} on the peer node, and may this identity use it?)"
                );
                link.close_with(ctx, false, e.clone());
                Err(anyhow::anyhow!(e))
            }
        }
    }

    /// Outlet side: accepts a `Hello{window}` that arrived through `channel` from `ret`. The
    /// `HelloAck` is queued, not sent: the outlet records the link first and then calls
    /// [`Link::answer_hello`], so an outlet deleted meanwhile cannot miss a link the inlet
    /// already uses.
    pub fn accept(
        ctx: &PortalContext,
        channel: Arc<SecureChannel>,
        mut ret: Route,
        window: u32,
        target: String,
        resource: String,
        stats: Arc<LinkStats>,
    ) -> Option<Arc<Link>> {
        let link = Link::new(
            ctx,
            channel.clone(),
            Side::Outlet { target, resource },
            LinkCore::outlet(window),
            stats,
        )?;
        ret.pop_front(); // the channel's own address
        let _ = link.remote.set(ret);
        Some(link)
    }

    /// Outlet side: sends the `HelloAck` queued by [`Link::accept`].
    pub fn answer_hello(&self, ctx: &PortalContext) {
        self.flush(ctx);
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

    /// Bytes stream `id` may send now.
    pub(super) fn send_available(&self, id: u32) -> u64 {
        self.shared().core.send_available(id)
    }

    /// Records `n` bytes sent on stream `id`.
    pub(super) fn on_sent(&self, id: u32, n: usize) {
        self.shared().core.on_sent(id, n as u64);
    }

    /// Records `n` bytes of stream `id` written to its socket; sends a `Credit` when due.
    pub(super) fn consumed(&self, ctx: &PortalContext, id: u32, n: usize) {
        let credit = {
            let mut sh = self.shared();
            sh.core.consumed(id, n as u64);
            sh.core.poll_transmit()
        };
        if let Some(f) = credit {
            self.send_control(ctx, f);
            self.flush(ctx);
        }
    }

    /// Stream `id` reached EOF on its socket: tells the peer (after the stream's last data).
    pub(super) fn finish_stream(&self, ctx: &PortalContext, id: u32) {
        let fin = self.shared().core.finish_stream(id);
        self.send_control(ctx, fin);
    }

    /// This side aborts stream `id` and tells the peer.
    pub(super) fn reset_stream(&self, ctx: &PortalContext, id: u32, reason: ResetReason) {
        let reset = self.shared().core.reset_stream(id, reason);
        self.send_control(ctx, reset);
    }

    /// Inlet side: carries `socket` as a new stream.
    pub fn open_stream(self: &Arc<Self>, ctx: &PortalContext, socket: TcpStream) {
        let (id, stream) = {
            let mut sh = self.shared();
            let Some((id, open)) = sh.core.open_stream() else {
                return;
            };
            let stream = Stream::new(id);
            sh.sockets.insert(id, stream.clone());
            drop(sh);
            self.stats.streams_opened.fetch_add(1, Ordering::Relaxed);
            // Open goes out before the stream task can send any Data.
            if !self.send_control(ctx, open) || self.is_closed() {
                self.forget_stream(id);
                return;
            }
            (id, stream)
        };
        let (link, ctx) = (self.clone(), ctx.clone());
        tokio::spawn(async move {
            stream::run(&ctx, &link, &stream, socket).await;
            link.forget_stream(id);
        });
    }

    /// Removes a stream (called when it ends).
    pub fn forget_stream(&self, id: u32) {
        let mut sh = self.shared();
        sh.sockets.remove(&id);
        sh.core.remove_stream(id);
    }

    fn handle(self: &Arc<Self>, ctx: &PortalContext, msg: Message) {
        let from_our_channel = msg
            .peer()
            .is_some_and(|p| p.channel == *self.channel.address() && p.identifier == self.peer);
        if !from_our_channel {
            tracing::warn!(link = %self.addr, "dropping portal frame that did not come through this link's secure channel");
            return;
        }
        // An abort notice is a channel message, not a portal frame: the outlet node answered our
        // Hello with it (nothing at that address). Recognise it before decoding portal frames.
        if AbortNotice::is_abort(msg.payload.data()) {
            self.on_abort(ctx, &msg.payload);
            return;
        }
        let frame = match PortalFrame::decode(msg.payload) {
            Ok(f) => f,
            Err(e) => {
                ctx.counters().count_malformed_portal_frame(&self.addr, &e);
                return;
            }
        };
        // The inlet learns the peer link's address from the HelloAck's return route.
        let hello_ack = matches!(frame, PortalFrame::HelloAck { .. });
        let mut next = {
            let mut sh = self.shared();
            sh.core.handle_frame(frame);
            Self::next_action(&mut sh)
        };
        if hello_ack && self.remote.get().is_none() {
            let mut r = msg.ret;
            r.pop_front();
            let _ = self.remote.set(r);
        }
        while let Some(action) = next {
            next = self.perform(ctx, action);
        }
    }

    fn next_action(sh: &mut Shared) -> Option<Action> {
        if let Some(ev) = sh.core.poll_event() {
            let socket = match &ev {
                LinkEvent::Data { stream, .. }
                | LinkEvent::Credit { stream }
                | LinkEvent::Finished { stream } => sh.sockets.get(stream).cloned(),
                LinkEvent::StreamReset { stream, .. } => sh.sockets.remove(stream),
                _ => None,
            };
            return Some(Action::Event(ev, socket));
        }
        sh.core.poll_transmit().map(Action::Transmit)
    }

    /// Does one action outside the lock; returns the next one.
    fn perform(self: &Arc<Self>, ctx: &PortalContext, action: Action) -> Option<Action> {
        match action {
            Action::Transmit(f) => {
                self.send_control(ctx, f);
            }
            Action::Event(LinkEvent::Data { stream, data }, socket) => {
                let written = socket.map_or(0, |s| s.on_data(data.freeze()));
                let mut sh = self.shared();
                if written > 0 {
                    self.stats
                        .bytes_in
                        .fetch_add(written as u64, Ordering::Relaxed);
                    sh.core.consumed(stream, written as u64);
                }
                return Self::next_action(&mut sh);
            }
            Action::Event(LinkEvent::Credit { .. }, Some(s)) => s.credit_arrived(),
            Action::Event(LinkEvent::Finished { .. }, Some(s)) => s.deliver(StreamEvent::Fin),
            Action::Event(LinkEvent::StreamReset { reason, .. }, Some(s)) => {
                s.deliver(StreamEvent::Reset(reason))
            }
            Action::Event(LinkEvent::Connected { peer_window }, _) => {
                if let Side::Inlet { hello_ack } = &self.side {
                    if let Some(tx) = hello_ack.lock().expect("ack").take() {
                        let _ = tx.send(Ok(peer_window));
                    }
                }
            }
            Action::Event(LinkEvent::HelloRefused(reason), _) => {
                if let Side::Inlet { hello_ack } = &self.side {
                    if let Some(tx) = hello_ack.lock().expect("ack").take() {
                        let _ = tx.send(Err(HelloRefusal::Reset(reason)));
                    }
                }
            }
            Action::Event(LinkEvent::StreamOpened { stream }, _) => self.accept_stream(ctx, stream),
            Action::Event(LinkEvent::StreamLimit { .. }, _) => {
                if let Side::Outlet { resource, .. } = &self.side {
                    tracing::warn!(outlet = %resource, "connection refused: the link carries {MAX_STREAMS_PER_LINK} streams already");
                }
            }
            Action::Event(LinkEvent::Closed(why), _) => {
                if let CloseReason::Peer(reason) = why {
                    tracing::info!(link = %self.addr, ?reason, "peer closed the portal link");
                    self.close_with(
                        ctx,
                        false,
                        format!("the peer closed the portal link ({reason:?})"),
                    );
                }
            }
            Action::Event(_, None) => {}
        }
        Self::next_action(&mut self.shared())
    }

    /// Outlet side: the peer opened `id`. Checks the policy, then connects to the target (data
    /// that arrives meanwhile is queued by the stream, within the window).
    fn accept_stream(self: &Arc<Self>, ctx: &PortalContext, id: u32) {
        let Side::Outlet { target, resource } = &self.side else {
            return;
        };
        if let Some(peer) = self.channel_peer() {
            let allowed = if ctx.is_draining() {
                Err("the node is shutting down".to_string())
            } else {
                ctx.authorize(resource, "tcp-outlet", &peer)
            };
            if let Err(why) = allowed {
                tracing::warn!(outlet = %resource, "connection refused: {why}");
                self.reset_stream(ctx, id, ResetReason::Refused);
                return;
            }
        }
        let stream = Stream::new(id);
        self.shared().sockets.insert(id, stream.clone());
        self.stats.streams_opened.fetch_add(1, Ordering::Relaxed);
        let (link, ctx, target) = (self.clone(), ctx.clone(), target.clone());
        tokio::spawn(async move {
            let connected =
                tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&target)).await;
            match connected {
                Ok(Ok(socket)) => stream::run(&ctx, &link, &stream, socket).await,
                Ok(Err(e)) => {
                    tracing::info!(%target, "outlet cannot connect to its target: {e}");
                    link.reset_stream(&ctx, id, ResetReason::ConnectFailed);
                }
                Err(_) => {
                    tracing::info!(%target, "outlet timed out connecting to its target");
                    link.reset_stream(&ctx, id, ResetReason::ConnectFailed);
                }
            }
            link.forget_stream(id);
        });
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

    /// An abort notice arrived through the link's channel. It ends a link still waiting for its
    /// `HelloAck` (the waiter closes it with the reason); an established link ignores it.
    fn on_abort(&self, ctx: &PortalContext, payload: &Packet) {
        let notice = match AbortNotice::decode(payload.data()) {
            Ok(n) => n,
            Err(e) => {
                ctx.counters().count_malformed_portal_frame(&self.addr, &e);
                return;
            }
        };
        if self.shared().core.state() == CoreState::AwaitingHelloAck {
            if let Side::Inlet { hello_ack } = &self.side {
                if let Some(tx) = hello_ack.lock().expect("ack").take() {
                    let _ = tx.send(Err(HelloRefusal::Aborted(notice)));
                    return;
                }
            }
        }
        tracing::debug!(link = %self.addr, reason = %notice.reason, "ignoring an abort notice on an established link");
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
