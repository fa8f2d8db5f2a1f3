//! The link's streams as the stream sockets ([`crate::portal::stream`]) see them: opening one
//! for an inlet client, accepting one the peer opened (the outlet's policy check and connect
//! to its target), credit and the end of a stream.

use super::{Link, Side};
use crate::portal::socket::PortalSocket;
use crate::portal::stream::{self, Stream};
use crate::portal::PortalContext;
use airlock_portal::ResetReason;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Link {
    /// Bytes stream `id` may send now.
    pub(in crate::portal) fn send_available(&self, id: u32) -> u64 {
        self.shared().core.send_available(id)
    }

    /// Records `n` bytes sent on stream `id`.
    pub(in crate::portal) fn on_sent(&self, id: u32, n: usize) {
        self.shared().core.on_sent(id, n as u64);
    }

    /// Records `n` bytes of stream `id` written to its socket; sends a `Credit` when due.
    pub(in crate::portal) fn consumed(&self, ctx: &PortalContext, id: u32, n: usize) {
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
    pub(in crate::portal) fn finish_stream(&self, ctx: &PortalContext, id: u32) {
        let fin = self.shared().core.finish_stream(id);
        self.send_control(ctx, fin);
    }

    /// This side aborts stream `id` and tells the peer.
    pub(in crate::portal) fn reset_stream(
        &self,
        ctx: &PortalContext,
        id: u32,
        reason: ResetReason,
    ) {
        let reset = self.shared().core.reset_stream(id, reason);
        self.send_control(ctx, reset);
    }

    /// True if the link carries as many streams as the outlet accepts on one link.
    pub fn is_full(&self) -> bool {
        self.shared().core.is_full()
    }

    /// Inlet side: carries `socket` as a new stream. Gives the socket back if the link cannot
    /// take it (full, closed, or its `Open` could not be sent), so the caller may try another.
    pub fn open_stream(
        self: &Arc<Self>,
        ctx: &PortalContext,
        socket: impl Into<PortalSocket>,
    ) -> Result<(), PortalSocket> {
        let socket = socket.into();
        let (id, stream) = {
            let mut sh = self.shared();
            let Some((id, open)) = sh.core.open_stream() else {
                return Err(socket);
            };
            let stream = Stream::new(id);
            sh.sockets.insert(id, stream.clone());
            drop(sh);
            // Open goes out before the stream task can send any Data.
            if !self.send_control(ctx, open) || self.is_closed() {
                self.forget_stream(id);
                return Err(socket);
            }
            self.stats.streams_opened.fetch_add(1, Ordering::Relaxed);
            (id, stream)
        };
        let (link, ctx) = (self.clone(), ctx.clone());
        tokio::spawn(async move {
            stream::run(&ctx, &link, &stream, socket).await;
            link.forget_stream(id);
        });
        Ok(())
    }

    /// Removes a stream (called when it ends).
    pub fn forget_stream(&self, id: u32) {
        let mut sh = self.shared();
        sh.sockets.remove(&id);
        sh.core.remove_stream(id);
    }

    /// Outlet side: the peer opened `id`. Checks the policy, then connects to the target (data
    /// that arrives meanwhile is queued by the stream, within the window).
    pub(super) fn accept_stream(self: &Arc<Self>, ctx: &PortalContext, id: u32) {
        let Side::Outlet {
            target,
            resource,
            resource_type,
        } = &self.side
        else {
            return;
        };
        if let Some(peer) = self.channel_peer() {
            let allowed = if ctx.is_draining() {
                Err("the node is shutting down".to_string())
            } else {
                ctx.authorize(resource, resource_type, &peer)
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
            match target.connect().await {
                Ok(socket) => stream::run(&ctx, &link, &stream, socket).await,
                Err(why) => {
                    tracing::info!(%target, "outlet cannot connect to its target: {why}");
                    link.reset_stream(&ctx, id, ResetReason::ConnectFailed);
                }
            }
            link.forget_stream(id);
        });
    }
}
