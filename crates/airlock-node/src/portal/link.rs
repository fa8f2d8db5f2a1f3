//! A portal link: one inlet's streams over one secure channel.
//!
//! The inlet sends `Hello` to the outlet's service address through the channel; the outlet
//! creates its own link worker and answers `HelloAck` from it, so both sides know each other's
//! link address. Then any number of streams open with a single `Open` frame — no round trip
//! before data may flow — and carry `Data`, `Credit`, `Fin` and `Reset` frames.
//!
//! Every frame a link accepts must come out of *its* secure channel: messages from anywhere else
//! (another channel, a bare TCP connection) are dropped.

use super::stream::{self, Stream, StreamEvent};
use crate::channel::SecureChannel;
use crate::message::Message;
use crate::node::Node;
use crate::router::Worker;
use airlock_channel::AbortNotice;
use airlock_identity::Identifier;
use airlock_portal::{PortalFrame, ResetReason, DEFAULT_WINDOW, MAX_STREAMS_PER_LINK, MAX_WINDOW};
use airlock_wire::{Address, Packet, Route};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
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

/// One side of a portal link.
pub struct Link {
    addr: Address,
    ret: Route,
    channel: Arc<SecureChannel>,
    peer: Identifier,
    remote: OnceLock<Route>,
    peer_window: AtomicU32,
    streams: Mutex<HashMap<u32, Arc<Stream>>>,
    next_stream: AtomicU32,
    closed: AtomicBool,
    close_reason: OnceLock<String>,
    side: Side,
    /// Counters shared with the inlet/outlet that owns the link.
    pub stats: Arc<LinkStats>,
    channel_hook: Mutex<Option<u64>>,
}

struct LinkWorker(Arc<Link>);

impl Worker for LinkWorker {
    fn handle(&self, node: &Node, msg: Message) {
        self.0.handle(node, msg);
    }
}

impl Link {
    fn new(
        node: &Node,
        channel: Arc<SecureChannel>,
        side: Side,
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
            peer_window: AtomicU32::new(DEFAULT_WINDOW),
            streams: Mutex::new(HashMap::new()),
            next_stream: AtomicU32::new(1),
            closed: AtomicBool::new(false),
            close_reason: OnceLock::new(),
            side,
            stats,
            channel_hook: Mutex::new(None),
        });
        // Only frames that came out of this link's own channel reach it.
        node.router().register(
            link.addr.clone(),
            crate::flow_control::Access::Via(channel.address().clone()),
            Arc::new(LinkWorker(link.clone())),
        );
        let weak = Arc::downgrade(&link);
        let n = node.clone();
        let id = channel.on_close(Box::new(move || {
            if let Some(l) = weak.upgrade() {
                l.close_with(&n, false, "its secure channel closed".into());
            }
        }));
        *link.channel_hook.lock().expect("hook") = Some(id);
        Some(link)
    }

    /// Inlet side: sends `Hello` to `outlet_route` (the route after the channel on the peer node)
    /// and waits for the outlet's `HelloAck`.
    pub async fn connect(
        node: &Node,
        channel: Arc<SecureChannel>,
        outlet_route: Route,
        stats: Arc<LinkStats>,
        timeout: Duration,
    ) -> anyhow::Result<Arc<Link>> {
        let (tx, rx) = oneshot::channel();
        let side = Side::Inlet {
            hello_ack: Mutex::new(Some(tx)),
        };
        let link = Link::new(node, channel.clone(), side, stats)
            .ok_or_else(|| anyhow::anyhow!("secure channel is not open"))?;
        let hello = PortalFrame::Hello {
            window: DEFAULT_WINDOW,
        }
        .encode();
        channel.send(node, &outlet_route, &link.ret, hello)?;
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
            link.close(node, false);
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
            Ok(Ok(Ok(window))) => {
                link.peer_window
                    .store(window.min(MAX_WINDOW), Ordering::Relaxed);
                Ok(link)
            }
            Ok(Ok(Err(HelloRefusal::Reset(_)))) => {
                link.close_with(node, false, Refused.to_string());
                Err(anyhow::Error::new(Refused))
            }
            Ok(Ok(Err(HelloRefusal::Aborted(notice)))) => {
                let e = Aborted(notice);
                link.close_with(node, false, e.to_string());
                Err(anyhow::Error::new(e))
            }
            _ => {
                link.close(node, false);
                anyhow::bail!(
                    "the outlet did not answer within {timeout:?} (is there an outlet at {outlet_route} on the peer node, and may this identity use it?)"
                )
            }
        }
    }

    /// Outlet side: accepts a `Hello` that arrived through `channel` from `ret`. The `HelloAck`
    /// is not sent yet: the outlet records the link first and then calls [`Link::answer_hello`],
    /// so an outlet deleted meanwhile cannot miss a link the inlet already uses.
    pub fn accept(
        node: &Node,
        channel: Arc<SecureChannel>,
        mut ret: Route,
        window: u32,
        target: String,
        resource: String,
        stats: Arc<LinkStats>,
    ) -> Option<Arc<Link>> {
        let link = Link::new(
            node,
            channel.clone(),
            Side::Outlet { target, resource },
            stats,
        )?;
        link.peer_window
            .store(window.min(MAX_WINDOW), Ordering::Relaxed);
        ret.pop_front(); // the channel's own address
        let _ = link.remote.set(ret);
        Some(link)
    }

    /// Outlet side: sends the `HelloAck` for a link made by [`Link::accept`].
    pub fn answer_hello(&self, node: &Node) {
        self.send_control(
            node,
            PortalFrame::HelloAck {
                window: DEFAULT_WINDOW,
            },
        );
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
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

    /// The window the peer advertised (capped at [`MAX_WINDOW`]).
    pub fn peer_window(&self) -> u32 {
        self.peer_window.load(Ordering::Relaxed)
    }

    /// The peer identity.
    pub fn peer(&self) -> Identifier {
        self.peer
    }

    /// Number of open streams.
    pub fn stream_count(&self) -> usize {
        self.streams.lock().expect("streams").len()
    }

    /// Sends a Data packet (header already prepended) to the peer link.
    pub fn send_packet(&self, node: &Node, packet: Packet) -> bool {
        let Some(remote) = self.remote.get() else {
            return false;
        };
        self.channel.send(node, remote, &self.ret, packet).is_ok()
    }

    /// Sends a control frame to the peer link.
    pub fn send_control(&self, node: &Node, frame: PortalFrame) -> bool {
        self.send_packet(node, frame.encode())
    }

    /// Inlet side: carries `socket` as a new stream.
    pub fn open_stream(self: &Arc<Self>, node: &Node, socket: TcpStream) {
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let stream = Stream::new(id, self.peer_window.load(Ordering::Relaxed));
        self.streams
            .lock()
            .expect("streams")
            .insert(id, stream.clone());
        self.stats.streams_opened.fetch_add(1, Ordering::Relaxed);
        if !self.send_control(node, PortalFrame::Open { stream: id }) || self.is_closed() {
            self.streams.lock().expect("streams").remove(&id);
            return;
        }
        let (link, node) = (self.clone(), node.clone());
        tokio::spawn(async move {
            stream::run(&node, &link, &stream, socket).await;
            link.streams.lock().expect("streams").remove(&id);
        });
    }

    /// Removes a stream from the table (called when it ends).
    pub fn forget_stream(&self, id: u32) {
        self.streams.lock().expect("streams").remove(&id);
    }

    fn handle(self: &Arc<Self>, node: &Node, msg: Message) {
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
            self.on_abort(node, &msg.payload);
            return;
        }
        let ret = msg.ret;
        let frame = match PortalFrame::decode(msg.payload) {
            Ok(f) => f,
            Err(e) => {
                node.count_malformed_portal_frame(&self.addr, &e);
                return;
            }
        };
        match frame {
            PortalFrame::HelloAck { window } => {
                if let Side::Inlet { hello_ack } = &self.side {
                    if let Some(tx) = hello_ack.lock().expect("ack").take() {
                        let mut r = ret;
                        r.pop_front();
                        let _ = self.remote.set(r);
                        let _ = tx.send(Ok(window));
                    }
                }
            }
            PortalFrame::Open { stream: id } => {
                let Side::Outlet { target, resource } = &self.side else {
                    return;
                };
                if let Some(peer) = self.channel_peer() {
                    let allowed = if node.is_draining() {
                        Err("the node is shutting down".to_string())
                    } else {
                        node.authorize(resource, "tcp-outlet", &peer)
                    };
                    if let Err(why) = allowed {
                        tracing::warn!(outlet = %resource, "connection refused: {why}");
                        self.send_control(
                            node,
                            PortalFrame::Reset {
                                stream: id,
                                reason: ResetReason::Refused,
                            },
                        );
                        return;
                    }
                }
                let stream = Stream::new(id, self.peer_window.load(Ordering::Relaxed));
                {
                    let mut streams = self.streams.lock().expect("streams");
                    if streams.contains_key(&id) {
                        return;
                    }
                    if streams.len() >= MAX_STREAMS_PER_LINK {
                        drop(streams);
                        tracing::warn!(outlet = %resource, "connection refused: the link carries {MAX_STREAMS_PER_LINK} streams already");
                        self.send_control(
                            node,
                            PortalFrame::Reset {
                                stream: id,
                                reason: ResetReason::Refused,
                            },
                        );
                        return;
                    }
                    streams.insert(id, stream.clone());
                }
                self.stats.streams_opened.fetch_add(1, Ordering::Relaxed);
                let (link, node, target) = (self.clone(), node.clone(), target.clone());
                tokio::spawn(async move {
                    let connected =
                        tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&target))
                            .await;
                    match connected {
                        Ok(Ok(socket)) => stream::run(&node, &link, &stream, socket).await,
                        Ok(Err(e)) => {
                            tracing::info!(%target, "outlet cannot connect to its target: {e}");
                            link.send_control(
                                &node,
                                PortalFrame::Reset {
                                    stream: id,
                                    reason: ResetReason::ConnectFailed,
                                },
                            );
                        }
                        Err(_) => {
                            tracing::info!(%target, "outlet timed out connecting to its target");
                            link.send_control(
                                &node,
                                PortalFrame::Reset {
                                    stream: id,
                                    reason: ResetReason::ConnectFailed,
                                },
                            );
                        }
                    }
                    link.streams.lock().expect("streams").remove(&id);
                });
            }
            PortalFrame::Data { stream: id, data } => {
                let s = self.streams.lock().expect("streams").get(&id).cloned();
                if let Some(s) = s {
                    match s.on_data(data.freeze()) {
                        Ok(0) => {}
                        Ok(n) => {
                            self.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                            if let Some(c) = s.consumed(n) {
                                self.send_control(
                                    node,
                                    PortalFrame::Credit {
                                        stream: id,
                                        bytes: c,
                                    },
                                );
                            }
                        }
                        Err(_) => {
                            self.send_control(
                                node,
                                PortalFrame::Reset {
                                    stream: id,
                                    reason: ResetReason::Refused,
                                },
                            );
                        }
                    }
                }
            }
            PortalFrame::Credit { stream: id, bytes } => {
                let s = self.streams.lock().expect("streams").get(&id).cloned();
                if let Some(s) = s {
                    if s.on_credit(bytes).is_err() {
                        self.send_control(
                            node,
                            PortalFrame::Reset {
                                stream: id,
                                reason: ResetReason::Refused,
                            },
                        );
                    }
                }
            }
            PortalFrame::Fin { stream: id } => {
                if let Some(s) = self.streams.lock().expect("streams").get(&id) {
                    s.deliver(StreamEvent::Fin);
                }
            }
            PortalFrame::Reset { stream: 0, reason } => {
                // Stream 0 is the link itself: the outlet refused our Hello, or the peer closed
                // the link (e.g. its policy no longer allows us).
                if let Side::Inlet { hello_ack } = &self.side {
                    if let Some(tx) = hello_ack.lock().expect("ack").take() {
                        let _ = tx.send(Err(HelloRefusal::Reset(reason)));
                        return;
                    }
                }
                tracing::info!(link = %self.addr, ?reason, "peer closed the portal link");
                self.close_with(
                    node,
                    false,
                    format!("the peer closed the portal link ({reason:?})"),
                );
            }
            PortalFrame::Reset { stream: id, reason } => {
                if let Some(s) = self.streams.lock().expect("streams").remove(&id) {
                    s.deliver(StreamEvent::Reset(reason));
                }
            }
            PortalFrame::Ping(n) => {
                self.send_control(node, PortalFrame::Pong(n));
            }
            PortalFrame::Pong(_) | PortalFrame::Hello { .. } => {}
        }
    }

    /// An abort notice arrived through the link's channel. It ends a link still waiting for its
    /// `HelloAck` (the waiter closes it with the reason); an established link ignores it.
    fn on_abort(&self, node: &Node, payload: &Packet) {
        let notice = match AbortNotice::decode(payload.data()) {
            Ok(n) => n,
            Err(e) => {
                node.count_malformed_portal_frame(&self.addr, &e);
                return;
            }
        };
        if let Side::Inlet { hello_ack } = &self.side {
            if let Some(tx) = hello_ack.lock().expect("ack").take() {
                let _ = tx.send(Err(HelloRefusal::Aborted(notice)));
                return;
            }
        }
        tracing::debug!(link = %self.addr, reason = %notice.reason, "ignoring an abort notice on an established link");
    }

    /// Closes the link: resets all its streams and unregisters. With `close_channel`, also
    /// closes the secure channel (the inlet owns its channel).
    pub fn close(&self, node: &Node, close_channel: bool) {
        self.close_with(node, close_channel, "closed by this node".into());
    }

    /// [`Link::close`], recording `reason` (see [`Link::close_reason`]).
    pub fn close_with(&self, node: &Node, close_channel: bool, reason: String) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = self.close_reason.set(reason);
        // Tell the peer link, so its clients are cut too (not left waiting).
        if !self.channel.is_closed() {
            self.send_control(
                node,
                PortalFrame::Reset {
                    stream: 0,
                    reason: ResetReason::Shutdown,
                },
            );
        }
        node.router().unregister(&self.addr);
        let streams: Vec<Arc<Stream>> = self
            .streams
            .lock()
            .expect("streams")
            .drain()
            .map(|(_, s)| s)
            .collect();
        for s in streams {
            s.deliver(StreamEvent::Reset(ResetReason::Shutdown));
        }
        if let Some(id) = self.channel_hook.lock().expect("hook").take() {
            self.channel.remove_hook(id);
        }
        if close_channel {
            self.channel.close(node, true);
        }
    }
}
