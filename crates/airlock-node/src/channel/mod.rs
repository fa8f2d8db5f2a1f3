//! Secure channel driver: runs the `airlock-channel` core over routed messages.
//!
//! Each channel end has two addresses on its node: `sc.X.e` (encrypting end: messages routed to
//! it are encrypted and sent to the peer) and `sc.X.d` (decrypting end: receives handshake and
//! data messages from the peer, decrypts them in place and routes the inner message onward with
//! the peer's identity attached and `sc.X.e` prepended to the return route, so answers are
//! encrypted too).
//!
//! The `api` listener answers handshake message 1 by creating a responder end.
//!
//! Channel ends never see the node: they work with a [`ChannelContext`] (delivery, the channels'
//! registry, the node's keys, access control), taken once when the end is registered.

use crate::close_hooks::{CloseHook, CloseHooks};
use crate::flow_control::{Access, Exposure, Origin};
use crate::message::{ChannelPeer, Message};
use crate::router::{Deliver, Endpoint};
use airlock_channel::{
    AbortCode, AbortNotice, ChannelKind, Handshake, HandshakeError, HandshakeStep, InnerMessage,
    PeerIdentity, RecvCipher, RekeyPolicy, Role, SendCipher, TrustPolicy,
};
use airlock_identity::Identifier;
use airlock_wire::{Address, Packet, Route};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

mod context;
mod handshake;
mod registry;
#[cfg(test)]
mod tests;
pub use context::ChannelContext;
pub use handshake::{create, Listener};
pub use registry::Channels;

/// How long a handshake may take before the channel is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Maximum number of responder handshakes in progress per ctx.
pub const MAX_PENDING_HANDSHAKES: usize = 256;
/// Most handshake messages 1 being answered at once (their key agreement and signing run off
/// the reading task); further ones are dropped until one finishes.
pub const MAX_HANDSHAKE_WORK: usize = 32;
/// Maximum number of responder handshakes in progress from one source IP address (over TCP).
pub const MAX_PENDING_HANDSHAKES_PER_SOURCE: usize = 16;
/// Channels rekey at least this often.
pub const REKEY_INTERVAL: Duration = Duration::from_secs(3600);

/// Lifecycle of a channel, observable by waiters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelStatus {
    /// Handshake in progress.
    Handshaking,
    /// Keys established.
    Open,
    /// Handshake failed; the reason.
    Failed(String),
    /// The peer (or this side's trust policy) refused the handshake: retrying will not help.
    Refused(String),
    /// Closed (by either side or because the route went down).
    Closed,
}

/// Errors from creating or using a channel.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChannelError {
    /// The handshake did not complete in time.
    #[error("secure channel handshake timed out after {0:?} (is the route right and the listener running?)")]
    Timeout(Duration),
    /// The handshake failed.
    #[error("secure channel handshake failed: {0}")]
    Failed(String),
    /// The handshake was refused (trust policy, revoked member): retrying will not help.
    #[error("secure channel refused: {0}")]
    Refused(String),
    /// The channel is closed.
    #[error("secure channel is closed")]
    Closed,
    /// The message cannot be sent (a route over the hop limit); nothing was sent.
    #[error("message not sent: {0}")]
    Unsendable(String),
}

/// One end of a secure channel.
pub struct SecureChannel {
    id: u64,
    enc: Address,
    dec: Address,
    role: Role,
    handshake: Mutex<Option<Handshake>>,
    send: Mutex<Option<SendCipher>>,
    recv: Mutex<Option<RecvCipher>>,
    remote: OnceLock<Route>,
    peer: OnceLock<Arc<ChannelPeer>>,
    peer_identity: OnceLock<PeerIdentity>,
    peer_confirmed: AtomicBool,
    status: watch::Sender<ChannelStatus>,
    closed: AtomicBool,
    hooks: CloseHooks,
    first_hop_hook: Mutex<Option<(Address, u64)>>,
    created: Instant,
    rejected: AtomicU64,
    /// Messages sealed and sent to the peer.
    sent: AtomicU64,
    /// The handshake outcome was counted (once per channel, by the first outcome).
    counted: AtomicBool,
    description: String,
    /// For responders reached over TCP: the source IP address of the connection (limits).
    source: OnceLock<std::net::IpAddr>,
}

impl std::fmt::Debug for SecureChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecureChannel({} {:?})", self.enc, self.role)
    }
}

/// A summary for `secure-channel list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChannelInfo {
    /// Encrypting address (use `/service/<address>` in routes).
    pub address: String,
    /// initiator or responder.
    pub role: String,
    /// The peer identifier once known.
    pub peer: Option<String>,
    /// Status.
    pub status: String,
    /// Where it goes (initiator) or came from (responder).
    pub route: String,
    /// Seconds since creation.
    pub age_secs: u64,
    /// The peer's verified credential attributes, if any.
    pub attributes: Option<std::collections::BTreeMap<String, String>>,
}

/// One of the two addresses of a channel end in the router, with the context it works in.
struct ChannelEnd {
    ch: Arc<SecureChannel>,
    ctx: ChannelContext,
    decrypting: bool,
}

impl Endpoint for ChannelEnd {
    fn handle(&self, _: &Deliver, msg: Message) {
        if self.decrypting {
            self.ch.handle_from_peer(&self.ctx, msg);
        } else {
            self.ch.handle_outgoing(&self.ctx, msg);
        }
    }
}

impl SecureChannel {
    fn new(ctx: &ChannelContext, role: Role, description: String) -> Arc<Self> {
        let id = ctx.next_id();
        let r = crate::random_u64();
        let (status, _) = watch::channel(ChannelStatus::Handshaking);
        Arc::new(SecureChannel {
            id,
            enc: Address::new(format!("sc.{r:016x}.e")).expect("valid"),
            dec: Address::new(format!("sc.{r:016x}.d")).expect("valid"),
            role,
            handshake: Mutex::new(None),
            send: Mutex::new(None),
            recv: Mutex::new(None),
            remote: OnceLock::new(),
            peer: OnceLock::new(),
            peer_identity: OnceLock::new(),
            peer_confirmed: AtomicBool::new(false),
            status,
            closed: AtomicBool::new(false),
            hooks: CloseHooks::default(),
            first_hop_hook: Mutex::new(None),
            created: Instant::now(),
            rejected: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            counted: AtomicBool::new(false),
            description,
            source: OnceLock::new(),
        })
    }

    /// Registers both ends: the encrypting end accepts only local senders; the decrypting end
    /// only what arrives over `first_hop` (the connection or outer channel the peer speaks
    /// through).
    fn register(self: &Arc<Self>, ctx: &ChannelContext, first_hop: Option<&Address>) {
        ctx.router().register(
            self.enc.clone(),
            Access::Local,
            Arc::new(ChannelEnd {
                ch: self.clone(),
                ctx: ctx.clone(),
                decrypting: false,
            }),
        );
        let dec_access = match first_hop {
            Some(h) => Access::Via(h.clone()),
            None => Access::Local,
        };
        ctx.router().register(
            self.dec.clone(),
            dec_access,
            Arc::new(ChannelEnd {
                ch: self.clone(),
                ctx: ctx.clone(),
                decrypting: true,
            }),
        );
        ctx.registry().remember(self.clone());
    }

    /// The encrypting address: route through it to reach the peer's ctx.
    pub fn address(&self) -> &Address {
        &self.enc
    }

    /// For a responder reached over TCP, the connection's source IP address.
    pub fn source_ip(&self) -> Option<std::net::IpAddr> {
        self.source.get().copied()
    }

    /// A node-unique id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Widens what the peer may reach on this node through this channel (e.g. a relay
    /// registration channel exposes the listener, so relayed handshakes reach this node).
    /// Has no effect before the handshake completed.
    pub fn expose(&self, exposure: Exposure) {
        if let Some(p) = self.peer.get() {
            p.exposure.set(exposure);
        }
    }

    /// The authenticated peer, once the handshake completed.
    pub fn peer(&self) -> Option<&Arc<ChannelPeer>> {
        self.peer.get()
    }

    /// The peer's full verified identity, once known.
    pub fn peer_identity(&self) -> Option<&PeerIdentity> {
        self.peer_identity.get()
    }

    /// Current status.
    pub fn status(&self) -> ChannelStatus {
        self.status.borrow().clone()
    }

    /// True once closed or failed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Number of messages sealed and sent to the peer (data, close, credential refresh).
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Number of data messages rejected (tampered, replayed, too old).
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// A summary.
    pub fn info(&self) -> ChannelInfo {
        ChannelInfo {
            address: self.enc.to_string(),
            role: match self.role {
                Role::Initiator => "initiator".into(),
                Role::Responder => "responder".into(),
            },
            peer: self.peer.get().map(|p| p.identifier.to_string()),
            status: match self.status() {
                ChannelStatus::Handshaking => "handshaking".into(),
                ChannelStatus::Open => "open".into(),
                ChannelStatus::Failed(r) => format!("failed: {r}"),
                ChannelStatus::Refused(r) => format!("refused: {r}"),
                ChannelStatus::Closed => "closed".into(),
            },
            route: self.description.clone(),
            age_secs: self.created.elapsed().as_secs(),
            attributes: self
                .peer
                .get()
                .and_then(|p| p.credential_at(crate::unix_now()))
                .map(|c| c.attributes),
        }
    }

    /// Runs `hook` when the channel closes (at once if already closed); returns an id for
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

    /// Waits until the handshake completed or failed.
    pub async fn wait_open(&self, timeout: Duration) -> Result<(), ChannelError> {
        let mut rx = self.status.subscribe();
        let fut = async {
            loop {
                match rx.borrow_and_update().clone() {
                    ChannelStatus::Open => return Ok(()),
                    ChannelStatus::Failed(r) => return Err(ChannelError::Failed(r)),
                    ChannelStatus::Refused(r) => return Err(ChannelError::Refused(r)),
                    ChannelStatus::Closed => return Err(ChannelError::Closed),
                    ChannelStatus::Handshaking => {}
                }
                if rx.changed().await.is_err() {
                    return Err(ChannelError::Closed);
                }
            }
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| ChannelError::Timeout(timeout))?
    }

    /// Waits until the channel is closed or failed; returns the final status, or `None` on timeout.
    pub async fn wait_closed(&self, timeout: Duration) -> Option<ChannelStatus> {
        let mut rx = self.status.subscribe();
        let fut = async {
            loop {
                let s = rx.borrow_and_update().clone();
                if matches!(
                    s,
                    ChannelStatus::Failed(_) | ChannelStatus::Refused(_) | ChannelStatus::Closed
                ) {
                    return s;
                }
                if rx.changed().await.is_err() {
                    return ChannelStatus::Closed;
                }
            }
        };
        tokio::time::timeout(timeout, fut).await.ok()
    }

    /// Encrypts and sends a routed message to the peer node: `onward` is the route on the peer
    /// node, `ret` the return route as the peer should see it (before this channel's address).
    /// The payload is encrypted in place.
    ///
    /// `ctx` is anything that lends a [`ChannelContext`]: the channel context, a portal context,
    /// or a [`crate::Node`] (the public entry point).
    pub fn send(
        &self,
        ctx: &impl AsRef<ChannelContext>,
        onward: &Route,
        ret: &Route,
        mut payload: Packet,
    ) -> Result<(), ChannelError> {
        let ctx = ctx.as_ref();
        // Never send what the peer must refuse (it would drop the message after decrypting).
        if let Err(e) = airlock_wire::frame::check_routes(onward, ret) {
            ctx.counters().count_unsendable(&self.enc, &e);
            return Err(ChannelError::Unsendable(e.to_string()));
        }
        InnerMessage::prepend_payload_header(&mut payload, onward, ret);
        self.send_inner(ctx, payload)
    }

    fn send_inner(&self, ctx: &ChannelContext, mut plaintext: Packet) -> Result<(), ChannelError> {
        let remote = self.remote.get().ok_or(ChannelError::Closed)?;
        let mut guard = self.send.lock().expect("send lock");
        let cipher = guard.as_mut().ok_or(ChannelError::Closed)?;
        if self.is_closed() {
            return Err(ChannelError::Closed);
        }
        cipher
            .seal(&mut plaintext)
            .map_err(|_| ChannelError::Closed)?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        // Dispatch under the lock so the transport sees messages in nonce order.
        ctx.deliver()
            .deliver(Message::new(remote.clone(), Route::empty(), plaintext));
        Ok(())
    }

    /// Forces a key epoch change on the sending side (time-based rekey).
    pub fn rekey(&self) {
        if let Some(c) = self.send.lock().expect("send lock").as_mut() {
            c.force_rekey();
        }
    }

    /// Sends a credential refresh to the peer.
    pub fn refresh_credentials(
        &self,
        ctx: &impl AsRef<ChannelContext>,
        credentials: &[Vec<u8>],
    ) -> Result<(), ChannelError> {
        self.send_inner(ctx.as_ref(), InnerMessage::refresh(credentials))
    }

    fn handle_outgoing(&self, ctx: &ChannelContext, mut msg: Message) {
        msg.onward.pop_front();
        if let Err(e) = self.send(ctx, &msg.onward, &msg.ret, msg.payload) {
            tracing::debug!(channel = %self.enc, "dropping outgoing message: {e}");
        }
    }

    fn handle_data(&self, ctx: &ChannelContext, mut msg: Message) {
        let opened = {
            let mut guard = self.recv.lock().expect("recv lock");
            match guard.as_mut() {
                Some(c) => c.open(&mut msg.payload),
                None => return,
            }
        };
        if let Err(e) = opened {
            let n = self.rejected.fetch_add(1, Ordering::Relaxed);
            if n < 10 || n.is_power_of_two() {
                tracing::warn!(channel = %self.enc, "rejected data message: {e} ({} rejected so far)", n + 1);
            }
            return;
        }
        self.peer_confirmed.store(true, Ordering::Release);
        match InnerMessage::decode(msg.payload) {
            Ok(InnerMessage::Payload {
                onward,
                mut ret,
                payload,
            }) => {
                let Some(peer) = self.peer.get() else {
                    return;
                };
                ret.push_front(self.enc.clone());
                ctx.deliver().deliver(Message::with_origin(
                    onward,
                    ret,
                    payload,
                    Origin::Channel(peer.clone()),
                ));
            }
            Ok(InnerMessage::Close) => {
                tracing::info!(channel = %self.enc, "peer closed the secure channel");
                self.close(ctx, false);
            }
            Ok(InnerMessage::RefreshCredentials(creds)) => {
                if let Some(peer) = self.peer.get() {
                    let fresh = ctx.access().verify_credentials(&peer.identifier, &creds);
                    tracing::debug!(channel = %self.enc, valid = fresh.is_some(), "peer refreshed its credentials");
                    *peer.credential.write().expect("credential lock") = fresh;
                }
            }
            Err(e) => tracing::warn!(channel = %self.enc, "malformed inner message: {e}"),
        }
    }

    /// Closes the channel; with `notify_peer`, sends an encrypted close first.
    ///
    /// `ctx` is anything that lends a [`ChannelContext`] (see [`SecureChannel::send`]).
    pub fn close(&self, ctx: &impl AsRef<ChannelContext>, notify_peer: bool) {
        let ctx = ctx.as_ref();
        if notify_peer && self.status() == ChannelStatus::Open {
            let _ = self.send_inner(ctx, InnerMessage::close());
        }
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        ctx.router().unregister(&self.enc);
        ctx.router().unregister(&self.dec);
        ctx.registry().forget(&self.enc);
        *self.send.lock().expect("send") = None;
        *self.recv.lock().expect("recv") = None;
        if let Some((addr, id)) = self.first_hop_hook.lock().expect("hook").take() {
            ctx.remove_close_hook(&addr, id);
        }
        if matches!(
            self.status(),
            ChannelStatus::Open | ChannelStatus::Handshaking
        ) {
            self.status.send_replace(ChannelStatus::Closed);
        }
        self.run_hooks();
    }
}

/// Default rekey policy of the runtime.
pub fn default_rekey_policy() -> RekeyPolicy {
    RekeyPolicy::default()
}
