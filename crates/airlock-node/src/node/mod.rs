//! The node: its identity, router and lifecycle (start, maintenance, shutdown), and one owner per
//! subsystem — [`Transport`] (connections, listeners), [`Channels`] (channel ends, handshakes in
//! progress), [`Portals`] (inlets, outlets) and the access state (policies, projects,
//! credentials, revocation: [`AccessControl`]). `Node`'s methods delegate to them.

mod access;
pub mod ops;

use crate::access::{AccessControl, Admission};
use crate::channel::{self, Channels, SecureChannel};
use crate::flow_control::Access;
use crate::message::Message;
use crate::portal::{Inlet, InletInfo, InletSpec, OutletInfo, OutletSpec, Portals};
use crate::router::{Lookup, Router};
use crate::services::{Echo, Uppercase};
use crate::transport::{self, CloseHook, Transport};
use airlock_channel::{AbortNotice, ChannelKind, LocalIdentity, RekeyPolicy};
use airlock_identity::{Identifier, IdentitySecret, PurposeKeySecret, DEFAULT_PURPOSE_KEY_TTL};
use airlock_wire::{Address, Route};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;
use tokio::task::AbortHandle;

/// The keys a node runs with.
#[derive(Clone)]
pub struct NodeIdentity {
    /// The identity (Ed25519 key + history).
    pub secret: IdentitySecret,
    /// The attested X25519 key for secure channels.
    pub purpose: PurposeKeySecret,
}

impl NodeIdentity {
    /// A new identity with a purpose key valid for `purpose_ttl` seconds from now.
    pub fn generate(purpose_ttl: u64) -> Self {
        let now = crate::unix_now();
        let secret = IdentitySecret::create(now);
        let purpose = PurposeKeySecret::create(&secret, now, purpose_ttl);
        NodeIdentity { secret, purpose }
    }
}

impl NodeConfig {
    /// A node with a new identity on a free loopback port, trusting any peer
    /// (`trust_unknown`: in-process tests and demos).
    pub fn loopback(name: &str) -> Self {
        NodeConfig {
            name: name.into(),
            identity: NodeIdentity::generate(3600),
            tcp_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            authorized: vec![],
            trust_unknown: true,
            known_identities: None,
            rekey: Default::default(),
            purpose_key_store: None,
        }
    }
}

/// Lists identities a node knows (e.g. every identity of the CLI's state and the peers its
/// `--authorized` lists name); called again at most every [`KNOWN_IDENTITIES_TTL`].
pub type KnownIdentities = Arc<dyn Fn() -> Vec<Identifier> + Send + Sync>;

/// How long a node uses the list [`KnownIdentities`] returned before asking again.
pub const KNOWN_IDENTITIES_TTL: Duration = Duration::from_secs(1);

/// Called when the node rotated its purpose key, so the owner can persist it.
pub type PurposeKeyStore = Arc<dyn Fn(&PurposeKeySecret) + Send + Sync>;

/// How to start a node.
pub struct NodeConfig {
    /// Node name.
    pub name: String,
    /// Keys.
    pub identity: NodeIdentity,
    /// TCP listener address (port 0 = any free port).
    pub tcp_listen: SocketAddr,
    /// If non-empty, the `api` listener accepts only these identifiers.
    pub authorized: Vec<Identifier>,
    /// Outside any project and without `authorized`, accept secure channels from every identity
    /// and let the default policy allow them (in-process tests, demos). Off, such a node admits
    /// only identities it knows: its own, `known_identities` and those its policies name
    /// (docs/protocol.md §5.4).
    pub trust_unknown: bool,
    /// Identities this node knows besides its own (see [`KnownIdentities`]).
    pub known_identities: Option<KnownIdentities>,
    /// Key rotation policy of channels.
    pub rekey: RekeyPolicy,
    /// Persists rotated purpose keys.
    pub purpose_key_store: Option<PurposeKeyStore>,
}

/// The node: its lifecycle state and one owner per subsystem.
struct Inner {
    name: String,
    router: Router,
    identity: RwLock<NodeIdentity>,
    rekey: RekeyPolicy,
    ids: AtomicU64,
    tasks: Mutex<Vec<AbortHandle>>,
    listen: OnceLock<SocketAddr>,
    started: std::time::Instant,
    purpose_key_store: Option<PurposeKeyStore>,
    counters: ops::NodeCounters,
    /// TCP connections and listeners.
    transport: Transport,
    /// Secure channel ends and handshakes in progress.
    channels: Channels,
    /// Inlets and outlets.
    portals: Portals,
    /// Policies, projects, authorities, credentials, revocation, admission.
    access: AccessControl,
}

/// How to reach a project node and whom to expect there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRoute {
    /// TCP route to the project node, e.g. `/dnsaddr/project.example/tcp/4000`.
    pub route: airlock_wire::MultiAddr,
    /// The project node's identifier: channels to it trust only this.
    pub identifier: Identifier,
}

/// A running node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

/// How often open portal links are re-checked against policies and credentials.
pub const ACCESS_RECHECK_INTERVAL: Duration = Duration::from_secs(10);

pub use crate::portal::registry::RESERVED_ADDRESSES;

impl Node {
    /// Starts a node: registers `api`, `echo`, `uppercase`, binds the TCP listener.
    pub async fn start(config: NodeConfig) -> anyhow::Result<Node> {
        let own = config.identity.secret.identifier();
        let node = Node {
            inner: Arc::new(Inner {
                name: config.name,
                router: Router::default(),
                identity: RwLock::new(config.identity),
                rekey: config.rekey,
                ids: AtomicU64::new(1),
                tasks: Mutex::new(Vec::new()),
                listen: OnceLock::new(),
                started: std::time::Instant::now(),
                purpose_key_store: config.purpose_key_store,
                counters: Default::default(),
                transport: Transport::default(),
                channels: Channels::default(),
                portals: Portals::default(),
                access: AccessControl::new(
                    own,
                    Admission::new(
                        config.authorized,
                        config.trust_unknown,
                        config.known_identities,
                    ),
                ),
            }),
        };
        let r = node.router();
        r.register(
            Address::new("api")?,
            Access::Listener,
            Arc::new(access::AdmittingListener),
        );
        r.register(Address::new("echo")?, Access::Service, Arc::new(Echo));
        r.register(
            Address::new("uppercase")?,
            Access::Service,
            Arc::new(Uppercase),
        );
        let bound = transport::listen(&node, config.tcp_listen).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                anyhow::anyhow!(
                    "cannot listen on {}: the port is already in use (choose another with --tcp-listener-address)",
                    config.tcp_listen
                )
            } else {
                anyhow::anyhow!("cannot listen on {}: {e}", config.tcp_listen)
            }
        })?;
        let _ = node.inner.listen.set(bound);
        node.spawn_maintenance();
        tracing::info!(node = %node.name(), identifier = %node.identifier(), listen = %bound, "node started");
        Ok(node)
    }

    fn spawn_maintenance(&self) {
        let weak = Arc::downgrade(&self.inner);
        let h = tokio::spawn(async move {
            let mut tick = tokio::time::interval(ACCESS_RECHECK_INTERVAL);
            let mut since_rekey = Duration::ZERO;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let node = Node { inner };
                node.rotate_purpose_key_if_due();
                node.recheck_access();
                since_rekey += ACCESS_RECHECK_INTERVAL;
                if since_rekey >= channel::REKEY_INTERVAL {
                    since_rekey = Duration::ZERO;
                    for ch in node.channels() {
                        ch.rekey();
                    }
                }
            }
        });
        self.track_task(h.abort_handle());
    }

    /// Re-evaluates access of every open portal link against current policies and credentials;
    /// links that are no longer allowed are closed (their connections cut).
    pub fn recheck_access(&self) {
        self.inner.portals.recheck(self);
    }

    /// Replaces the purpose key when less than a tenth of its lifetime is left. Existing
    /// channels keep their session keys; new handshakes use the new key.
    pub fn rotate_purpose_key_if_due(&self) {
        let now = crate::unix_now();
        let mut id = self.inner.identity.write().expect("identity");
        if id.purpose.needs_rotation(now) {
            id.purpose = PurposeKeySecret::create(&id.secret, now, DEFAULT_PURPOSE_KEY_TTL);
            tracing::info!(
                expires_at = id.purpose.attestation.expires_at,
                "rotated the secure-channel purpose key"
            );
            if let Some(store) = &self.inner.purpose_key_store {
                store(&id.purpose);
            }
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The node's identifier.
    pub fn identifier(&self) -> Identifier {
        self.inner
            .identity
            .read()
            .expect("identity")
            .secret
            .identifier()
    }

    /// The bound TCP listener address.
    pub fn listen_addr(&self) -> SocketAddr {
        *self.inner.listen.get().expect("listening")
    }

    /// Seconds since start.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// What this node presents in handshakes.
    pub fn local_identity(&self) -> LocalIdentity {
        let id = self.inner.identity.read().expect("identity");
        LocalIdentity {
            history: id.secret.history().encode(),
            attestation: id.purpose.attestation.clone(),
            purpose_private: id.purpose.private_bytes(),
            credentials: self.inner.access.credentials(),
        }
    }

    /// The channel rekey policy.
    pub fn rekey_policy(&self) -> RekeyPolicy {
        self.inner.rekey
    }

    /// The address table.
    pub fn router(&self) -> &Router {
        &self.inner.router
    }

    /// A node-unique number.
    pub fn next_id(&self) -> u64 {
        self.inner.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Routes a message to the worker named by its first onward address, if that worker
    /// accepts the message's origin (flow control, [`crate::flow_control`]); otherwise the
    /// message is dropped, counted and logged — with no answer to the sender.
    pub fn dispatch(&self, msg: Message) {
        let Some(first) = msg.onward.first() else {
            return;
        };
        match self.inner.router.lookup(first, &msg.origin) {
            Lookup::Found(w) => return w.handle(self, msg),
            Lookup::Refused(why) => self.count_refused_delivery(first, &msg.origin, &why),
            Lookup::Missing => {
                tracing::debug!(address = %first, "no worker at address; message dropped");
            }
        }
        // A handshake towards a listener or relay that is missing, or that this message may not
        // reach: tell the initiator at once (unauthenticated notice, like a TCP RST) instead of
        // letting it time out. Both cases get the same words, and generated addresses
        // (connections, channel ends, links) get no answer at all, so nobody can probe which
        // of them exist.
        // The payload of a portal `Hello` also starts with 0x01 and gets the same notice; links
        // recognise it before decoding portal frames (docs/protocol.md §9.6).
        if msg.payload.data().first() == Some(&ChannelKind::Handshake1.byte())
            && !msg.ret.is_empty()
            && !crate::flow_control::is_generated(first)
        {
            let notice = AbortNotice::failed(format!(
                "nothing at address {first} that this message may reach on the node it reached"
            ));
            let back = Message::new(
                msg.ret,
                Route::empty(),
                airlock_wire::Packet::copy_from(&notice.encode()),
            );
            self.dispatch(back);
        }
    }

    pub(crate) fn track_task(&self, h: AbortHandle) {
        self.inner.tasks.lock().expect("tasks").push(h);
    }

    /// The transport's registry (connections, listeners).
    pub fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// The channels' registry.
    pub fn channel_registry(&self) -> &Channels {
        &self.inner.channels
    }

    /// The portals' registry (inlets, outlets).
    pub fn portals(&self) -> &Portals {
        &self.inner.portals
    }

    /// The channel whose encrypting address is `a`.
    pub fn channel(&self, a: &Address) -> Option<Arc<SecureChannel>> {
        self.inner.channels.get(a)
    }

    /// All channels.
    pub fn channels(&self) -> Vec<Arc<SecureChannel>> {
        self.inner.channels.all()
    }

    /// Number of responder handshakes in progress.
    pub fn pending_handshakes(&self) -> usize {
        self.inner.channels.handshaking(None)
    }

    /// Number of responder handshakes in progress from source IP `ip`.
    pub fn pending_handshakes_from(&self, ip: std::net::IpAddr) -> usize {
        self.inner.channels.handshaking(Some(ip))
    }

    /// Bytes written (or queued) to connection `a` so far.
    pub fn connection_bytes_out(&self, a: &Address) -> Option<u64> {
        self.inner.transport.get(a).map(|c| c.bytes_out())
    }

    /// The remote socket address of connection `a`.
    pub fn connection_peer(&self, a: &Address) -> Option<SocketAddr> {
        self.inner.transport.get(a).map(|c| c.peer())
    }

    /// Number of TCP connections.
    pub fn connection_count(&self) -> usize {
        self.inner.transport.len()
    }

    /// Registers `hook` to run when the connection or channel at `addr` closes.
    pub fn on_close(&self, addr: &Address, hook: CloseHook) -> Option<u64> {
        if let Some(c) = self.inner.transport.get(addr) {
            return Some(c.on_close(hook));
        }
        if let Some(ch) = self.channel(addr) {
            return Some(ch.on_close(hook));
        }
        None
    }

    /// Removes a hook registered with [`Node::on_close`].
    pub fn remove_close_hook(&self, addr: &Address, id: u64) {
        if let Some(c) = self.inner.transport.get(addr) {
            c.remove_hook(id);
        } else if let Some(ch) = self.channel(addr) {
            ch.remove_hook(id);
        }
    }

    /// Creates a TCP outlet.
    pub fn create_outlet(&self, spec: OutletSpec) -> anyhow::Result<OutletInfo> {
        self.inner.portals.create_outlet(self, spec)
    }

    /// Lists outlets.
    pub fn outlets(&self) -> Vec<OutletInfo> {
        self.inner.portals.outlets()
    }

    /// Deletes an outlet; returns false if none had that name.
    pub fn delete_outlet(&self, name: &str) -> bool {
        self.inner.portals.delete_outlet(self, name)
    }

    /// Creates a TCP inlet; it is kept whatever becomes of its link (see
    /// [`Portals::create_inlet`]).
    pub async fn create_inlet(&self, spec: InletSpec) -> anyhow::Result<InletInfo> {
        self.inner.portals.create_inlet(self, spec).await
    }

    /// Creates a TCP inlet unless its link fails permanently within `wait` (see
    /// [`Portals::create_inlet_and_wait`]).
    pub async fn create_inlet_and_wait(
        &self,
        spec: InletSpec,
        wait: std::time::Duration,
    ) -> anyhow::Result<InletInfo> {
        self.inner
            .portals
            .create_inlet_and_wait(self, spec, wait)
            .await
    }

    /// The inlet with that name.
    pub fn inlet(&self, name: &str) -> Option<Arc<Inlet>> {
        self.inner.portals.inlet(name)
    }

    /// Lists inlets.
    pub fn inlets(&self) -> Vec<InletInfo> {
        self.inner.portals.inlets()
    }

    /// Deletes an inlet; returns false if none had that name.
    pub async fn delete_inlet(&self, name: &str) -> bool {
        self.inner.portals.delete_inlet(self, name).await
    }

    /// Graceful shutdown: stop inlets and outlets, close channels (telling peers), close
    /// connections, stop background tasks.
    pub async fn shutdown(&self) {
        self.inner.portals.stop_all(self).await;
        for ch in self.channels() {
            ch.close(self, true);
        }
        // Give the writers a moment to flush the close messages.
        tokio::time::sleep(Duration::from_millis(50)).await;
        for c in self.inner.transport.all() {
            c.close(self);
        }
        for t in self.inner.tasks.lock().expect("tasks").drain(..) {
            t.abort();
        }
        // Wait until the listening sockets are really closed, so the port can be reused at once.
        self.inner.transport.stop_listeners().await;
        tracing::info!(node = %self.name(), "node stopped");
    }
}
