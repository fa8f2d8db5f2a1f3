//! Access control, the node's access subsystem: policies, project membership, trusted
//! authorities, the credentials the node presents and verifies, revoked members, and whom the
//! `api` listener admits. It owns its state and decides; it knows nothing of channels or
//! portals (the node applies its decisions to them: closing a revoked member's channels,
//! re-presenting credentials).

use crate::config::{KnownIdentities, ProjectRoute, KNOWN_IDENTITIES_TTL};
use crate::message::ChannelPeer;
use airlock_channel::TrustPolicy;
use airlock_credential::{Credential, VerifiedCredential};
use airlock_identity::{Identifier, VerifiedIdentity};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// The access subsystem's own state: what decides who may do what on this node.
pub struct AccessControl {
    /// This node's own identifier (it always knows itself).
    own: Identifier,
    /// Who the `api` listener admits (docs/protocol.md §5.4).
    admission: Admission,
    authorities: RwLock<Vec<VerifiedIdentity>>,
    /// The project each trusted authority speaks for (`subject.project` in policies).
    authority_projects: RwLock<HashMap<Identifier, String>>,
    /// The authority of the project this node hosts (binds its resources), if any.
    home_authority: RwLock<Option<Identifier>>,
    /// The credentials this node presents in handshakes.
    credentials: RwLock<Vec<Vec<u8>>>,
    /// The credential of each project this node is a member of (presented together).
    project_credentials: Mutex<BTreeMap<String, Vec<u8>>>,
    projects: RwLock<HashMap<String, ProjectRoute>>,
    policies: RwLock<crate::policy::Policies>,
    /// Revoked members by project (each project's poll replaces only its own set).
    revoked: RwLock<HashMap<String, HashSet<Identifier>>>,
}

impl AccessControl {
    pub(crate) fn new(own: Identifier, admission: Admission) -> Self {
        AccessControl {
            own,
            admission,
            authorities: RwLock::new(Vec::new()),
            authority_projects: RwLock::new(HashMap::new()),
            home_authority: RwLock::new(None),
            credentials: RwLock::new(Vec::new()),
            project_credentials: Mutex::new(BTreeMap::new()),
            projects: RwLock::new(HashMap::new()),
            policies: RwLock::new(Default::default()),
            revoked: RwLock::new(HashMap::new()),
        }
    }
}

/// Who a node's `api` listener admits (docs/protocol.md §5.4).
pub(crate) struct Admission {
    /// The configured `--authorized` list: if non-empty, exactly these.
    authorized: Vec<Identifier>,
    /// Everyone, outside any project (tests, demos).
    trust_unknown: bool,
    known: Option<KnownIdentities>,
    /// The last list `known` returned, and when.
    cache: Mutex<Option<(Instant, Arc<HashSet<Identifier>>)>>,
}

impl Admission {
    pub(crate) fn new(
        authorized: Vec<Identifier>,
        trust_unknown: bool,
        known: Option<KnownIdentities>,
    ) -> Self {
        Admission {
            authorized,
            trust_unknown,
            known,
            cache: Mutex::new(None),
        }
    }

    /// The identities `known` lists, asked again at most every [`KNOWN_IDENTITIES_TTL`].
    fn known(&self) -> Arc<HashSet<Identifier>> {
        let Some(f) = &self.known else {
            return Arc::default();
        };
        let mut cache = self.cache.lock().expect("known identities");
        if let Some((at, ids)) = cache.as_ref() {
            if at.elapsed() < KNOWN_IDENTITIES_TTL {
                return ids.clone();
            }
        }
        let ids: Arc<HashSet<Identifier>> = Arc::new(f().into_iter().collect());
        *cache = Some((Instant::now(), ids.clone()));
        ids
    }
}

impl AccessControl {
    /// The trust policy of the `api` listener now (docs/protocol.md §5.4): the configured
    /// `authorized` list if any; else everyone on a node in a project (members prove themselves
    /// with credentials, and strangers must reach the authority to enroll) or with
    /// `trust_unknown`; else only identities this node knows: its own, the known identities
    /// and those its policies name.
    pub fn listener_trust(&self) -> TrustPolicy {
        let a = &self.admission;
        if !a.authorized.is_empty() {
            return TrustPolicy::Identifiers(a.authorized.clone());
        }
        if a.trust_unknown || self.in_project() {
            return TrustPolicy::Everyone;
        }
        let mut ids: HashSet<Identifier> = a.known().iter().copied().collect();
        ids.insert(self.own);
        ids.extend(self.policies.read().expect("policies").named_identifiers());
        TrustPolicy::Identifiers(ids.into_iter().collect())
    }

    /// True if `id` is an identity this node knows: its own, a configured `authorized` one, or
    /// one its known identities list (not merely named by a policy); everyone with
    /// `trust_unknown`. Outside any project, the default policy allows exactly these.
    pub fn knows(&self, id: &Identifier) -> bool {
        let a = &self.admission;
        a.trust_unknown || *id == self.own || a.authorized.contains(id) || a.known().contains(id)
    }

    /// Sets a policy (S-expression) for a resource name (of any type, or of `resource_type`
    /// when both are given) or for a resource type.
    pub fn set_policy(
        &self,
        resource: Option<&str>,
        resource_type: Option<&str>,
        policy: airlock_abac::Policy,
    ) -> Result<(), String> {
        self.policies
            .write()
            .expect("policies")
            .set(resource, resource_type, policy)
    }

    /// Removes a policy.
    pub fn remove_policy(&self, resource: Option<&str>, resource_type: Option<&str>) -> bool {
        self.policies
            .write()
            .expect("policies")
            .remove(resource, resource_type)
    }

    /// True if a policy names type `rtype`, for resource `name` of it or for the whole type
    /// (a policy on the name alone does not count; nor does the default).
    pub fn has_typed_policy(&self, name: &str, rtype: &str) -> bool {
        self.policies
            .read()
            .expect("policies")
            .has_typed_policy(name, rtype)
    }

    /// All policies.
    pub fn policies(&self) -> Vec<crate::policy::PolicyInfo> {
        self.policies.read().expect("policies").list()
    }

    /// Decides whether `peer` may use resource `name` of type `rtype` (see [`crate::policy`]).
    pub fn authorize(&self, name: &str, rtype: &str, peer: &ChannelPeer) -> Result<(), String> {
        if self.is_revoked(&peer.identifier) {
            return Err(format!("{} is no longer a project member", peer.identifier));
        }
        let binding = self.binding(peer);
        self.policies
            .read()
            .expect("policies")
            .authorize(name, rtype, peer, &binding)
    }

    /// True if this node belongs to a project or hosts one: its default policy then requires a
    /// credential from the project's authority.
    pub fn in_project(&self) -> bool {
        self.has_project()
            || self
                .home_authority
                .read()
                .expect("home authority")
                .is_some()
    }

    /// How credentials bind for decisions about `peer` (see [`crate::policy::Binding`]).
    fn binding(&self, peer: &ChannelPeer) -> crate::policy::Binding {
        let issuer_project = peer
            .credential_at(crate::unix_now())
            .and_then(|c| self.authority_project(&c.issuer));
        let in_project = self.in_project();
        let home = self.home_authority();
        crate::policy::Binding {
            in_project,
            home,
            home_project_node: home.is_some_and(|h| self.is_project_node_of(&h, &peer.identifier)),
            issuer_project,
            // Only outside a project does the default ask (it may read the owner's state).
            known_peer: !in_project && self.knows(&peer.identifier),
        }
    }

    /// True if `peer` is the project node of the project whose authority is `authority` (the
    /// node that holds that authority's key).
    fn is_project_node_of(&self, authority: &Identifier, peer: &Identifier) -> bool {
        let Some(project) = self.authority_project(authority) else {
            return false;
        };
        self.projects
            .read()
            .expect("projects")
            .get(&project)
            .is_some_and(|p| p.identifier == *peer)
    }

    /// Decides whether `peer` may use this node's shared resources that no policy names, such as
    /// a relay another member registered: never a revoked member, and on a node that belongs to
    /// a project only a peer with a valid credential from its home authority (a member; from
    /// any trusted authority on a node in several projects that hosts none).
    pub fn admits_member(&self, peer: &ChannelPeer) -> Result<(), String> {
        if self.is_revoked(&peer.identifier) {
            return Err(format!("{} is no longer a project member", peer.identifier));
        }
        if self.in_project() {
            // Bound to the home project when there is one; on a node in several projects any
            // of their credentials (the relay owner's listener and policies decide the rest).
            let cred = match self.home_authority() {
                Some(_) => self.home_credential(peer),
                None => peer.credential_at(crate::unix_now()),
            };
            if cred.is_none() {
                return Err(format!(
                    "{} presented no valid project credential",
                    peer.identifier
                ));
            }
        }
        Ok(())
    }

    /// The revoked members of every project, as one set (the union of the per-project sets).
    pub fn revoked(&self) -> HashSet<Identifier> {
        self.revoked
            .read()
            .expect("revoked")
            .values()
            .flatten()
            .copied()
            .collect()
    }

    /// The revoked members of one project (as its authority last reported them).
    pub fn revoked_in(&self, project: &str) -> HashSet<Identifier> {
        self.revoked
            .read()
            .expect("revoked")
            .get(project)
            .cloned()
            .unwrap_or_default()
    }

    /// True if `id` is a revoked member of any project this node knows revocations of.
    pub fn is_revoked(&self, id: &Identifier) -> bool {
        self.revoked
            .read()
            .expect("revoked")
            .values()
            .any(|s| s.contains(id))
    }

    /// Replaces the set of revoked (deleted) members of `project`, leaving other projects'
    /// sets alone (see [`crate::Node::set_revoked`]).
    pub fn set_revoked(&self, project: &str, revoked: HashSet<Identifier>) {
        let mut all = self.revoked.write().expect("revoked");
        if revoked.is_empty() {
            all.remove(project);
        } else {
            all.insert(project.to_string(), revoked);
        }
    }

    /// Makes `/project/NAME` resolvable on this node.
    pub fn set_project(&self, name: &str, route: ProjectRoute) {
        self.projects
            .write()
            .expect("projects")
            .insert(name.to_string(), route);
    }

    /// A project this node knows.
    pub fn project(&self, name: &str) -> Option<ProjectRoute> {
        self.projects.read().expect("projects").get(name).cloned()
    }

    /// True if this node is a member of any project (then portals apply policies).
    pub fn has_project(&self) -> bool {
        !self.projects.read().expect("projects").is_empty()
    }

    /// Sets the authorities whose credentials this node accepts from peers.
    pub fn set_trusted_authorities(&self, authorities: Vec<VerifiedIdentity>) {
        *self.authorities.write().expect("authorities") = authorities;
    }

    /// Names the project `authority` speaks for: policies see it as `subject.project` of the
    /// credentials it issued (docs/protocol.md §9.7).
    pub fn set_authority_project(&self, authority: Identifier, project: &str) {
        self.authority_projects
            .write()
            .expect("authority projects")
            .insert(authority, project.to_string());
    }

    /// The project `authority` speaks for, if this node was told.
    pub fn authority_project(&self, authority: &Identifier) -> Option<String> {
        self.authority_projects
            .read()
            .expect("authority projects")
            .get(authority)
            .cloned()
    }

    /// Sets the authority of the project this node hosts: it owns this node's resources, so
    /// its credentials alone satisfy the default policy, policies that do not name an issuer,
    /// and the relay permission of a project node, even if the node trusts other authorities.
    pub fn set_home_authority(&self, authority: Option<Identifier>) {
        *self.home_authority.write().expect("home authority") = authority;
    }

    /// The authority that owns this node's resources (§9.7): the one of the project it hosts,
    /// else the only authority it trusts; `None` for a node outside any project or one that
    /// trusts several authorities and hosts none (there, only policies that name
    /// `subject.project` or `subject.issuer` accept credentials).
    pub fn home_authority(&self) -> Option<Identifier> {
        if let Some(h) = *self.home_authority.read().expect("home authority") {
            return Some(h);
        }
        match self.authorities.read().expect("authorities").as_slice() {
            [only] => Some(only.identifier),
            _ => None,
        }
    }

    /// The peer's credential if it is valid now and issued by the authority that owns this
    /// node's resources ([`AccessControl::home_authority`]).
    pub fn home_credential(&self, peer: &ChannelPeer) -> Option<VerifiedCredential> {
        let home = self.home_authority()?;
        peer.credential_at(crate::unix_now())
            .filter(|c| c.issuer == home)
    }

    /// The credentials this node presents in handshakes.
    pub fn credentials(&self) -> Vec<Vec<u8>> {
        self.credentials.read().expect("credentials").clone()
    }

    /// Replaces the credentials this node presents (see [`crate::Node::set_credentials`]).
    pub fn set_credentials(&self, credentials: Vec<Vec<u8>>) {
        *self.credentials.write().expect("credentials") = credentials;
    }

    /// Records this node's credential from `project`'s authority; returns the credentials of
    /// all its projects, to present together (see [`crate::Node::set_project_credential`]).
    pub fn set_project_credential(&self, project: &str, credential: Vec<u8>) -> Vec<Vec<u8>> {
        let mut m = self
            .project_credentials
            .lock()
            .expect("project credentials");
        m.insert(project.to_string(), credential);
        m.values().cloned().collect()
    }

    /// Verifies credentials presented by `presenter`; returns the one from the home authority
    /// ([`AccessControl::home_authority`]) if any is valid, else the first valid one. Failures are
    /// logged (a peer without a valid credential gets no attributes; policies decide).
    pub fn verify_credentials(
        &self,
        presenter: &Identifier,
        credentials: &[Vec<u8>],
    ) -> Option<VerifiedCredential> {
        if self.is_revoked(presenter) {
            tracing::warn!(peer = %presenter, "credential of a revoked member ignored");
            return None;
        }
        let home = self.home_authority();
        let authorities = self.authorities.read().expect("authorities");
        let now = crate::unix_now();
        // The home project's credential if the peer presented one (it is the one that counts
        // for this node's resources), else the first valid one.
        let mut first = None;
        for raw in credentials {
            match Credential::decode(raw).and_then(|c| c.verify(&authorities, presenter, now)) {
                Ok(v) if Some(v.issuer) == home => return Some(v),
                Ok(v) => {
                    first.get_or_insert(v);
                }
                Err(e) => tracing::warn!(peer = %presenter, "credential rejected: {e}"),
            }
        }
        first
    }
}
