//! The protocol state of one portal link and its streams, sans-IO (docs/protocol.md §6).
//!
//! A [`LinkCore`] knows nothing of sockets, channels or tasks. The runtime feeds it the frames
//! that arrived for the link ([`LinkCore::handle_frame`]) and what its sockets did
//! ([`LinkCore::on_sent`], [`LinkCore::consumed`], [`LinkCore::finish_stream`], …), then drains
//! it: [`LinkCore::poll_transmit`] gives the control frames to send to the peer link and
//! [`LinkCore::poll_event`] what the sockets must do (write data, half-close, reset, wake a
//! sender that got credit). The shape follows `quinn-proto`'s `Connection`.
//!
//! Frames whose order matters relative to the data a caller sends itself (`Open` before a
//! stream's first `Data`, `Fin` and `Reset` after its last) are returned straight from the call
//! that makes them, so the caller sends them in order; replies to the peer (`Credit`, `Pong`,
//! refusals) wait in the transmit queue.
//!
//! What the core enforces: credit-based flow control per stream and direction (data beyond the
//! window and credit beyond what was sent are answered with `Reset{refused}`), at most
//! [`MAX_STREAMS_PER_LINK`] streams on the outlet side, a peer window capped at [`MAX_WINDOW`],
//! and that only the outlet side accepts `Open` and only the inlet side `HelloAck`.

use crate::flow::{FlowError, RecvCredit, SendCredit};
use crate::frame::{PortalFrame, ResetReason};
use crate::{DEFAULT_WINDOW, MAX_STREAMS_PER_LINK, MAX_WINDOW};
use airlock_wire::Packet;
use std::collections::{HashMap, VecDeque};

/// Which end of the portal a link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRole {
    /// The inlet end: sends `Hello`, opens streams.
    Inlet,
    /// The outlet end: answers `HelloAck`, accepts streams.
    Outlet,
}

/// Where a link is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Inlet: `Hello` sent, waiting for `HelloAck`.
    AwaitingHelloAck,
    /// Both sides know each other; streams may open.
    Open,
    /// Closed; every frame is ignored.
    Closed,
}

/// Why a link closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// This side closed it ([`LinkCore::close`]).
    Local,
    /// The peer sent `Reset` on stream 0 once the link was up.
    Peer(ResetReason),
}

/// Something the runtime must act on, from [`LinkCore::poll_event`].
#[derive(Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// Inlet: the outlet accepted the link; `peer_window` is its window (capped).
    Connected {
        /// The window the outlet offers per stream, at most [`MAX_WINDOW`].
        peer_window: u32,
    },
    /// Inlet: the outlet refused the link (`Reset` on stream 0 before `HelloAck`).
    HelloRefused(ResetReason),
    /// Outlet: the peer opened a stream. Connect it (data may already follow and is queued by
    /// the runtime), or refuse it with [`LinkCore::reset_stream`].
    StreamOpened {
        /// Stream id.
        stream: u32,
    },
    /// Outlet: an `Open` over [`MAX_STREAMS_PER_LINK`] was refused (a `Reset` is queued).
    StreamLimit {
        /// Stream id that was refused.
        stream: u32,
    },
    /// Bytes for the stream's socket, within the window. Report what the socket took with
    /// [`LinkCore::consumed`].
    Data {
        /// Stream id.
        stream: u32,
        /// The bytes (in place in the receive buffer).
        data: Packet,
    },
    /// The peer returned credit: the stream's sender may send again.
    Credit {
        /// Stream id.
        stream: u32,
    },
    /// The peer will send no more data on the stream (half-close).
    Finished {
        /// Stream id.
        stream: u32,
    },
    /// The stream ended abnormally and is gone: the peer reset it, this side refused a
    /// flow-control violation (a `Reset{refused}` is queued), or the link closed.
    StreamReset {
        /// Stream id.
        stream: u32,
        /// Why.
        reason: ResetReason,
    },
    /// The link closed (its streams were reset first, each with its own event).
    Closed(CloseReason),
}

/// Flow-control state of one stream, both directions.
#[derive(Debug)]
struct StreamState {
    /// What this side may still send (the peer's window).
    send: SendCredit,
    /// What the peer may still send (this side's window) and the credit owed to it.
    recv: RecvCredit,
}

/// One portal link's protocol state: its role, windows and streams.
#[derive(Debug)]
pub struct LinkCore {
    role: LinkRole,
    state: LinkState,
    local_window: u32,
    peer_window: u32,
    streams: HashMap<u32, StreamState>,
    next_stream: u32,
    transmits: VecDeque<PortalFrame>,
    events: VecDeque<LinkEvent>,
    violations: u64,
}

impl LinkCore {
    fn new(role: LinkRole, state: LinkState, peer_window: u32) -> Self {
        LinkCore {
            role,
            state,
            local_window: DEFAULT_WINDOW,
            peer_window: peer_window.min(MAX_WINDOW),
            streams: HashMap::new(),
            next_stream: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            violations: 0,
        }
    }

    /// The inlet end of a new link; queues `Hello` with this side's window.
    pub fn inlet() -> Self {
        let mut core = LinkCore::new(LinkRole::Inlet, LinkState::AwaitingHelloAck, DEFAULT_WINDOW);
        core.transmits.push_back(PortalFrame::Hello {
            window: core.local_window,
        });
        core
    }

    /// The outlet end of a link asked for by `Hello{window}`; queues `HelloAck`.
    pub fn outlet(hello_window: u32) -> Self {
        let mut core = LinkCore::new(LinkRole::Outlet, LinkState::Open, hello_window);
        core.transmits.push_back(PortalFrame::HelloAck {
            window: core.local_window,
        });
        core
    }

    /// Which end this is.
    pub fn role(&self) -> LinkRole {
        self.role
    }

    /// Where the link is in its life.
    pub fn state(&self) -> LinkState {
        self.state
    }

    /// The window the peer offers per stream (capped at [`MAX_WINDOW`]).
    pub fn peer_window(&self) -> u32 {
        self.peer_window
    }

    /// Streams open now.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// True if `stream` is open.
    pub fn has_stream(&self, stream: u32) -> bool {
        self.streams.contains_key(&stream)
    }

    /// Flow-control violations by the peer so far (each answered with `Reset{refused}`).
    pub fn violations(&self) -> u64 {
        self.violations
    }

    /// The next control frame to send to the peer link.
    pub fn poll_transmit(&mut self) -> Option<PortalFrame> {
        self.transmits.pop_front()
    }

    /// The next thing the runtime must do.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    fn stream_state(&self) -> StreamState {
        StreamState {
            send: SendCredit::new(self.peer_window),
            recv: RecvCredit::new(self.local_window),
        }
    }

    /// Feeds one frame that arrived for this link (from its own channel and peer: the runtime
    /// checks that).
    pub fn handle_frame(&mut self, frame: PortalFrame) {
        if self.state == LinkState::Closed {
            return;
        }
        match frame {
            PortalFrame::HelloAck { window } => {
                if self.role == LinkRole::Inlet && self.state == LinkState::AwaitingHelloAck {
                    self.peer_window = window.min(MAX_WINDOW);
                    self.state = LinkState::Open;
                    self.events.push_back(LinkEvent::Connected {
                        peer_window: self.peer_window,
                    });
                }
            }
            PortalFrame::Open { stream } => {
                if self.role != LinkRole::Outlet || self.streams.contains_key(&stream) {
                    return;
                }
                if self.streams.len() >= MAX_STREAMS_PER_LINK {
                    self.transmits.push_back(PortalFrame::Reset {
                        stream,
                        reason: ResetReason::Refused,
                    });
                    self.events.push_back(LinkEvent::StreamLimit { stream });
                    return;
                }
                let s = self.stream_state();
                self.streams.insert(stream, s);
                self.events.push_back(LinkEvent::StreamOpened { stream });
            }
            PortalFrame::Data { stream, data } => {
                let Some(s) = self.streams.get_mut(&stream) else {
                    return;
                };
                match s.recv.on_data(data.len() as u64) {
                    Ok(()) if data.is_empty() => {}
                    Ok(()) => self.events.push_back(LinkEvent::Data { stream, data }),
                    Err(e) => self.violation(stream, e),
                }
            }
            PortalFrame::Credit { stream, bytes } => {
                let Some(s) = self.streams.get_mut(&stream) else {
                    return;
                };
                match s.send.grant(bytes) {
                    Ok(()) => self.events.push_back(LinkEvent::Credit { stream }),
                    Err(e) => self.violation(stream, e),
                }
            }
            PortalFrame::Fin { stream } => {
                if self.streams.contains_key(&stream) {
                    self.events.push_back(LinkEvent::Finished { stream });
                }
            }
            PortalFrame::Reset { stream: 0, reason } => {
                // Stream 0 is the link itself: the outlet refused our Hello, or the peer closed
                // the link (e.g. its policy no longer allows us).
                if self.state == LinkState::AwaitingHelloAck {
                    self.state = LinkState::Closed;
                    self.events.push_back(LinkEvent::HelloRefused(reason));
                } else {
                    self.shut(CloseReason::Peer(reason));
                }
            }
            PortalFrame::Reset { stream, reason } => {
                if self.streams.remove(&stream).is_some() {
                    self.events
                        .push_back(LinkEvent::StreamReset { stream, reason });
                }
            }
            PortalFrame::Ping(n) => self.transmits.push_back(PortalFrame::Pong(n)),
            PortalFrame::Pong(_) | PortalFrame::Hello { .. } => {}
        }
    }

    /// The peer broke flow control on `stream`: refuse (reset) it on both sides.
    fn violation(&mut self, stream: u32, _why: FlowError) {
        self.violations += 1;
        self.streams.remove(&stream);
        self.transmits.push_back(PortalFrame::Reset {
            stream,
            reason: ResetReason::Refused,
        });
        self.events.push_back(LinkEvent::StreamReset {
            stream,
            reason: ResetReason::Refused,
        });
    }

    /// True if the link carries [`MAX_STREAMS_PER_LINK`] streams: the outlet would refuse
    /// another, so an inlet opens it on another link.
    pub fn is_full(&self) -> bool {
        self.streams.len() >= MAX_STREAMS_PER_LINK
    }

    /// Inlet: opens a new stream; returns its id and the `Open` frame, which the caller must
    /// send before any of the stream's data. `None` unless this is an open inlet link with room
    /// for another stream ([`LinkCore::is_full`]).
    pub fn open_stream(&mut self) -> Option<(u32, PortalFrame)> {
        if self.role != LinkRole::Inlet || self.state != LinkState::Open || self.is_full() {
            return None;
        }
        let stream = self.next_stream;
        self.next_stream = self.next_stream.wrapping_add(1).max(1);
        let s = self.stream_state();
        self.streams.insert(stream, s);
        Some((stream, PortalFrame::Open { stream }))
    }

    /// Bytes `stream` may send now (0 for an unknown stream).
    pub fn send_available(&self, stream: u32) -> u64 {
        self.streams
            .get(&stream)
            .map(|s| s.send.available())
            .unwrap_or(0)
    }

    /// Records `n` bytes sent on `stream` (at most [`LinkCore::send_available`]).
    pub fn on_sent(&mut self, stream: u32, n: u64) {
        if let Some(s) = self.streams.get_mut(&stream) {
            s.send.consume(n);
        }
    }

    /// Records `n` bytes of `stream` consumed by its socket; queues a `Credit` once due.
    pub fn consumed(&mut self, stream: u32, n: u64) {
        if let Some(s) = self.streams.get_mut(&stream) {
            if let Some(bytes) = s.recv.on_consumed(n) {
                self.transmits
                    .push_back(PortalFrame::Credit { stream, bytes });
            }
        }
    }

    /// This side will send no more data on `stream`: the `Fin` to send after its last data.
    pub fn finish_stream(&mut self, stream: u32) -> PortalFrame {
        PortalFrame::Fin { stream }
    }

    /// This side aborts `stream` (its socket failed, its target is unreachable, a policy
    /// refuses it): forgets it and returns the `Reset` to send.
    pub fn reset_stream(&mut self, stream: u32, reason: ResetReason) -> PortalFrame {
        self.streams.remove(&stream);
        PortalFrame::Reset { stream, reason }
    }

    /// Forgets a stream that ended normally (both directions finished).
    pub fn remove_stream(&mut self, stream: u32) {
        self.streams.remove(&stream);
    }

    /// Closes the link: resets every stream (events) and returns the `Reset` on stream 0 that
    /// tells the peer link (send it if the channel is still up). `None` if already closed.
    pub fn close(&mut self) -> Option<PortalFrame> {
        if self.state == LinkState::Closed {
            return None;
        }
        self.shut(CloseReason::Local);
        Some(PortalFrame::Reset {
            stream: 0,
            reason: ResetReason::Shutdown,
        })
    }

    fn shut(&mut self, why: CloseReason) {
        self.state = LinkState::Closed;
        let mut ids: Vec<u32> = self.streams.drain().map(|(id, _)| id).collect();
        ids.sort_unstable();
        for stream in ids {
            self.events.push_back(LinkEvent::StreamReset {
                stream,
                reason: ResetReason::Shutdown,
            });
        }
        self.transmits.clear();
        self.events.push_back(LinkEvent::Closed(why));
    }
}

#[cfg(test)]
mod tests;
