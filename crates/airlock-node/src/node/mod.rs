//! The node: its identity, router and lifecycle (start, maintenance, shutdown), and one owner per
//! subsystem — [`Transport`] (connections, listeners), [`Channels`] (channel ends, handshakes in
//! progress), [`Portals`] (inlets, outlets) and the access state (policies, projects,
//! credentials, revocation: [`AccessControl`]). `Node`'s methods delegate to them.
//!
//! This is the only place that wires the subsystems together. Workers never get the node: at
//! start the node builds one narrow context per kind of worker — [`Deliver`] (dispatch a message
//! to a route), [`TransportContext`] (connections), [`ChannelContext`] (channel ends and
//! handshakes), [`PortalContext`] (inlets, outlets, links, streams) — each a cheap clone of a few
//! `Arc`s that a worker takes once when it starts. Services of other crates that sit on the data
//! path (the relay forwarder) do the same: they take a context from the node once and register
//! an [`Endpoint`] with [`NodeRouter::register_endpoint`]. Only request/answer services of
//! other crates (authority, relay registration, reply slots) still see the node, through
//! [`Worker`] and [`NodeRouter::register`].

mod access;
pub mod ops;

use crate::access::{AccessControl, Admission};
use crate::channel::{self, ChannelContext, Channels, SecureChannel};
use crate::counters::Counters;
use crate::flow_control::Access;
use crate::kafka::{
    KafkaInletError, KafkaInletInfo, KafkaInletSpec, KafkaOutletError, KafkaOutletInfo,
    KafkaOutletSpec, KafkaPortals,
};
use crate::message::Message;
use crate::portal::{
    CreateInletError, CreateOutletError, Inlet, InletInfo, InletSpec, OutletInfo, OutletSpec,
    PortalContext, Portals,
};
use crate::router::{Deliver, Endpoint, Router};
use crate::services::{Echo, Uppercase};
use crate::transport::{self, CloseHook, Transport, TransportContext};
use airlock_channel::{LocalIdentity, RekeyPolicy};
use airlock_identity::{Identifier, PurposeKeySecret, DEFAULT_PURPOSE_KEY_TTL};
use airlock_wire::Address;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;
use tokio::task::AbortHandle;

pub use crate::config::{
    KnownIdentities, NodeConfig, NodeIdentity, ProjectRoute, PurposeKeyStore, KNOWN_IDENTITIES_TTL,
};

/// The node: its lifecycle state and one owner per subsystem.
struct Inner {
    name: String,
    router: Arc<Router>,
    identity: Arc<RwLock<NodeIdentity>>,
    tasks: Mutex<Vec<AbortHandle>>,
    listen: OnceLock<SocketAddr>,
    started: std::time::Instant,
    purpose_key_store: Option<PurposeKeyStore>,
    counters: Counters,
    /// TCP connections and listeners.
    transport: Arc<Transport>,
    /// Secure channel ends and handshakes in progress.
    channels: Arc<Channels>,
    /// Inlets and outlets.
    portals: Portals,
    /// Kafka inlets and outlets.
    kafka: KafkaPortals,
    /// Policies, projects, authorities, credentials, revocation, admission.
    access: Arc<AccessControl>,
    /// The narrowest context of portal workers; the channel, transport and delivery contexts
    /// are nested in it.
    ctx: PortalContext,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Registered workers hold contexts, and so the router: forget them to free both.
        self.router.clear();
    }
}

/// A service that handles messages with the whole node at hand (the authority, relay
/// registration, request replies of other crates). Register one with [`Node::router`].
///
/// Each message upgrades a weak reference to the node first. The node's own workers
/// (connections, channel ends, portal links, outlets) do not take the node: they implement
/// [`Endpoint`] and hold a narrow context; a service of another crate that handles every
/// byte of some traffic should do the same ([`NodeRouter::register_endpoint`]).
pub trait Worker: Send + Sync + 'static {
    /// Handles a message whose first onward address is this worker's (already admitted by the
    /// worker's [`Access`] rule).
    fn handle(&self, node: &Node, msg: Message);
}

/// A [`Worker`] in the router: lends it the node for each message. It holds the node weakly, so
/// a registered service does not keep its node alive.
struct Service {
    node: Weak<Inner>,
    worker: Arc<dyn Worker>,
}

impl Endpoint for Service {
    fn handle(&self, _: &Deliver, msg: Message) {
        if let Some(inner) = self.node.upgrade() {
            self.worker.handle(&Node { inner }, msg);
        }
    }
}

/// The node's address table as services of other crates use it (see [`Node::router`]).
pub struct NodeRouter<'a> {
    node: &'a Node,
}

impl NodeRouter<'_> {
    /// Registers a service that accepts `access`; returns false if the address is taken.
    pub fn register(&self, addr: Address, access: Access, worker: Arc<dyn Worker>) -> bool {
        let service = Service {
            node: Arc::downgrade(&self.node.inner),
            worker,
        };
        self.node
            .inner
            .router
            .register(addr, access, Arc::new(service))
    }

    /// Registers an [`Endpoint`] that accepts `access`; returns false if the address is taken.
    ///
    /// For services of other crates on the data path: unlike a [`Worker`], an endpoint does not
    /// get the node per message, only the node's [`Deliver`]. Whatever else it needs it takes
    /// once, before registering, from one of the node's contexts ([`Node::deliver`],
    /// [`Node::channel_context`], …). An endpoint holding a context holds the router: it is
    /// released when it is unregistered, or when the node goes away.
    pub fn register_endpoint(
        &self,
        addr: Address,
        access: Access,
        endpoint: Arc<dyn Endpoint>,
    ) -> bool {
        self.node.inner.router.register(addr, access, endpoint)
    }

    /// Removes whatever is registered at `addr`.
    pub fn unregister(&self, addr: &Address) {
        self.node.inner.router.unregister(addr);
    }

    /// The access rule of an address.
    pub fn access(&self, addr: &Address) -> Option<Access> {
        self.node.inner.router.access(addr)
    }

    /// Number of registered workers.
    pub fn len(&self) -> usize {
        self.node.inner.router.len()
    }

    /// True if nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.node.inner.router.is_empty()
    }

    /// The underlying address table.
    pub fn table(&self) -> &Router {
        &self.node.inner.router
    }
}

/// Why a node could not start ([`Node::start`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The TCP listener's address is taken by another socket (another node, say).
    #[error("cannot listen on {addr}: the port is already in use (choose another with --tcp-listener-address)")]
    AddressInUse {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The TCP listener's address cannot be bound for another reason.
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why (part of the message, not a separate cause).
        error: std::io::Error,
    },
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
    pub async fn start(config: NodeConfig) -> Result<Node, StartError> {
        let own = config.identity.secret.identifier();
        let router = Arc::new(Router::default());
        let counters = Counters::default();
        let transport = Arc::new(Transport::default());
        let channels = Arc::new(Channels::default());
        let identity = Arc::new(RwLock::new(config.identity));
        let access = Arc::new(AccessControl::new(
            own,
            Admission::new(
                config.authorized,
                config.trust_unknown,
                config.known_identities,
            ),
        ));
        // The wiring: each context is built once, here, from the subsystems it may use.
        let deliver = Deliver::new(router.clone(), counters.clone());
        let transport_ctx =
            TransportContext::new(deliver, transport.clone(), Arc::new(AtomicU64::new(1)));
        let channel_ctx = ChannelContext::new(
            transport_ctx,
            channels.clone(),
            access.clone(),
            identity.clone(),
            config.rekey,
        );
        let ctx = PortalContext::new(channel_ctx, &config.name);
        let node = Node {
            inner: Arc::new(Inner {
                name: config.name,
                router,
                identity,
                tasks: Mutex::new(Vec::new()),
                listen: OnceLock::new(),
                started: std::time::Instant::now(),
                purpose_key_store: config.purpose_key_store,
                counters,
                transport,
                channels,
                portals: Portals::default(),
                kafka: KafkaPortals::default(),
                access,
                ctx,
            }),
        };
        let r = &node.inner.router;
        r.register(
            Address::new("api").expect("valid"),
            Access::Listener,
            Arc::new(access::AdmittingListener(node.channel_context().clone())),
        );
        r.register(
            Address::new("echo").expect("valid"),
            Access::Service,
            Arc::new(Echo),
        );
        r.register(
            Address::new("uppercase").expect("valid"),
            Access::Service,
            Arc::new(Uppercase),
        );
        let addr = config.tcp_listen;
        let bound = transport::listen(node.transport_context(), addr)
            .await
            .map_err(|error| {
                if error.kind() == std::io::ErrorKind::AddrInUse {
                    StartError::AddressInUse { addr }
                } else {
                    StartError::Listen { addr, error }
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
        self.inner.portals.recheck(self.portal_context());
        let node = self.clone();
        tokio::spawn(async move { node.inner.kafka.recheck().await });
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
        self.channel_context().local_identity()
    }

    /// The node's identity secret, for services that sign in the node's name (the Kafka key
    /// records an encrypting inlet stores). Never sent anywhere.
    pub fn identity_secret(&self) -> airlock_identity::IdentitySecret {
        self.inner.identity.read().expect("identity").secret.clone()
    }

    /// The channel rekey policy.
    pub fn rekey_policy(&self) -> RekeyPolicy {
        self.channel_context().rekey_policy()
    }

    /// The address table, for registering services of other crates: those that take the node
    /// ([`Worker`]) and those that hold a narrow context ([`Endpoint`]).
    pub fn router(&self) -> NodeRouter<'_> {
        NodeRouter { node: self }
    }

    /// A node-unique number.
    pub fn next_id(&self) -> u64 {
        self.transport_context().next_id()
    }

    /// Delivery of messages on this node: what most workers need, and all some do.
    pub fn deliver(&self) -> &Deliver {
        self.inner.ctx.deliver()
    }

    /// The context of connections and listeners.
    pub fn transport_context(&self) -> &TransportContext {
        self.inner.ctx.channels().transport()
    }

    /// The context of secure channel ends and handshakes.
    pub fn channel_context(&self) -> &ChannelContext {
        self.inner.ctx.channels()
    }

    /// The context of inlets, outlets, portal links and streams.
    pub fn portal_context(&self) -> &PortalContext {
        &self.inner.ctx
    }

    /// The node's counters.
    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// Routes a message to the worker named by its first onward address, if that worker
    /// accepts the message's origin (flow control, [`crate::flow_control`]); otherwise the
    /// message is dropped, counted and logged — with no answer to the sender
    /// ([`Deliver::deliver`]).
    pub fn dispatch(&self, msg: Message) {
        self.deliver().deliver(msg);
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
        self.channel_context().on_close(addr, hook)
    }

    /// Removes a hook registered with [`Node::on_close`].
    pub fn remove_close_hook(&self, addr: &Address, id: u64) {
        self.channel_context().remove_close_hook(addr, id)
    }

    /// Creates a TCP outlet.
    pub fn create_outlet(&self, spec: OutletSpec) -> Result<OutletInfo, CreateOutletError> {
        self.inner
            .portals
            .create_outlet(self.portal_context(), spec)
    }

    /// Lists outlets.
    pub fn outlets(&self) -> Vec<OutletInfo> {
        self.inner.portals.outlets()
    }

    /// Deletes an outlet; returns false if none had that name.
    pub fn delete_outlet(&self, name: &str) -> bool {
        self.inner
            .portals
            .delete_outlet(self.portal_context(), name)
    }

    /// Creates a TCP inlet; it is kept whatever becomes of its link (see
    /// [`Portals::create_inlet`]).
    pub async fn create_inlet(&self, spec: InletSpec) -> Result<InletInfo, CreateInletError> {
        self.inner
            .portals
            .create_inlet(self.portal_context(), spec)
            .await
    }

    /// Creates a TCP inlet unless its link fails permanently within `wait` (see
    /// [`Portals::create_inlet_and_wait`]).
    pub async fn create_inlet_and_wait(
        &self,
        spec: InletSpec,
        wait: std::time::Duration,
    ) -> Result<InletInfo, CreateInletError> {
        self.inner
            .portals
            .create_inlet_and_wait(self.portal_context(), spec, wait)
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
        self.inner
            .portals
            .delete_inlet(self.portal_context(), name)
            .await
    }

    /// The node's Kafka inlets and outlets.
    pub fn kafka(&self) -> &KafkaPortals {
        &self.inner.kafka
    }

    /// Creates a Kafka outlet.
    pub fn create_kafka_outlet(
        &self,
        spec: KafkaOutletSpec,
    ) -> Result<KafkaOutletInfo, KafkaOutletError> {
        self.inner.kafka.create_outlet(self.portal_context(), spec)
    }

    /// Creates a Kafka inlet unless its bootstrap link fails permanently within `wait`.
    pub async fn create_kafka_inlet(
        &self,
        spec: KafkaInletSpec,
        wait: std::time::Duration,
    ) -> Result<KafkaInletInfo, KafkaInletError> {
        self.inner
            .kafka
            .create_inlet(self.portal_context(), spec, wait)
            .await
    }

    /// Graceful shutdown: stop inlets and outlets, close channels (telling peers), close
    /// connections, stop background tasks.
    pub async fn shutdown(&self) {
        self.inner.kafka.stop_all().await;
        self.inner.portals.stop_all(self.portal_context()).await;
        for ch in self.channels() {
            ch.close(self, true);
        }
        // Give the writers a moment to flush the close messages.
        tokio::time::sleep(Duration::from_millis(50)).await;
        for c in self.inner.transport.all() {
            c.close();
        }
        for t in self.inner.tasks.lock().expect("tasks").drain(..) {
            t.abort();
        }
        // Wait until the listening sockets are really closed, so the port can be reused at once.
        self.inner.transport.stop_listeners().await;
        tracing::info!(node = %self.name(), "node stopped");
    }
}

// Node lends its contexts to the public entry points that take "anything with a context"
// (`resolve::resolve`, `channel::create`, `transport::connect`, `SecureChannel::send`, …), so
// callers holding a node keep calling them with `&node`.

impl AsRef<Deliver> for Node {
    fn as_ref(&self) -> &Deliver {
        self.deliver()
    }
}

impl AsRef<TransportContext> for Node {
    fn as_ref(&self) -> &TransportContext {
        self.transport_context()
    }
}

impl AsRef<ChannelContext> for Node {
    fn as_ref(&self) -> &ChannelContext {
        self.channel_context()
    }
}

impl AsRef<PortalContext> for Node {
    fn as_ref(&self) -> &PortalContext {
        self.portal_context()
    }
}
