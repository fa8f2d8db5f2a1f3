//! Frames in: what the peer link sends, checked to come out of this link's own channel and
//! from its peer, fed to the [`airlock_portal::LinkCore`], and the core's events and answers
//! carried out one at a time outside the lock (socket writes, channel sends, the outlet's
//! policy check for a new stream).

use super::{HelloRefusal, Link, Shared, Side};
use crate::message::Message;
use crate::portal::stream::{Stream, StreamEvent};
use crate::portal::PortalContext;
use airlock_channel::AbortNotice;
use airlock_portal::{CloseReason, LinkEvent, PortalFrame, MAX_STREAMS_PER_LINK};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The next thing to do after the core was fed: taken under the lock, done outside it (so no
/// socket write or channel send happens while the link is locked).
enum Action {
    Event(LinkEvent, Option<Arc<Stream>>),
    Transmit(PortalFrame),
}

impl Link {
    pub(super) fn handle(self: &Arc<Self>, ctx: &PortalContext, msg: Message) {
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
}
