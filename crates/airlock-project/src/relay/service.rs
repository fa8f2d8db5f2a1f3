//! The relay service of a node (address [`RELAY_SERVICE`]): decides registrations (name,
//! permission, policies, binding) and installs the forwarder of each accepted one.

use super::bindings::{BindingError, MemoryBindings, RelayBindings};
use super::forwarder::Forwarder;
use super::{valid_relay_name, MAX_RELAYS_PER_CHANNEL, RELAY_SERVICE};
use crate::RELAY_ATTRIBUTE;
use airlock_identity::Identifier;
use airlock_node::{Access, ChannelPeer, Message, Node, Worker};
use airlock_wire::{Address, Packet, Route};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

impl airlock_node::Classify for RegistrationRefused {
    /// Transient when the refusal may lift by itself: the registrant's credential may not be
    /// fetched yet, another member's live registration may drop, the store may recover, the
    /// channel was closing. Everything else (name, permission, policy, binding) is permanent.
    fn failure_kind(&self) -> airlock_node::FailureKind {
        use airlock_node::FailureKind;
        match self {
            RegistrationRefused::NoCredential
            | RegistrationRefused::HeldByAnother { .. }
            | RegistrationRefused::Bindings(_)
            | RegistrationRefused::ChannelClosed => FailureKind::Transient,
            RegistrationRefused::InvalidName(_)
            | RegistrationRefused::NotGranted { .. }
            | RegistrationRefused::NoRelaysHere { .. }
            | RegistrationRefused::Policy(_)
            | RegistrationRefused::BoundToAnother { .. }
            | RegistrationRefused::TooManyOnChannel => FailureKind::Permanent,
        }
    }
}

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

/// The side that accepts registrations. Clones share their state.
#[derive(Clone)]
pub struct RelayService {
    access: RelayAccess,
    registrations: Arc<Mutex<HashMap<String, Registration>>>,
    bindings: Arc<dyn RelayBindings>,
}

impl RelayService {
    /// A service deciding registrations by `access`, with relay bindings in memory
    /// ([`MemoryBindings`]: for nodes that host no project).
    pub fn new(access: RelayAccess) -> Self {
        Self::with_bindings(access, Arc::new(MemoryBindings::default()))
    }

    /// A service deciding registrations by `access` that keeps relay bindings in `bindings`
    /// (a project node: its [`AuthorityStore`](crate::store::AuthorityStore)).
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
            old.forwarder.stop();
        }
        let channel = node
            .channel(&peer.channel)
            .ok_or(RegistrationRefused::ChannelClosed)?;
        node.router().unregister(&forwarder);
        // The forwarder takes the node's channel context once; it never sees the node.
        let fw = Forwarder::new(
            node.channel_context().clone(),
            name,
            forwarder.clone(),
            &channel,
        );
        node.router()
            .register_endpoint(forwarder.clone(), Access::Service, fw.endpoint());
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
            let (regs, name2, chan) = (
                self.registrations.clone(),
                name.to_string(),
                peer.channel.clone(),
            );
            ch.on_close(Box::new(move || {
                let mut regs = regs.lock().expect("relays");
                if regs.get(&name2).is_some_and(|r| r.channel == chan) {
                    if let Some(r) = regs.remove(&name2) {
                        r.forwarder.stop();
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
                    // `retry` tells the registrant that the refusal may lift by itself
                    // (docs/protocol.md §10): it reads as an undecided answer, not a refusal.
                    use airlock_node::Classify;
                    match e.failure_kind() {
                        airlock_node::FailureKind::Permanent => json!({"ok": false, "error": why}),
                        airlock_node::FailureKind::Transient => {
                            json!({"ok": false, "error": why, "retry": true})
                        }
                    }
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
