//! How a node is started: its keys, its configuration, and the plain types its subsystems
//! share (how to reach a project, which identities it knows). Data only — no behaviour that
//! needs a running node — so subsystems can use these types without importing the node.

use airlock_channel::RekeyPolicy;
use airlock_identity::{Identifier, IdentitySecret, PurposeKeySecret};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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

/// How to reach a project node and whom to expect there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRoute {
    /// TCP route to the project node, e.g. `/dnsaddr/project.example/tcp/4000`.
    pub route: airlock_wire::MultiAddr,
    /// The project node's identifier: channels to it trust only this.
    pub identifier: Identifier,
}
