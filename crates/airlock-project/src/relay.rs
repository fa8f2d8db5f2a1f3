//! Relays: a node behind NAT dials out to a reachable node (usually the project node) and
//! registers a name; others reach it at `/project/P/service/forward_to_NAME` (or
//! `ROUTE/service/forward_to_NAME` for a relay at another node).
//!
//! * [`RelayService`] (every node, address `relays`): accepts `{"op":"register","name":…}` only
//!   through a secure channel. On a project node ([`RelayAccess::ProjectPermission`]) the
//!   registrant must hold a valid credential from the project whose `airlock.relay` attribute
//!   grants NAME (or `*`); revoked members are refused. On every node the `relay` policies apply
//!   too (lookup name → type `relay` → default). It registers a forwarder `forward_to_NAME` that
//!   sends every message back through the registering channel; when that channel closes, the
//!   forwarder goes. A live name held by another identity is not taken over; the same identity
//!   re-registering replaces its old registration. A name is **bound** to the identity that
//!   first registered it ([`RelayBindings`]: the authority store on a project node, memory
//!   elsewhere): nobody else may register it, also after the owner's channel dropped or the node
//!   restarted, until the binding is released (`airlock project relay release NAME`, or deleting
//!   the owner from the project).
//! * [`RelayKeeper`] (the node that owns the relay): keeps a registration alive — registers,
//!   waits until the channel drops, and registers again with jittered exponential back-off.

use crate::store::AuthorityStore;
use crate::RELAY_ATTRIBUTE;
use airlock_identity::Identifier;
use airlock_node::channel::SecureChannel;
use airlock_node::{Access, ChannelPeer, Exposure, Message, Node, Worker};
use airlock_wire::{Address, Packet, Route};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a relay service refused a registration (the host's decision, sent to the registrant).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationRefused {
    /// Not a relay name (see [`valid_relay_name`]).
    #[error("invalid relay name {0:?}")]
    InvalidName(String),
    /// A project node needs the registrant's project credential.
    #[error("no valid project credential was presented")]
    NoCredential,
    /// The credential's `airlock.relay` attribute does not grant the name.
    #[error("this member may not claim relay {name:?} (its ticket did not grant --relay {name})")]
    NotGranted {
        /// The relay name.
        name: String,
    },
    /// A node outside any project without a `relay` policy for the name.
    #[error(
        "this node accepts no relays: it belongs to no project and has no relay policy for \
         {name:?} (allow relays with `airlock policy create --resource-type relay --expression …` \
         on node {node})"
    )]
    NoRelaysHere {
        /// The relay name.
        name: String,
        /// The host node's name.
        node: String,
    },
    /// The node's `relay` policies (or a revocation) refused the registrant.
    #[error("{0}")]
    Policy(String),
    /// A live registration of another identity holds the name.
    #[error("relay {name:?} is held by another member")]
    HeldByAnother {
        /// The relay name.
        name: String,
    },
    /// The name is bound to another identity.
    #[error("relay {name:?} is bound to {owner}; {release_hint}")]
    BoundToAnother {
        /// The relay name.
        name: String,
        /// Its owner.
        owner: Identifier,
        /// How the binding can be released.
        release_hint: String,
    },
    /// The bindings could not be read or written (the keeper tries again).
    #[error(transparent)]
    Bindings(#[from] BindingError),
    /// The channel already holds [`MAX_RELAYS_PER_CHANNEL`] relays.
    #[error("one channel may hold at most {MAX_RELAYS_PER_CHANNEL} relays")]
    TooManyOnChannel,
    /// The registering channel closed while the registration was decided.
    #[error("the registering channel is closed")]
    ChannelClosed,
}

/// Why a relay binding could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindingError {
    /// The authority store failed.
    #[error("cannot read the relay bindings")]
    Store(#[from] crate::store::StoreError),
    /// The stored owner is not an identifier.
    #[error("relay {name:?} is bound to a malformed identifier {owner:?}")]
    MalformedOwner {
        /// The relay name.
        name: String,
        /// What is stored.
        owner: String,
    },
}

/// Why a relay keeper's registration attempt failed (it tries again by itself).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// `--at` is not a route.
    #[error("--at {at:?}")]
    InvalidRoute {
        /// The route given.
        at: String,
        /// Why.
        #[source]
        source: airlock_wire::multiaddr::MultiAddrError,
    },
    /// `/project/P` of a project this node is not a member of.
    #[error("not a member of project {0:?}")]
    NotMember(String),
    /// The relay host could not be reached.
    #[error(transparent)]
    Unreachable(#[from] airlock_node::resolve::ResolveError),
    /// The route opens no secure channel to register through.
    #[error("{0} opens no secure channel")]
    NoSecureChannel(String),
    /// The relay host refused the registration, or did not answer it.
    #[error(transparent)]
    Request(#[from] crate::api::RequestError),
    /// The first attempt took longer than the caller waited (the keeper goes on trying).
    #[error("the project did not answer in time; still trying")]
    Timeout,
}

impl RegisterError {
    /// True when the relay host decided (and refused) the registration.
    pub fn is_refusal(&self) -> bool {
        matches!(self, RegisterError::Request(e) if e.is_refusal())
    }
}

/// Whether a relay is registered, as seen by its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayStatus {
    /// Registered: callers reach the relay.
    Up,
    /// Not registered (yet, or the channel dropped): the keeper is trying.
    Down,
}

impl RelayStatus {
    /// `up` or `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            RelayStatus::Up => "up",
            RelayStatus::Down => "down",
        }
    }
}

impl std::fmt::Display for RelayStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the JSON spelling (`status == "up"`), as code written against the former
/// string status does.
impl PartialEq<&str> for RelayStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Why a relay host's forwarder dropped a caller's message (logged; the caller is not told).
#[derive(Debug, thiserror::Error)]
enum ForwardRefused {
    #[error("no return route")]
    NoReturnRoute,
    #[error("{0}")]
    NotMember(String),
    #[error("relay {0:?} serves {MAX_CALLERS_PER_RELAY} callers already")]
    TooManyCallers(String),
    #[error("the relay channel is closed")]
    ChannelClosed,
}

/// The relay service address on a project node.
pub const RELAY_SERVICE: &str = "relays";

struct Registration {
    owner: Identifier,
    channel: Address,
    forwarder: Arc<Forwarder>,
}

/// Who may register a relay name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayAccess {
    /// Project node: the project credential's `airlock.relay` attribute must grant the name
    /// (and the node's `relay` policies must allow it).
    ProjectPermission,
    /// Any other node: the node's `relay` policies (default: a valid project credential if the
    /// node belongs to a project; a node outside any project refuses every registration until a
    /// `relay` policy allows it).
    Policy,
}

/// Where a relay service records which identity each relay name is bound to: the identity that
/// first registered it. Nobody else may register the name until the binding is released.
///
/// A project node uses its authority store ([`AuthorityStore`]: persistent, shared by the
/// project nodes of one database, released by `airlock project relay release NAME` or by
/// deleting the owner); any other node keeps bindings in memory ([`MemoryBindings`]: they last
/// until the node restarts).
pub trait RelayBindings: Send + Sync {
    /// Binds `name` to `owner` unless it is bound already, atomically; returns the owner it is
    /// bound to afterwards. An error means the binding could not be read or written (the
    /// registration is refused, the relay keeper tries again).
    fn bind<'a>(&'a self, name: &'a str, owner: &'a Identifier) -> BindFuture<'a>;

    /// What the refusal of a bound name tells the registrant about releasing it.
    fn release_hint(&self, name: &str) -> String;
}

/// What [`RelayBindings::bind`] returns: the owner the name is bound to afterwards.
pub type BindFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Identifier, BindingError>> + Send + 'a>,
>;

impl RelayBindings for AuthorityStore {
    fn bind<'a>(&'a self, name: &'a str, owner: &'a Identifier) -> BindFuture<'a> {
        Box::pin(async move {
            let b = self.bind_relay(name, &owner.to_string()).await?;
            b.owner.parse().map_err(|_| BindingError::MalformedOwner {
                name: name.to_string(),
                owner: b.owner.clone(),
            })
        })
    }

    fn release_hint(&self, name: &str) -> String {
        format!(
            "a project administrator can release it with `airlock project relay release {name}`"
        )
    }
}

/// Relay bindings kept in memory, for a node that hosts no project: a name stays with the
/// identity that first registered it until the node restarts.
#[derive(Default)]
pub struct MemoryBindings(Mutex<HashMap<String, Identifier>>);

impl RelayBindings for MemoryBindings {
    fn bind<'a>(&'a self, name: &'a str, owner: &'a Identifier) -> BindFuture<'a> {
        let held = *self
            .0
            .lock()
            .expect("bindings")
            .entry(name.to_string())
            .or_insert(*owner);
        Box::pin(std::future::ready(Ok(held)))
    }

    fn release_hint(&self, _name: &str) -> String {
        "this node hosts no project and keeps relay bindings in memory: the name is free again \
         when the node restarts"
            .to_string()
    }
}

/// The side that accepts registrations. Clones share their state.
#[derive(Clone)]
pub struct RelayService {
    access: RelayAccess,
    registrations: Arc<Mutex<HashMap<String, Registration>>>,
    bindings: Arc<dyn RelayBindings>,
}

/// `forward_to_NAME`: carries messages from callers onto the registration channel.
///
/// Flow control (docs/protocol.md §2.1, §9.5): the forwarder is a service, so only messages
/// that a channel exposing services decrypted reach it (never bare TCP); a caller must not be
/// revoked and, on a project node, must be a member (the `relay` policy decides who may *hold*
/// a name; callers are authenticated end to end by the relay owner's listener and policies). It delivers only onto the channel the relay was
/// registered over — never along a route the caller chose. Answers come back through a
/// per-caller back-path address (`relay.<random>`) that accepts only the registration channel
/// and delivers only onto the hop the caller's messages came from, so a relay owner cannot use
/// the host to reach anything but the callers that reached it.
struct Forwarder {
    name: String,
    address: Address,
    channel: std::sync::Weak<SecureChannel>,
    callers: Mutex<HashMap<Address, Caller>>,
}

struct Caller {
    back: Address,
    checked: Instant,
    hook: Option<u64>,
}

/// Most callers (distinct hops) one relay serves at once.
pub const MAX_CALLERS_PER_RELAY: usize = 4096;

/// A caller's policy decision is re-evaluated this often (revocation and policy changes reach
/// live relay paths within this time plus the polling interval).
pub const CALLER_RECHECK: Duration = Duration::from_secs(10);

impl Forwarder {
    fn back_for(self: &Arc<Self>, node: &Node, msg: &Message) -> Result<Address, ForwardRefused> {
        let hop = match msg.origin.hop() {
            Some(h) => h.clone(),
            // Local code answering through its own reply slot.
            None => msg
                .ret
                .first()
                .cloned()
                .ok_or(ForwardRefused::NoReturnRoute)?,
        };
        let mut callers = self.callers.lock().expect("callers");
        if let Some(c) = callers.get_mut(&hop) {
            if c.checked.elapsed() < CALLER_RECHECK {
                return Ok(c.back.clone());
            }
        }
        if let Some(peer) = msg.peer() {
            node.admits_member(peer)
                .map_err(ForwardRefused::NotMember)?;
        }
        if let Some(c) = callers.get_mut(&hop) {
            c.checked = Instant::now();
            return Ok(c.back.clone());
        }
        if callers.len() >= MAX_CALLERS_PER_RELAY {
            return Err(ForwardRefused::TooManyCallers(self.name.clone()));
        }
        let channel = self
            .channel
            .upgrade()
            .ok_or(ForwardRefused::ChannelClosed)?;
        let back = Address::new(format!("relay.{:016x}", airlock_node::random_u64()))
            .expect("a back-path address is a valid address");
        node.router().register(
            back.clone(),
            Access::Via(channel.address().clone()),
            Arc::new(BackPath {
                forwarder: self.address.clone(),
                to: hop.clone(),
            }),
        );
        callers.insert(
            hop.clone(),
            Caller {
                back: back.clone(),
                checked: Instant::now(),
                hook: None,
            },
        );
        drop(callers);
        // The back-path goes with the caller's hop (the hook runs at once if it is gone).
        let (weak, n, h) = (Arc::downgrade(self), node.clone(), hop.clone());
        let hook = node.on_close(
            &hop,
            Box::new(move || {
                if let Some(f) = weak.upgrade() {
                    let gone = f.callers.lock().expect("callers").remove(&h);
                    if let Some(c) = gone {
                        n.router().unregister(&c.back);
                    }
                }
            }),
        );
        if let Some(c) = self.callers.lock().expect("callers").get_mut(&hop) {
            c.hook = hook;
        }
        Ok(back)
    }

    /// Removes every back-path (the registration ended).
    fn stop(&self, node: &Node) {
        for (hop, c) in self.callers.lock().expect("callers").drain() {
            node.router().unregister(&c.back);
            if let Some(id) = c.hook {
                node.remove_close_hook(&hop, id);
            }
        }
    }
}

struct ForwarderWorker(Arc<Forwarder>);

impl Worker for ForwarderWorker {
    fn handle(&self, node: &Node, mut msg: Message) {
        let f = &self.0;
        let back = match f.back_for(node, &msg) {
            Ok(b) => b,
            Err(why) => {
                tracing::warn!(relay = %f.name, from = %msg.origin.describe(), "relay refused a message: {why}");
                return;
            }
        };
        let Some(channel) = f.channel.upgrade() else {
            return;
        };
        msg.onward.pop_front();
        let mut ret = msg.ret;
        ret.pop_front();
        ret.push_front(back);
        if let Err(e) = channel.send(node, &msg.onward, &ret, msg.payload) {
            tracing::debug!(relay = %f.name, "relay could not forward: {e}");
        }
    }
}

/// `relay.<random>`: answers from the relay owner to one caller.
struct BackPath {
    forwarder: Address,
    to: Address,
}

impl Worker for BackPath {
    fn handle(&self, node: &Node, mut msg: Message) {
        msg.onward.pop_front();
        // Deliver onto the hop the caller spoke through, and nothing else; the caller answers
        // through the forwarder again.
        msg.onward.push_front(self.to.clone());
        msg.ret.pop_front();
        msg.ret.push_front(self.forwarder.clone());
        node.dispatch(Message::new(msg.onward, msg.ret, msg.payload));
    }
}

/// Most relay names one secure channel may hold at once.
pub const MAX_RELAYS_PER_CHANNEL: usize = 16;

/// Relay names: 1-48 of letters, digits, `-`, `_`, `.`.
pub fn valid_relay_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 48
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl RelayService {
    /// A service deciding registrations by `access`, with relay bindings in memory
    /// ([`MemoryBindings`]: for nodes that host no project).
    pub fn new(access: RelayAccess) -> Self {
        Self::with_bindings(access, Arc::new(MemoryBindings::default()))
    }

    /// A service deciding registrations by `access` that keeps relay bindings in `bindings`
    /// (a project node: its [`AuthorityStore`]).
    pub fn with_bindings(access: RelayAccess, bindings: Arc<dyn RelayBindings>) -> Self {
        RelayService {
            access,
            registrations: Arc::new(Mutex::new(HashMap::new())),
            bindings,
        }
    }

    /// Registers the service on `node`.
    pub fn register(self, node: &Node) {
        node.router().register(
            Address::new(RELAY_SERVICE).expect("valid"),
            Access::Service,
            Arc::new(self),
        );
    }

    /// The checks that need no binding: name, permission, policies, revocation, and no live
    /// registration of another identity.
    fn admit(
        &self,
        node: &Node,
        peer: &ChannelPeer,
        name: &str,
    ) -> Result<(), RegistrationRefused> {
        if !valid_relay_name(name) {
            return Err(RegistrationRefused::InvalidName(name.to_string()));
        }
        if self.access == RelayAccess::ProjectPermission {
            // A credential is only issued to current members, and deleted members are in the
            // node's revoked set (checked again by `authorize` below).
            let cred = node
                .home_credential(peer)
                .ok_or(RegistrationRefused::NoCredential)?;
            match cred.attributes.get(RELAY_ATTRIBUTE).map(String::as_str) {
                Some("*") => {}
                Some(n) if n == name => {}
                _ => {
                    return Err(RegistrationRefused::NotGranted {
                        name: name.to_string(),
                    })
                }
            }
        }
        if self.access == RelayAccess::Policy
            && !node.has_project()
            && !node.has_typed_policy(name, "relay")
        {
            return Err(RegistrationRefused::NoRelaysHere {
                name: name.to_string(),
                node: node.name().to_string(),
            });
        }
        node.authorize(name, "relay", peer)
            .map_err(RegistrationRefused::Policy)?;
        self.not_held_by_another(node, peer, name)
    }

    /// Refuses `name` while a live registration of another identity holds it (also after an
    /// administrator released its binding: the holder keeps it until its channel drops).
    fn not_held_by_another(
        &self,
        node: &Node,
        peer: &ChannelPeer,
        name: &str,
    ) -> Result<(), RegistrationRefused> {
        let regs = self.registrations.lock().expect("relays");
        if let Some(old) = regs.get(name) {
            let live = node.channel(&old.channel).is_some_and(|c| !c.is_closed());
            if live && old.owner != peer.identifier {
                return Err(RegistrationRefused::HeldByAnother {
                    name: name.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Binds `name` to `peer` unless it is bound to another identity (may wait on a database).
    async fn bind(&self, peer: &ChannelPeer, name: &str) -> Result<(), RegistrationRefused> {
        let owner = self.bindings.bind(name, &peer.identifier).await?;
        if owner != peer.identifier {
            return Err(RegistrationRefused::BoundToAnother {
                name: name.to_string(),
                owner,
                release_hint: self.bindings.release_hint(name),
            });
        }
        Ok(())
    }

    /// Decides a registration: [`Self::admit`], then the binding, then [`Self::install`].
    async fn register_relay(
        &self,
        node: &Node,
        peer: &ChannelPeer,
        name: &str,
    ) -> Result<Value, RegistrationRefused> {
        self.admit(node, peer, name)?;
        self.bind(peer, name).await?;
        self.install(node, peer, name)
    }

    /// Routes `forward_to_NAME` into the registering channel.
    fn install(
        &self,
        node: &Node,
        peer: &ChannelPeer,
        name: &str,
    ) -> Result<Value, RegistrationRefused> {
        // A valid relay name (checked by `admit`) makes a valid address.
        let forwarder =
            Address::new(format!("forward_to_{name}")).expect("a relay name makes an address");
        let mut regs = self.registrations.lock().expect("relays");
        let held = regs
            .iter()
            .filter(|(n, r)| r.channel == peer.channel && n.as_str() != name)
            .count();
        if held >= MAX_RELAYS_PER_CHANNEL {
            return Err(RegistrationRefused::TooManyOnChannel);
        }
        if let Some(old) = regs.get(name) {
            let live = node.channel(&old.channel).is_some_and(|c| !c.is_closed());
            if live && old.owner != peer.identifier {
                return Err(RegistrationRefused::HeldByAnother {
                    name: name.to_string(),
                });
            }
            node.router().unregister(&old.forwarder.address);
            old.forwarder.stop(node);
        }
        let channel = node
            .channel(&peer.channel)
            .ok_or(RegistrationRefused::ChannelClosed)?;
        node.router().unregister(&forwarder);
        let fw = Arc::new(Forwarder {
            name: name.to_string(),
            address: forwarder.clone(),
            channel: Arc::downgrade(&channel),
            callers: Mutex::new(HashMap::new()),
        });
        node.router().register(
            forwarder.clone(),
            Access::Service,
            Arc::new(ForwarderWorker(fw.clone())),
        );
        regs.insert(
            name.to_string(),
            Registration {
                owner: peer.identifier,
                channel: peer.channel.clone(),
                forwarder: fw,
            },
        );
        drop(regs);
        // Drop the registration with the channel it runs through.
        if let Some(ch) = node.channel(&peer.channel) {
            let (regs, n, name2, chan) = (
                self.registrations.clone(),
                node.clone(),
                name.to_string(),
                peer.channel.clone(),
            );
            ch.on_close(Box::new(move || {
                let mut regs = regs.lock().expect("relays");
                if regs.get(&name2).is_some_and(|r| r.channel == chan) {
                    if let Some(r) = regs.remove(&name2) {
                        n.router().unregister(&r.forwarder.address);
                        r.forwarder.stop(&n);
                        tracing::info!(relay = %name2, "relay registration dropped with its channel");
                    }
                }
            }));
        }
        tracing::info!(relay = %name, owner = %peer.identifier, "relay registered");
        Ok(json!({"name": name, "address": format!("/service/{forwarder}")}))
    }

    /// Current registrations (name → owner).
    pub fn list(&self) -> Vec<(String, Identifier)> {
        self.registrations
            .lock()
            .expect("relays")
            .iter()
            .map(|(k, v)| (k.clone(), v.owner))
            .collect()
    }
}

impl Worker for RelayService {
    fn handle(&self, node: &Node, msg: Message) {
        let Some(peer) = msg.peer().cloned() else {
            return;
        };
        if msg.ret.is_empty() || msg.payload.len() > 4096 {
            return;
        }
        let name = match serde_json::from_slice::<Value>(msg.payload.data()) {
            Ok(v) if v["op"] == "register" => v["name"].as_str().unwrap_or_default().to_string(),
            _ => {
                answer(
                    node,
                    msg.ret,
                    json!({"ok": false, "error": "unknown relay request"}),
                );
                return;
            }
        };
        // The binding may live in a database: decide in a task of its own.
        let (service, node, ret) = (self.clone(), node.clone(), msg.ret);
        tokio::spawn(async move {
            let v = match service.register_relay(&node, &peer, &name).await {
                Ok(r) => json!({"ok": true, "result": r}),
                Err(e) => {
                    let why = crate::error_text(&e);
                    tracing::info!(peer = %peer.identifier, "relay registration refused: {why}");
                    json!({"ok": false, "error": why})
                }
            };
            answer(&node, ret, v);
        });
    }
}

/// Sends a relay service answer back along `ret`.
fn answer(node: &Node, ret: Route, v: Value) {
    node.dispatch(Message::new(
        ret,
        Route::single(Address::new(RELAY_SERVICE).expect("valid")),
        Packet::copy_from(v.to_string().as_bytes()),
    ));
}

/// State of a relay as seen by its owner.
#[derive(Debug, Clone, Serialize)]
pub struct RelayInfo {
    /// Relay name.
    pub name: String,
    /// Route of the node holding the registration (`/project/P` or any route).
    pub at: String,
    /// Registered or not.
    pub status: RelayStatus,
    /// Where others reach it.
    pub address: String,
    /// Last error, if any.
    pub last_error: Option<String>,
    /// Identities accepted at the relay host (empty: any, or the project identity for
    /// `/project/P`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorized: Vec<String>,
}

/// Keeps one relay registered.
pub struct RelayKeeper {
    info: Mutex<RelayInfo>,
    authorized: Vec<Identifier>,
    stopped: AtomicBool,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    current: Mutex<Option<RelayChannel>>,
}

impl RelayKeeper {
    /// Starts keeping relay `name` registered at `at` (`/project/P`, or a route to a node such
    /// as `/ip4/10.0.0.1/tcp/4000`; `/secure/api` is added when the route opens no secure
    /// channel); waits up to `wait` for the first registration and returns its result (the
    /// keeper goes on trying either way). With `authorized` non-empty, the channel to a relay
    /// host reached by route accepts only those identities (`/project/P` always trusts only the
    /// project's identity).
    pub async fn start(
        node: &Node,
        at: &str,
        name: &str,
        authorized: Vec<Identifier>,
        wait: Duration,
    ) -> (Arc<Self>, Result<(), RegisterError>) {
        let keeper = Arc::new(RelayKeeper {
            info: Mutex::new(RelayInfo {
                name: name.to_string(),
                at: at.to_string(),
                status: RelayStatus::Down,
                address: format!("{}/service/forward_to_{name}", relay_host_route(at)),
                last_error: None,
                authorized: authorized.iter().map(|i| i.to_string()).collect(),
            }),
            authorized,
            stopped: AtomicBool::new(false),
            task: Mutex::new(None),
            current: Mutex::new(None),
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (k, n) = (keeper.clone(), node.clone());
        let task = tokio::spawn(async move { k.run(n, Some(tx)).await });
        *keeper.task.lock().expect("task") = Some(task);
        let first = match tokio::time::timeout(wait, rx).await {
            Ok(Ok(r)) => r,
            _ => Err(RegisterError::Timeout),
        };
        (keeper, first)
    }

    /// Status.
    pub fn info(&self) -> RelayInfo {
        self.info.lock().expect("info").clone()
    }

    /// Stops keeping the relay and closes its channel.
    pub fn stop(&self, node: &Node) {
        self.stopped.store(true, Ordering::Release);
        if let Some(t) = self.task.lock().expect("task").take() {
            t.abort();
        }
        if let Some(ch) = self.current.lock().expect("current").take() {
            ch.close(node);
        }
    }

    async fn register_once(&self, node: &Node) -> Result<RelayChannel, RegisterError> {
        let (at, name) = {
            let i = self.info.lock().expect("info");
            (i.at.clone(), i.name.clone())
        };
        let ch = open_relay_channel(node, &at, &self.authorized).await?;
        // Relayed callers open their channels to this node's listener through this one.
        ch.inner.expose(Exposure::Listener);
        let mut route = ch.route.clone();
        route.push_back(Address::new(RELAY_SERVICE).expect("valid"));
        let body = json!({"op": "register", "name": name});
        match crate::api::request_json(node, &route, &body, Duration::from_secs(10)).await {
            Ok(_) => Ok(ch),
            Err(e) => {
                ch.close(node);
                Err(e.into())
            }
        }
    }

    async fn run(
        self: Arc<Self>,
        node: Node,
        mut first: Option<tokio::sync::oneshot::Sender<Result<(), RegisterError>>>,
    ) {
        let mut backoff = Duration::from_millis(500);
        while !self.stopped.load(Ordering::Acquire) {
            match self.register_once(&node).await {
                Ok(ch) => {
                    {
                        let mut i = self.info.lock().expect("info");
                        i.status = RelayStatus::Up;
                        i.last_error = None;
                        tracing::info!(relay = %i.name, at = %i.at, "relay registered");
                    }
                    backoff = Duration::from_millis(500);
                    let inner = ch.inner.clone();
                    // Recorded before the first result is reported, so that a `stop` right
                    // after `start` finds the channel and closes it.
                    *self.current.lock().expect("current") = Some(ch);
                    if let Some(tx) = first.take() {
                        let _ = tx.send(Ok(()));
                    }
                    inner
                        .wait_closed(Duration::from_secs(100 * 365 * 86400))
                        .await;
                    // Close the channels under it too (multi-hop --at routes).
                    if let Some(ch) = self.current.lock().expect("current").take() {
                        ch.close(&node);
                    }
                    self.info.lock().expect("info").status = RelayStatus::Down;
                    tracing::warn!("relay channel closed; registering again");
                }
                Err(e) => {
                    let why = crate::error_text(&e);
                    tracing::warn!("relay registration failed (retrying in {backoff:?}): {why}");
                    {
                        let mut i = self.info.lock().expect("info");
                        i.status = RelayStatus::Down;
                        i.last_error = Some(why);
                    }
                    if let Some(tx) = first.take() {
                        let _ = tx.send(Err(e));
                    }
                }
            }
            let wait = backoff.mul_f64(0.8 + 0.4 * rand::random::<f64>());
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }
}

/// Can a relay registered at `at` pin its host's identity (`--authorized`)? Yes when the route
/// ends in a secure channel this node opens (`/secure/…`, or none, for which `/secure/api` is
/// added); no for `/project/P` (the project channel trusts the project identity) and routes
/// through the project without a secure channel of their own.
pub fn can_pin_host(at: &str) -> bool {
    use airlock_wire::{MultiAddr, Segment};
    let Ok(a) = at.parse::<MultiAddr>() else {
        return false;
    };
    let secure = a.segments.iter().any(|s| matches!(s, Segment::Secure(_)));
    let project = a.segments.iter().any(|s| matches!(s, Segment::Project(_)));
    secure || !project
}

/// The route others use to reach the node holding a relay registered at `at`: `at` itself for
/// `/project/P` or a route with a secure channel, else `at/secure/api`.
pub fn relay_host_route(at: &str) -> String {
    use airlock_wire::{MultiAddr, Segment};
    let at = at.trim_end_matches('/');
    match at.parse::<MultiAddr>() {
        Ok(a)
            if !a
                .segments
                .iter()
                .any(|s| matches!(s, Segment::Secure(_) | Segment::Project(_))) =>
        {
            format!("{at}/secure/api")
        }
        _ => at.to_string(),
    }
}

/// The channel a relay is registered through, with every channel opened to reach it.
struct RelayChannel {
    /// The innermost channel: the registration lives and dies with it.
    inner: Arc<airlock_node::channel::SecureChannel>,
    /// From this node to the relay host's services, starting with `inner`.
    route: Route,
    /// All channels opened for it (outermost first), closed together.
    opened: Vec<Arc<airlock_node::channel::SecureChannel>>,
}

impl RelayChannel {
    fn close(&self, node: &Node) {
        for ch in self.opened.iter().rev() {
            ch.close(node, true);
        }
    }
}

/// Opens the secure channel a relay registers through: to the project node for `/project/P`
/// (trusting only the project identity), else over `at` (with `/secure/api` appended when `at`
/// opens no channel itself), trusting `authorized` (everyone when empty).
async fn open_relay_channel(
    node: &Node,
    at: &str,
    authorized: &[Identifier],
) -> Result<RelayChannel, RegisterError> {
    use airlock_wire::{MultiAddr, Segment};
    let t = Duration::from_secs(10);
    let mut addr: MultiAddr = at.parse().map_err(|source| RegisterError::InvalidRoute {
        at: at.to_string(),
        source,
    })?;
    if let [Segment::Project(p)] = addr.segments.as_slice() {
        let project = node
            .project(p)
            .ok_or_else(|| RegisterError::NotMember(p.clone()))?;
        let ch = airlock_node::resolve::project_channel(node, &project, t).await?;
        return Ok(RelayChannel {
            route: Route::single(ch.address().clone()),
            opened: vec![ch.clone()],
            inner: ch,
        });
    }
    if !addr
        .segments
        .iter()
        .any(|s| matches!(s, Segment::Secure(_) | Segment::Project(_)))
    {
        addr.segments.push(Segment::Secure("api".into()));
    }
    // By default the relay hop needs no particular peer identity: what travels through a relay
    // is end-to-end encrypted between inlet and outlet, which authenticate each other. Naming
    // the host (`--authorized`) keeps an impostor from learning the relay's name and traffic
    // volume.
    let trust = airlock_channel::TrustPolicy::only_or_everyone(authorized.to_vec());
    let r = airlock_node::resolve::resolve(node, &addr, trust, t).await?;
    match r.channel {
        Some((ch, after)) => {
            let mut route = Route::single(ch.address().clone());
            route.append(&after);
            Ok(RelayChannel {
                inner: ch,
                route,
                opened: r.opened,
            })
        }
        None => {
            for ch in r.opened.iter().rev() {
                ch.close(node, true);
            }
            Err(RegisterError::NoSecureChannel(at.to_string()))
        }
    }
}

/// Why a project could not say who holds a relay name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayOwnerError {
    /// The project's authority could not be asked, or refused to answer.
    #[error("cannot ask project {project:?} who holds relay {name:?}")]
    Ask {
        /// The project.
        project: String,
        /// The relay name.
        name: String,
        /// Why.
        #[source]
        source: crate::api::RequestError,
    },
    /// The answer named no valid identifier.
    #[error("project {project:?} answered a malformed owner {owner:?} for relay {name:?}")]
    MalformedOwner {
        /// The project.
        project: String,
        /// The relay name.
        name: String,
        /// What it answered.
        owner: String,
    },
}

/// Who project `project` has relay `name` bound to (asked of its authority through a channel
/// that trusts only the project; members may ask). `None`: nobody registered it yet (or its
/// binding was released).
pub async fn relay_owner(
    node: &Node,
    project: &str,
    name: &str,
    timeout: Duration,
) -> Result<Option<Identifier>, RelayOwnerError> {
    let ask = |source| RelayOwnerError::Ask {
        project: project.to_string(),
        name: name.to_string(),
        source,
    };
    let client = crate::api::AuthorityClient::connect(node, project, timeout)
        .await
        .map_err(ask)?;
    let v = client
        .request(
            &crate::api::AuthorityRequest::RelayOwner {
                name: name.to_string(),
            },
            timeout,
        )
        .await
        .map_err(ask)?;
    match v["owner"].as_str() {
        Some(o) => o
            .parse()
            .map(Some)
            .map_err(|_| RelayOwnerError::MalformedOwner {
                project: project.to_string(),
                name: name.to_string(),
                owner: o.to_string(),
            }),
        None => Ok(None),
    }
}

/// The identities an inlet that reaches its outlet through project relay `relay` (`--via`)
/// accepts at the outlet's end: `authorized` when given (the user's choice), else the identity
/// the project has `relay` bound to ([`relay_owner`]), pinned when the inlet is created so that
/// whoever holds the name later (another member after an administrator released it, or a
/// project node that lies) cannot stand in for the outlet. Empty when the name is not bound
/// yet: the inlet then accepts any outlet node that its `tcp-inlet` policy admits (by default,
/// any holder of a valid project credential). Errors when the project cannot be asked.
pub async fn inlet_authorized_via(
    node: &Node,
    project: &str,
    relay: &str,
    authorized: &[String],
) -> Result<Vec<String>, RelayOwnerError> {
    if !authorized.is_empty() {
        return Ok(authorized.to_vec());
    }
    Ok(relay_owner(node, project, relay, Duration::from_secs(10))
        .await?
        .map(|o| vec![o.to_string()])
        .unwrap_or_default())
}
