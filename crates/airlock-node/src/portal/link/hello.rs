//! Setting a link up: the inlet's `Hello` and its wait for the `HelloAck`, the outlet's accept
//! of a `Hello`, and how a refusal reads ([`Refused`], [`Aborted`], [`ConnectError`]). Everything after the
//! handshake is frame handling (`frames`) and streams (`streams`).

use super::{Link, LinkStats, Side};
use crate::channel::SecureChannel;
use crate::portal::target::OutletTarget;
use crate::portal::PortalContext;
use airlock_channel::AbortNotice;
use airlock_portal::{LinkCore, LinkState as CoreState, ResetReason};
use airlock_wire::{Packet, Route};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// The outlet refused the link (its policy denies this identity).
#[derive(Debug, thiserror::Error)]
#[error("the outlet refused this node (its policy denies this identity or credential)")]
pub struct Refused;

/// The outlet node aborted the link before it was up: an abort notice (docs/protocol.md §9.6)
/// answered the `Hello`, e.g. because there is no outlet at that address (any more).
#[derive(Debug, thiserror::Error)]
#[error("the outlet node aborted the portal link: {}", .0.reason)]
pub struct Aborted(pub AbortNotice);

/// Why [`Link::connect`] made no link.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The secure channel to the outlet node was not open (any more) when the link was made.
    #[error("secure channel is not open")]
    NotOpen,
    /// The secure channel failed or was refused (a trust policy, a revoked member), or the
    /// `Hello` could not be sent through it.
    #[error(transparent)]
    Channel(#[from] crate::channel::ChannelError),
    /// The secure channel to the outlet node closed while waiting for the answer.
    #[error("the secure channel to the outlet node closed")]
    ChannelClosed,
    /// The outlet refused the link (its policy denies this identity).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The outlet node aborted the link (no outlet at that address, say).
    #[error(transparent)]
    Aborted(#[from] Aborted),
    /// The outlet did not answer the `Hello` in time.
    #[error("the outlet did not answer within {timeout:?} (is there an outlet at {outlet} on the peer node, and may this identity use it?)")]
    NoAnswer {
        /// How long the inlet waited.
        timeout: Duration,
        /// The outlet's route on the peer node.
        outlet: Route,
    },
}

/// How the outlet answered a `Hello` other than with `HelloAck`.
#[derive(Debug)]
pub enum HelloRefusal {
    /// `Reset` on stream 0: the outlet refused the link.
    Reset(ResetReason),
    /// An abort notice from the outlet's node.
    Aborted(AbortNotice),
}

impl Link {
    /// Inlet side: sends `Hello` to `outlet_route` (the route after the channel on the peer node)
    /// and waits for the outlet's `HelloAck`.
    pub async fn connect(
        ctx: &PortalContext,
        channel: Arc<SecureChannel>,
        outlet_route: Route,
        stats: Arc<LinkStats>,
        timeout: Duration,
    ) -> Result<Arc<Link>, ConnectError> {
        let (tx, rx) = oneshot::channel();
        let side = Side::Inlet {
            hello_ack: Mutex::new(Some(tx)),
        };
        let link = Link::new(ctx, channel.clone(), side, LinkCore::inlet(), stats)
            .ok_or(ConnectError::NotOpen)?;
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
                _ => ConnectError::ChannelClosed,
            });
        };
        match answer {
            Ok(Ok(Ok(_window))) => Ok(link),
            Ok(Ok(Err(HelloRefusal::Reset(_)))) => {
                link.close_with(ctx, false, Refused.to_string());
                Err(Refused.into())
            }
            Ok(Ok(Err(HelloRefusal::Aborted(notice)))) => {
                let e = Aborted(notice);
                link.close_with(ctx, false, e.to_string());
                Err(e.into())
            }
            _ => {
                let e = ConnectError::NoAnswer {
                    timeout,
                    outlet: outlet_route,
                };
                link.close_with(ctx, false, e.to_string());
                Err(e)
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
        target: OutletTarget,
        (resource, resource_type): (String, &'static str),
        stats: Arc<LinkStats>,
    ) -> Option<Arc<Link>> {
        let link = Link::new(
            ctx,
            channel.clone(),
            Side::Outlet {
                target,
                resource,
                resource_type,
            },
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

    /// An abort notice arrived through the link's channel. It ends a link still waiting for its
    /// `HelloAck` (the waiter closes it with the reason); an established link ignores it.
    pub(super) fn on_abort(&self, ctx: &PortalContext, payload: &Packet) {
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
}
