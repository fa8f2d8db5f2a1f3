//! Secure channel driver: runs the `airlock-channel` core over routed messages.
//!
//! Each channel end has two addresses on its node: `sc.X.e` (encrypting end: messages routed to
//! it are encrypted and sent to the peer) and `sc.X.d` (decrypting end: receives handshake and
//! data messages from the peer, decrypts them in place and routes the inner message onward with
//! the peer's identity attached and `sc.X.e` prepended to the return route, so answers are
//! encrypted too).
//!
//! The `api` listener answers handshake message 1 by creating a responder end.

use crate::close_hooks::{CloseHook, CloseHooks};
use crate::message::{ChannelPeer, Message};
use crate::node::Node;
use crate::router::Worker;
use airlock_channel::{
    ChannelKind, Handshake, HandshakeError, HandshakeStep, InnerMessage, PeerIdentity, RecvCipher,
    RekeyPolicy, Role, SendCipher, TrustPolicy,
};
use airlock_identity::Identifier;
use airlock_wire::{Address, Packet, Route};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a handshake may take before the channel is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Maximum number of responder handshakes in progress per node.
pub const MAX_PENDING_HANDSHAKES: usize = 256;
/// Outer kind byte of an abort notice (responder → initiator, unauthenticated, informational).
pub const KIND_ABORT: u8 = 0x04;
/// Abort code: the responder authenticated the initiator and refuses it (trust policy, revoked
/// member); retrying will not help until the responder's configuration changes.
pub const ABORT_REFUSED: u8 = 0x01;
/// Abort code: anything else (nothing at that address yet, a malformed handshake); worth retrying.
pub const ABORT_FAILED: u8 = 0x02;

/// The bytes of an abort notice: `0x04 ‖ code ‖ UTF-8 reason` (§5.4 of docs/protocol.md).
pub fn abort_notice(code: u8, reason: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(2 + reason.len());
    v.push(KIND_ABORT);
    v.push(code);
    v.extend_from_slice(reason.as_bytes());
    v
}
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
    description: String,
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

struct ChannelEnd {
    ch: Arc<SecureChannel>,
    decrypting: bool,
}

impl Worker for ChannelEnd {
    fn handle(&self, node: &Node, msg: Message) {
        if self.decrypting {
            self.ch.handle_from_peer(node, msg);
        } else {
            self.ch.handle_outgoing(node, msg);
        }
    }
}

impl SecureChannel {
    fn new(node: &Node, role: Role, description: String) -> Arc<Self> {
        let id = node.next_id();
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
            description,
        })
    }

    fn register(self: &Arc<Self>, node: &Node) {
        node.router().register(
            self.enc.clone(),
            Arc::new(ChannelEnd {
                ch: self.clone(),
                decrypting: false,
            }),
        );
        node.router().register(
            self.dec.clone(),
            Arc::new(ChannelEnd {
                ch: self.clone(),
                decrypting: true,
            }),
        );
        node.remember_channel(self.clone());
    }

    /// The encrypting address: route through it to reach the peer's node.
    pub fn address(&self) -> &Address {
        &self.enc
    }

    /// A node-unique id.
    pub fn id(&self) -> u64 {
        self.id
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
    pub fn send(
        &self,
        node: &Node,
        onward: &Route,
        ret: &Route,
        mut payload: Packet,
    ) -> Result<(), ChannelError> {
        InnerMessage::prepend_payload_header(&mut payload, onward, ret);
        self.send_inner(node, payload)
    }

    fn send_inner(&self, node: &Node, mut plaintext: Packet) -> Result<(), ChannelError> {
        let remote = self.remote.get().ok_or(ChannelError::Closed)?;
        let mut guard = self.send.lock().expect("send lock");
        let cipher = guard.as_mut().ok_or(ChannelError::Closed)?;
        if self.is_closed() {
            return Err(ChannelError::Closed);
        }
        cipher
            .seal(&mut plaintext)
            .map_err(|_| ChannelError::Closed)?;
        // Dispatch under the lock so the transport sees messages in nonce order.
        node.dispatch(Message::new(remote.clone(), Route::empty(), plaintext));
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
        node: &Node,
        credentials: &[Vec<u8>],
    ) -> Result<(), ChannelError> {
        self.send_inner(node, InnerMessage::refresh(credentials))
    }

    fn handle_outgoing(&self, node: &Node, mut msg: Message) {
        msg.onward.pop_front();
        if let Err(e) = self.send(node, &msg.onward, &msg.ret, msg.payload) {
            tracing::debug!(channel = %self.enc, "dropping outgoing message: {e}");
        }
    }

    fn send_handshake(&self, node: &Node, onward: Route, bytes: &[u8]) {
        let payload = Packet::copy_from(bytes);
        node.dispatch(Message::new(
            onward,
            Route::single(self.dec.clone()),
            payload,
        ));
    }

    /// Tells the initiator (unauthenticated, informational) why its handshake was refused.
    fn send_abort(&self, node: &Node, code: u8, reason: &str) {
        if let Some(remote) = self.remote.get() {
            node.dispatch(Message::new(
                remote.clone(),
                Route::empty(),
                Packet::copy_from(&abort_notice(code, reason)),
            ));
        }
    }

    fn fail(&self, node: &Node, reason: String) {
        node.count_handshake(crate::node::ops::HandshakeOutcome::Failed);
        tracing::info!(channel = %self.enc, "secure channel handshake failed: {reason}");
        self.status.send_replace(ChannelStatus::Failed(reason));
        self.close(node, false);
    }

    fn refuse(&self, node: &Node, reason: String) {
        node.count_handshake(crate::node::ops::HandshakeOutcome::Refused);
        tracing::info!(channel = %self.enc, "secure channel handshake refused: {reason}");
        self.status.send_replace(ChannelStatus::Refused(reason));
        self.close(node, false);
    }

    fn handle_from_peer(self: &Arc<Self>, node: &Node, mut msg: Message) {
        let Some(&kind) = msg.payload.data().first() else {
            return;
        };
        if kind == ChannelKind::Data.byte() {
            self.handle_data(node, msg);
            return;
        }
        if kind == KIND_ABORT {
            if self.role == Role::Initiator && !self.peer_confirmed.load(Ordering::Acquire) {
                let body = &msg.payload.data()[1..];
                let (code, text) = match body.split_first() {
                    Some((&c, rest)) => (c, rest),
                    None => (ABORT_FAILED, body),
                };
                let reason = String::from_utf8_lossy(text)
                    .chars()
                    .take(200)
                    .collect::<String>();
                if code == ABORT_REFUSED {
                    self.refuse(node, format!("the peer refused the handshake: {reason}"));
                } else {
                    self.fail(node, format!("the peer aborted the handshake: {reason}"));
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
                self.send_handshake(node, remote, &m3);
                let hs = guard.take().expect("present");
                drop(guard);
                self.complete(node, hs);
            }
            Ok(HandshakeStep::Complete) => {
                let hs = guard.take().expect("present");
                drop(guard);
                self.complete(node, hs);
            }
            Ok(HandshakeStep::Send(_)) => {
                drop(guard);
                self.fail(node, "unexpected handshake state".into());
            }
            Err(e) => {
                guard.take();
                drop(guard);
                let refused = matches!(e, HandshakeError::Untrusted(_));
                if self.role == Role::Responder {
                    let code = if refused { ABORT_REFUSED } else { ABORT_FAILED };
                    self.send_abort(node, code, &e.to_string());
                }
                if refused {
                    self.refuse(node, e.to_string());
                } else {
                    self.fail(node, e.to_string());
                }
            }
        }
    }

    fn complete(self: &Arc<Self>, node: &Node, hs: Handshake) {
        match hs.finish() {
            Ok((send, recv, peer)) => {
                if node.is_revoked(&peer.identifier) {
                    let reason = format!("{} is a revoked project member", peer.identifier);
                    if self.role == Role::Responder {
                        self.send_abort(node, ABORT_REFUSED, &reason);
                    }
                    self.refuse(node, reason);
                    return;
                }
                *self.send.lock().expect("send") = Some(send);
                *self.recv.lock().expect("recv") = Some(recv);
                let credential = node.verify_credentials(&peer.identifier, &peer.credentials);
                let _ = self.peer.set(Arc::new(ChannelPeer {
                    identifier: peer.identifier,
                    channel: self.enc.clone(),
                    credential: Arc::new(std::sync::RwLock::new(credential)),
                }));
                node.count_handshake(crate::node::ops::HandshakeOutcome::Established);
                tracing::info!(channel = %self.enc, peer = %peer.identifier, role = ?self.role, "secure channel established");
                let _ = self.peer_identity.set(peer);
                self.watch_first_hop(node);
                self.status.send_replace(ChannelStatus::Open);
            }
            Err(e) => self.fail(node, e.to_string()),
        }
    }

    /// Closes this channel when the connection or channel it runs over closes.
    fn watch_first_hop(self: &Arc<Self>, node: &Node) {
        let Some(first) = self.remote.get().and_then(|r| r.first().cloned()) else {
            return;
        };
        self.watch_hop(node, first);
    }

    /// Closes this channel when `first` (a connection or an outer channel) closes. Replaces an
    /// earlier watch.
    fn watch_hop(self: &Arc<Self>, node: &Node, first: Address) {
        if let Some((addr, id)) = self.first_hop_hook.lock().expect("hook").take() {
            node.remove_close_hook(&addr, id);
        }
        let weak = Arc::downgrade(self);
        let n = node.clone();
        let hook: CloseHook = Box::new(move || {
            if let Some(ch) = weak.upgrade() {
                ch.close(&n, false);
            }
        });
        if let Some(id) = node.on_close(&first, hook) {
            *self.first_hop_hook.lock().expect("hook") = Some((first, id));
        } else {
            // The first hop is already gone.
            self.close(node, false);
        }
    }

    fn handle_data(&self, node: &Node, mut msg: Message) {
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
                ret.push_front(self.enc.clone());
                let mut inner = Message::new(onward, ret, payload);
                inner.peer = self.peer.get().cloned();
                node.dispatch(inner);
            }
            Ok(InnerMessage::Close) => {
                tracing::info!(channel = %self.enc, "peer closed the secure channel");
                self.close(node, false);
            }
            Ok(InnerMessage::RefreshCredentials(creds)) => {
                if let Some(peer) = self.peer.get() {
                    let fresh = node.verify_credentials(&peer.identifier, &creds);
                    tracing::debug!(channel = %self.enc, valid = fresh.is_some(), "peer refreshed its credentials");
                    *peer.credential.write().expect("credential lock") = fresh;
                }
            }
            Err(e) => tracing::warn!(channel = %self.enc, "malformed inner message: {e}"),
        }
    }

    /// Closes the channel; with `notify_peer`, sends an encrypted close first.
    pub fn close(&self, node: &Node, notify_peer: bool) {
        if notify_peer && self.status() == ChannelStatus::Open {
            let _ = self.send_inner(node, InnerMessage::close());
        }
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        node.router().unregister(&self.enc);
        node.router().unregister(&self.dec);
        node.forget_channel(&self.enc);
        *self.send.lock().expect("send") = None;
        *self.recv.lock().expect("recv") = None;
        if let Some((addr, id)) = self.first_hop_hook.lock().expect("hook").take() {
            node.remove_close_hook(&addr, id);
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

/// Opens a channel to the listener at the end of `route_to_listener` (e.g. `[tcp.1, api]`).
pub async fn create(
    node: &Node,
    route_to_listener: Route,
    trust: TrustPolicy,
    timeout: Duration,
) -> Result<Arc<SecureChannel>, ChannelError> {
    let local = node.local_identity();
    let (hs, m1) = Handshake::initiate(&local, trust, node.rekey_policy())
        .map_err(|e| ChannelError::Failed(e.to_string()))?;
    let ch = SecureChannel::new(node, Role::Initiator, format!("{route_to_listener}"));
    *ch.handshake.lock().expect("hs") = Some(hs);
    ch.register(node);
    // Fail fast if the connection under the handshake drops (e.g. a stale reused connection).
    if let Some(first) = route_to_listener.first() {
        ch.watch_hop(node, first.clone());
    }
    ch.send_handshake(node, route_to_listener, &m1);
    match ch.wait_open(timeout).await {
        Ok(()) => Ok(ch),
        Err(e) => {
            ch.close(node, false);
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
}

impl Worker for Listener {
    fn handle(&self, node: &Node, mut msg: Message) {
        if msg.payload.data().first() != Some(&ChannelKind::Handshake1.byte()) {
            return;
        }
        if node.pending_handshakes() >= MAX_PENDING_HANDSHAKES {
            tracing::warn!("too many handshakes in progress; dropping handshake message 1");
            return;
        }
        let local = node.local_identity();
        let mut hs = match Handshake::respond(&local, self.trust.clone(), node.rekey_policy()) {
            Ok(h) => h,
            Err(e) => {
                tracing::error!("cannot start responder: {e}");
                return;
            }
        };
        let step = match hs.read(msg.payload.data_mut(), crate::unix_now()) {
            Ok(HandshakeStep::Send(m2)) => m2,
            Ok(_) => return,
            Err(e) => {
                tracing::debug!("bad handshake message 1: {e}");
                return;
            }
        };
        let ch = SecureChannel::new(node, Role::Responder, format!("{}", msg.ret));
        let _ = ch.remote.set(msg.ret.clone());
        *ch.handshake.lock().expect("hs") = Some(hs);
        ch.register(node);
        ch.send_handshake(node, msg.ret, &step);
        let (n, weak) = (node.clone(), Arc::downgrade(&ch));
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

/// Default rekey policy of the runtime.
pub fn default_rekey_policy() -> RekeyPolicy {
    RekeyPolicy::default()
}
