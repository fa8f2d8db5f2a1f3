//! Driving the handshake of a secure channel (both roles), abort notices, the `api` listener
//! that answers handshakes, and `create` for initiators. The data path is in the parent module.

use super::*;

impl SecureChannel {
    /// Counts this channel's handshake outcome in the node's metrics, once: an initiator that
    /// completed and is then refused by the responder stays counted as established here (the
    /// responder's node counts the refusal).
    pub(super) fn count_outcome(
        &self,
        ctx: &ChannelContext,
        outcome: crate::counters::HandshakeOutcome,
    ) {
        if !self.counted.swap(true, Ordering::AcqRel) {
            ctx.counters().count_handshake(outcome);
        }
    }

    pub(super) fn send_handshake(&self, ctx: &ChannelContext, onward: Route, bytes: &[u8]) {
        let payload = Packet::copy_from(bytes);
        ctx.deliver().deliver(Message::new(
            onward,
            Route::single(self.dec.clone()),
            payload,
        ));
    }

    /// Tells the initiator (unauthenticated, informational) why its handshake was refused.
    pub(super) fn send_abort(&self, ctx: &ChannelContext, notice: AbortNotice) {
        if let Some(remote) = self.remote.get() {
            ctx.deliver().deliver(Message::new(
                remote.clone(),
                Route::empty(),
                Packet::copy_from(&notice.encode()),
            ));
        }
    }

    pub(super) fn fail(&self, ctx: &ChannelContext, reason: String) {
        self.count_outcome(ctx, crate::counters::HandshakeOutcome::Failed);
        tracing::info!(channel = %self.enc, "secure channel handshake failed: {reason}");
        self.status.send_replace(ChannelStatus::Failed(reason));
        self.close(ctx, false);
    }

    pub(super) fn refuse(&self, ctx: &ChannelContext, reason: String) {
        self.count_outcome(ctx, crate::counters::HandshakeOutcome::Refused);
        tracing::info!(channel = %self.enc, "secure channel handshake refused: {reason}");
        self.status.send_replace(ChannelStatus::Refused(reason));
        self.close(ctx, false);
    }

    pub(super) fn handle_from_peer(self: &Arc<Self>, ctx: &ChannelContext, mut msg: Message) {
        let Some(&kind) = msg.payload.data().first() else {
            return;
        };
        if kind == ChannelKind::Data.byte() {
            self.handle_data(ctx, msg);
            return;
        }
        if kind == ChannelKind::Abort.byte() {
            if self.role == Role::Initiator && !self.peer_confirmed.load(Ordering::Acquire) {
                let Ok(notice) = AbortNotice::decode(msg.payload.data()) else {
                    return;
                };
                let reason = notice.reason;
                match notice.code {
                    AbortCode::Refused => {
                        self.refuse(ctx, format!("the peer refused the handshake: {reason}"))
                    }
                    AbortCode::Failed => {
                        self.fail(ctx, format!("the peer aborted the handshake: {reason}"))
                    }
                }
            }
            return;
        }
        let mut guard = self.handshake.lock().expect("handshake lock");
        let Some(hs) = guard.as_mut() else {
            return; // handshake finished: stray or replayed handshake message
        };
        let expected = if self.role == Role::Initiator { 2 } else { 3 };
        if kind != expected {
            return;
        }
        if self.role == Role::Initiator && self.remote.get().is_none() {
            let _ = self.remote.set(msg.ret.clone());
        }
        let remote = self.remote.get().cloned().unwrap_or_default();
        match hs.read(msg.payload.data_mut(), crate::unix_now()) {
            Ok(HandshakeStep::SendAndComplete(m3)) => {
                self.send_handshake(ctx, remote, &m3);
                let hs = guard.take().expect("present");
                drop(guard);
                self.complete(ctx, hs);
            }
            Ok(HandshakeStep::Complete) => {
                let hs = guard.take().expect("present");
                drop(guard);
                self.complete(ctx, hs);
            }
            Ok(HandshakeStep::Send(_)) => {
                drop(guard);
                self.fail(ctx, "unexpected handshake state".into());
            }
            Err(e) => {
                guard.take();
                drop(guard);
                let refused = matches!(e, HandshakeError::Untrusted(_));
                // The channel is gone here before the initiator can hear why: whoever learns
                // of the refusal finds no half-open channel left on this node.
                if refused {
                    self.refuse(ctx, e.to_string());
                } else {
                    self.fail(ctx, e.to_string());
                }
                if self.role == Role::Responder {
                    let notice = if refused {
                        AbortNotice::refused(e.to_string())
                    } else {
                        AbortNotice::failed(e.to_string())
                    };
                    self.send_abort(ctx, notice);
                }
            }
        }
    }

    pub(super) fn complete(self: &Arc<Self>, ctx: &ChannelContext, hs: Handshake) {
        match hs.finish() {
            Ok((send, recv, peer)) => {
                if ctx.access().is_revoked(&peer.identifier) {
                    let reason = format!("{} is a revoked project member", peer.identifier);
                    self.refuse(ctx, reason.clone());
                    if self.role == Role::Responder {
                        self.send_abort(ctx, AbortNotice::refused(reason));
                    }
                    return;
                }
                let credential = ctx
                    .access()
                    .verify_credentials(&peer.identifier, &peer.credentials);
                // What the peer may reach here: a channel the listener accepted exposes this
                // node's services; a channel this node opened exposes nothing until its owner
                // widens it (flow control, docs/protocol.md §2.1).
                let exposure = match self.role {
                    Role::Responder => Exposure::Services,
                    Role::Initiator => Exposure::Nothing,
                };
                let _ = self.peer.set(Arc::new(ChannelPeer {
                    identifier: peer.identifier,
                    channel: self.enc.clone(),
                    credential: Arc::new(std::sync::RwLock::new(credential)),
                    exposure: crate::flow_control::ExposureCell::new(exposure),
                }));
                // The peer is known before the first data message can be opened.
                *self.send.lock().expect("send") = Some(send);
                *self.recv.lock().expect("recv") = Some(recv);
                self.count_outcome(ctx, crate::counters::HandshakeOutcome::Established);
                tracing::info!(channel = %self.enc, peer = %peer.identifier, role = ?self.role, "secure channel established");
                let _ = self.peer_identity.set(peer);
                self.watch_first_hop(ctx);
                self.status.send_replace(ChannelStatus::Open);
            }
            Err(e) => self.fail(ctx, e.to_string()),
        }
    }

    /// Closes this channel when the connection or channel it runs over closes.
    pub(super) fn watch_first_hop(self: &Arc<Self>, ctx: &ChannelContext) {
        let Some(first) = self.remote.get().and_then(|r| r.first().cloned()) else {
            return;
        };
        self.watch_hop(ctx, first);
    }

    /// Closes this channel when `first` (a connection or an outer channel) closes. Replaces an
    /// earlier watch.
    pub(super) fn watch_hop(self: &Arc<Self>, ctx: &ChannelContext, first: Address) {
        if let Some((addr, id)) = self.first_hop_hook.lock().expect("hook").take() {
            ctx.remove_close_hook(&addr, id);
        }
        let weak = Arc::downgrade(self);
        let n = ctx.clone();
        let hook: CloseHook = Box::new(move || {
            if let Some(ch) = weak.upgrade() {
                ch.close(&n, false);
            }
        });
        if let Some(id) = ctx.on_close(&first, hook) {
            *self.first_hop_hook.lock().expect("hook") = Some((first, id));
        } else {
            // The first hop is already gone.
            self.close(ctx, false);
        }
    }
}

/// Opens a channel to the listener at the end of `route_to_listener` (e.g. `[tcp.1, api]`).
///
/// `ctx` is anything that lends a [`ChannelContext`]: the context itself, a portal context, or a
/// [`crate::Node`] (the public entry point).
pub async fn create(
    ctx: &impl AsRef<ChannelContext>,
    route_to_listener: Route,
    trust: TrustPolicy,
    timeout: Duration,
) -> Result<Arc<SecureChannel>, ChannelError> {
    let ctx = ctx.as_ref();
    let local = ctx.local_identity();
    let (hs, m1) = Handshake::initiate(&local, trust, ctx.rekey_policy())
        .map_err(|e| ChannelError::Failed(e.to_string()))?;
    let ch = SecureChannel::new(ctx, Role::Initiator, format!("{route_to_listener}"));
    *ch.handshake.lock().expect("hs") = Some(hs);
    ch.register(ctx, route_to_listener.first());
    // Fail fast if the connection under the handshake drops (e.g. a stale reused connection).
    if let Some(first) = route_to_listener.first() {
        ch.watch_hop(ctx, first.clone());
    }
    ch.send_handshake(ctx, route_to_listener, &m1);
    match ch.wait_open(timeout).await {
        Ok(()) => Ok(ch),
        Err(e) => {
            // Timeouts end here without passing through `fail`.
            ch.count_outcome(ctx, crate::counters::HandshakeOutcome::Failed);
            ch.close(ctx, false);
            Err(e)
        }
    }
}

/// The secure channel listener (`api`): answers handshake message 1.
pub struct Listener {
    trust: TrustPolicy,
}

impl Listener {
    /// A listener accepting peers allowed by `trust`.
    pub fn new(trust: TrustPolicy) -> Self {
        Listener { trust }
    }

    /// Identifiers this listener accepts, if restricted.
    pub fn authorized(&self) -> Option<&[Identifier]> {
        match &self.trust {
            TrustPolicy::Everyone => None,
            TrustPolicy::Identifiers(ids) => Some(ids),
        }
    }

    /// Answers a handshake message 1 that reached the listener: checks the limits on
    /// handshakes in progress, then computes message 2 off the calling task and registers the
    /// responder end.
    pub fn handle(&self, ctx: &ChannelContext, mut msg: Message) {
        if msg.payload.data().first() != Some(&ChannelKind::Handshake1.byte()) {
            return;
        }
        if ctx.pending_handshakes(None) >= MAX_PENDING_HANDSHAKES {
            tracing::warn!("too many handshakes in progress; dropping handshake message 1");
            return;
        }
        let source = match &msg.origin {
            crate::flow_control::Origin::Transport(conn) => {
                ctx.connection_peer(conn).map(|a| a.ip())
            }
            _ => None,
        };
        if let Some(ip) = source {
            if ctx.pending_handshakes(Some(ip)) >= MAX_PENDING_HANDSHAKES_PER_SOURCE {
                tracing::warn!(source = %ip, "too many handshakes in progress from this address; dropping handshake message 1");
                return;
            }
        }
        // The Diffie-Hellman and signing work of message 2 runs off the task that read the
        // message (a TCP reader keeps reading), bounded node-wide. Nothing can overtake it:
        // the initiator sends message 3 only after it has message 2.
        let Ok(permit) = ctx.registry().handshake_work().try_acquire_owned() else {
            tracing::warn!(
                "too many handshake messages being answered; dropping handshake message 1"
            );
            return;
        };
        let local = ctx.local_identity();
        let (trust, rekey, n) = (self.trust.clone(), ctx.rekey_policy(), ctx.clone());
        tokio::spawn(async move {
            let work = tokio::task::spawn_blocking(move || {
                let mut hs = Handshake::respond(&local, trust, rekey)
                    .map_err(|e| format!("cannot start responder: {e}"))?;
                match hs.read(msg.payload.data_mut(), crate::unix_now()) {
                    Ok(HandshakeStep::Send(m2)) => Ok((hs, m2, msg)),
                    Ok(_) => Err("unexpected handshake state".to_string()),
                    Err(e) => Err(format!("bad handshake message 1: {e}")),
                }
            })
            .await;
            drop(permit);
            match work {
                Ok(Ok((hs, m2, msg))) => respond(&n, hs, &m2, msg, source),
                Ok(Err(e)) => tracing::debug!("{e}"),
                Err(e) => tracing::error!("handshake work failed: {e}"),
            }
        });
    }
}

/// Creates the responder end for an answered message 1 and sends message 2.
fn respond(
    ctx: &ChannelContext,
    hs: Handshake,
    step: &[u8],
    msg: Message,
    source: Option<std::net::IpAddr>,
) {
    {
        // Check the limits again and register under one gate: several answers computed in
        // parallel must not overshoot them.
        let _gate = ctx.registry().responder_gate();
        if ctx.pending_handshakes(None) >= MAX_PENDING_HANDSHAKES {
            tracing::warn!("too many handshakes in progress; dropping handshake message 1");
            return;
        }
        if let Some(ip) = source {
            if ctx.pending_handshakes(Some(ip)) >= MAX_PENDING_HANDSHAKES_PER_SOURCE {
                tracing::warn!(source = %ip, "too many handshakes in progress from this address; dropping handshake message 1");
                return;
            }
        }
        let ch = SecureChannel::new(ctx, Role::Responder, format!("{}", msg.ret));
        let _ = ch.remote.set(msg.ret.clone());
        if let Some(ip) = source {
            let _ = ch.source.set(ip);
        }
        *ch.handshake.lock().expect("hs") = Some(hs);
        ch.register(ctx, msg.origin.hop());
        ch.send_handshake(ctx, msg.ret, step);
        let (n, weak) = (ctx.clone(), Arc::downgrade(&ch));
        tokio::spawn(async move {
            tokio::time::sleep(HANDSHAKE_TIMEOUT).await;
            if let Some(ch) = weak.upgrade() {
                if ch.status() == ChannelStatus::Handshaking {
                    ch.fail(&n, "handshake timed out".into());
                }
            }
        });
    }
}
