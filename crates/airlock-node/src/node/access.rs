//! Access decisions of a node: policies, project membership, trusted authorities, the
//! credentials it presents and verifies, and revoked members.

use super::{KnownIdentities, Node, ProjectRoute, KNOWN_IDENTITIES_TTL};
use crate::channel;
use crate::message::Message;
use crate::router::Worker;
use airlock_authority::{Credential, VerifiedCredential};
use airlock_channel::TrustPolicy;
use airlock_identity::{Identifier, VerifiedIdentity};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// The access subsystem's own state: what decides who may do what on this node.
pub(super) struct AccessState {
    /// Who the `api` listener admits (docs/protocol.md §5.4).
    pub(super) admission: Admission,
    pub(super) authorities: RwLock<Vec<VerifiedIdentity>>,
    /// The project each trusted authority speaks for (`subject.project` in policies).
    pub(super) authority_projects: RwLock<HashMap<Identifier, String>>,
    /// The authority of the project this node hosts (binds its resources), if any.
    pub(super) home_authority: RwLock<Option<Identifier>>,
    /// The credentials this node presents in handshakes.
    pub(super) credentials: RwLock<Vec<Vec<u8>>>,
    /// The credential of each project this node is a member of (presented together).
    pub(super) project_credentials: Mutex<BTreeMap<String, Vec<u8>>>,
    pub(super) projects: RwLock<HashMap<String, ProjectRoute>>,
    pub(super) policies: RwLock<crate::policy::Policies>,
    /// Revoked members by project (each project's poll replaces only its own set).
    pub(super) revoked: RwLock<HashMap<String, HashSet<Identifier>>>,
}

impl AccessState {
    pub(super) fn new(admission: Admission) -> Self {
        AccessState {
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
pub(super) struct Admission {
    /// The configured `--authorized` list: if non-empty, exactly these.
    authorized: Vec<Identifier>,
    /// Everyone, outside any project (tests, demos).
    trust_unknown: bool,
    known: Option<KnownIdentities>,
    /// The last list `known` returned, and when.
    cache: Mutex<Option<(Instant, Arc<HashSet<Identifier>>)>>,
}

impl Admission {
    pub(super) fn new(
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

/// The `api` listener: answers handshake message 1 with the trust the node computes at that
/// moment ([`Node::listener_trust`]), so a node that joins a project later admits its members.
pub(super) struct AdmittingListener;

impl Worker for AdmittingListener {
    fn handle(&self, node: &Node, msg: Message) {
        channel::Listener::new(node.listener_trust()).handle(node, msg);
    }
}

impl Node {
    /// The trust policy of the `api` listener now (docs/protocol.md §5.4): the configured
    /// `authorized` list if any; else everyone on a node in a project (members prove themselves
    /// with credentials, and strangers must reach the authority to enroll) or with
    /// `trust_unknown`; else only identities this node knows: its own, the known identities
    /// and those its policies name.
    pub fn listener_trust(&self) -> TrustPolicy {
        let a = &self.inner.access.admission;
        if !a.authorized.is_empty() {
            return TrustPolicy::Identifiers(a.authorized.clone());
        }
        if a.trust_unknown || self.in_project() {
            return TrustPolicy::Everyone;
        }
        let mut ids: HashSet<Identifier> = a.known().iter().copied().collect();
        ids.insert(self.identifier());
        ids.extend(
            self.inner
                .access
                .policies
                .read()
                .expect("policies")
                .named_identifiers(),
        );
        TrustPolicy::Identifiers(ids.into_iter().collect())
    }

    /// True if `id` is an identity this node knows: its own, a configured `authorized` one, or
    /// one its known identities list (not merely named by a policy); everyone with
    /// `trust_unknown`. Outside any project, the default policy allows exactly these.
    pub fn knows(&self, id: &Identifier) -> bool {
        let a = &self.inner.access.admission;
        a.trust_unknown
            || *id == self.identifier()
            || a.authorized.contains(id)
            || a.known().contains(id)
    }

    /// Sets a policy (S-expression) for a resource name (of any type, or of `resource_type`
    /// when both are given) or for a resource type.
    pub fn set_policy(
        &self,
        resource: Option<&str>,
        resource_type: Option<&str>,
        policy: airlock_abac::Policy,
    ) -> Result<(), String> {
        self.inner
            .access
            .policies
            .write()
            .expect("policies")
            .set(resource, resource_type, policy)
    }

    /// Removes a policy.
    pub fn remove_policy(&self, resource: Option<&str>, resource_type: Option<&str>) -> bool {
        self.inner
            .access
            .policies
            .write()
            .expect("policies")
            .remove(resource, resource_type)
    }

    /// True if a policy names type `rtype`, for resource `name` of it or for the whole type
    /// (a policy on the name alone does not count; nor does the default).
    pub fn has_typed_policy(&self, name: &str, rtype: &str) -> bool {
        self.inner
            .access
            .policies
            .read()
            .expect("policies")
            .has_typed_policy(name, rtype)
    }

    /// All policies.
    pub fn policies(&self) -> Vec<crate::policy::PolicyInfo> {
        self.inner.access.policies.read().expect("policies").list()
    }

    /// Decides whether `peer` may use resource `name` of type `rtype` (see [`crate::policy`]).
    pub fn authorize(
        &self,
        name: &str,
        rtype: &str,
        peer: &crate::message::ChannelPeer,
    ) -> Result<(), String> {
        if self.is_revoked(&peer.identifier) {
            return Err(format!("{} is no longer a project member", peer.identifier));
        }
        let binding = self.binding(peer);
        self.inner
            .access
            .policies
            .read()
            .expect("policies")
            .authorize(name, rtype, peer, &binding)
    }

    /// True if this node belongs to a project or hosts one: its default policy then requires a
    /// credential from the project's authority.
    pub fn in_project(&self) -> bool {
        self.has_project()
            || self
                .inner
                .access
                .home_authority
                .read()
                .expect("home authority")
                .is_some()
    }

    /// How credentials bind for decisions about `peer` (see [`crate::policy::Binding`]).
    fn binding(&self, peer: &crate::message::ChannelPeer) -> crate::policy::Binding {
        let issuer_project = peer
            .credential_at(crate::unix_now())
            .and_then(|c| self.authority_project(&c.issuer));
        let in_project = self.in_project();
        crate::policy::Binding {
            in_project,
            home: self.home_authority(),
            issuer_project,
            // Only outside a project does the default ask (it may read the owner's state).
            known_peer: !in_project && self.knows(&peer.identifier),
        }
    }

    /// Decides whether `peer` may use this node's shared resources that no policy names, such as
    /// a relay another member registered: never a revoked member, and on a node that belongs to
    /// a project only a peer with a valid credential from its home authority (a member; from
    /// any trusted authority on a node in several projects that hosts none).
    pub fn admits_member(&self, peer: &crate::message::ChannelPeer) -> Result<(), String> {
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
    pub fn revoked(&self) -> std::collections::HashSet<Identifier> {
        self.inner
            .access
            .revoked
            .read()
            .expect("revoked")
            .values()
            .flatten()
            .copied()
            .collect()
    }

    /// The revoked members of one project (as its authority last reported them).
    pub fn revoked_in(&self, project: &str) -> std::collections::HashSet<Identifier> {
        self.inner
            .access
            .revoked
            .read()
            .expect("revoked")
            .get(project)
            .cloned()
            .unwrap_or_default()
    }

    /// True if `id` is a revoked member of any project this node knows revocations of.
    pub fn is_revoked(&self, id: &Identifier) -> bool {
        self.inner
            .access
            .revoked
            .read()
            .expect("revoked")
            .values()
            .any(|s| s.contains(id))
    }

    /// Replaces the set of revoked (deleted) members of `project` (leaving other projects'
    /// sets alone: a node may be a member of several projects, and one project's list says
    /// nothing about another's members). Everywhere the node checks the union: revoked
    /// identities' credentials are ignored and their channels to this node are closed at once.
    pub fn set_revoked(&self, project: &str, revoked: std::collections::HashSet<Identifier>) {
        {
            let mut all = self.inner.access.revoked.write().expect("revoked");
            if revoked.is_empty() {
                all.remove(project);
            } else {
                all.insert(project.to_string(), revoked);
            }
        }
        for ch in self.channels() {
            if let Some(p) = ch.peer() {
                if self.is_revoked(&p.identifier) {
                    tracing::warn!(peer = %p.identifier, channel = %ch.address(), "closing channel of a revoked member");
                    ch.close(self, true);
                }
            }
        }
    }

    /// Makes `/project/NAME` resolvable on this node.
    pub fn set_project(&self, name: &str, route: ProjectRoute) {
        self.inner
            .access
            .projects
            .write()
            .expect("projects")
            .insert(name.to_string(), route);
    }

    /// A project this node knows.
    pub fn project(&self, name: &str) -> Option<ProjectRoute> {
        self.inner
            .access
            .projects
            .read()
            .expect("projects")
            .get(name)
            .cloned()
    }

    /// True if this node is a member of any project (then portals apply policies).
    pub fn has_project(&self) -> bool {
        !self
            .inner
            .access
            .projects
            .read()
            .expect("projects")
            .is_empty()
    }

    /// Sets the authorities whose credentials this node accepts from peers.
    pub fn set_trusted_authorities(&self, authorities: Vec<VerifiedIdentity>) {
        *self.inner.access.authorities.write().expect("authorities") = authorities;
    }

    /// Names the project `authority` speaks for: policies see it as `subject.project` of the
    /// credentials it issued (docs/protocol.md §9.7).
    pub fn set_authority_project(&self, authority: Identifier, project: &str) {
        self.inner
            .access
            .authority_projects
            .write()
            .expect("authority projects")
            .insert(authority, project.to_string());
    }

    /// The project `authority` speaks for, if this node was told.
    pub fn authority_project(&self, authority: &Identifier) -> Option<String> {
        self.inner
            .access
            .authority_projects
            .read()
            .expect("authority projects")
            .get(authority)
            .cloned()
    }

    /// Sets the authority of the project this node hosts: it owns this node's resources, so
    /// its credentials alone satisfy the default policy, policies that do not name an issuer,
    /// and the relay permission of a project node, even if the node trusts other authorities.
    pub fn set_home_authority(&self, authority: Option<Identifier>) {
        *self
            .inner
            .access
            .home_authority
            .write()
            .expect("home authority") = authority;
    }

    /// The authority that owns this node's resources (§9.7): the one of the project it hosts,
    /// else the only authority it trusts; `None` for a node outside any project or one that
    /// trusts several authorities and hosts none (there, only policies that name
    /// `subject.project` or `subject.issuer` accept credentials).
    pub fn home_authority(&self) -> Option<Identifier> {
        if let Some(h) = *self
            .inner
            .access
            .home_authority
            .read()
            .expect("home authority")
        {
            return Some(h);
        }
        match self
            .inner
            .access
            .authorities
            .read()
            .expect("authorities")
            .as_slice()
        {
            [only] => Some(only.identifier),
            _ => None,
        }
    }

    /// The peer's credential if it is valid now and issued by the authority that owns this
    /// node's resources ([`Node::home_authority`]).
    pub fn home_credential(
        &self,
        peer: &crate::message::ChannelPeer,
    ) -> Option<VerifiedCredential> {
        let home = self.home_authority()?;
        peer.credential_at(crate::unix_now())
            .filter(|c| c.issuer == home)
    }

    /// Sets the credentials this node presents: in new handshakes, and re-presented at once on
    /// every open channel (no new handshake).
    pub fn set_credentials(&self, credentials: Vec<Vec<u8>>) {
        *self.inner.access.credentials.write().expect("credentials") = credentials.clone();
        for ch in self.channels() {
            if ch.status() == channel::ChannelStatus::Open {
                let _ = ch.refresh_credentials(self, &credentials);
            }
        }
    }

    /// Replaces this node's credential from `project`'s authority and presents it with those of
    /// its other projects (a node in several projects shows each peer every credential; the
    /// peer keeps the one its resources are bound to, §9.7).
    pub fn set_project_credential(&self, project: &str, credential: Vec<u8>) {
        let all = {
            let mut m = self
                .inner
                .access
                .project_credentials
                .lock()
                .expect("project credentials");
            m.insert(project.to_string(), credential);
            m.values().cloned().collect()
        };
        self.set_credentials(all);
    }

    /// Verifies credentials presented by `presenter`; returns the one from the home authority
    /// ([`Node::home_authority`]) if any is valid, else the first valid one. Failures are
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
        let authorities = self.inner.access.authorities.read().expect("authorities");
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
