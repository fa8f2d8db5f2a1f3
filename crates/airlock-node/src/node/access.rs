//! The node's side of access control ([`crate::access`]): the `api` listener worker, which asks
//! for the trust of the moment, and `Node`'s access methods, which delegate to the node's
//! [`AccessControl`] — except where a decision must reach other subsystems (closing a revoked
//! member's channels, re-presenting new credentials on open channels).

use super::{Node, ProjectRoute};
use crate::access::AccessControl;
use crate::channel;
use crate::message::Message;
use crate::router::{Deliver, Endpoint};
use airlock_channel::TrustPolicy;
use airlock_credential::VerifiedCredential;
use airlock_identity::{Identifier, VerifiedIdentity};
use std::collections::HashSet;

/// The `api` listener: answers handshake message 1 with the trust the node computes at that
/// moment ([`Node::listener_trust`]), so a node that joins a project later admits its members.
pub(super) struct AdmittingListener(pub(super) channel::ChannelContext);

impl Endpoint for AdmittingListener {
    fn handle(&self, _: &Deliver, msg: Message) {
        let ctx = &self.0;
        channel::Listener::new(ctx.access().listener_trust()).handle(ctx, msg);
    }
}

impl Node {
    /// The node's access control (policies, projects, credentials, revocation).
    pub fn access(&self) -> &AccessControl {
        &self.inner.access
    }

    /// The trust policy of the `api` listener now (docs/protocol.md §5.4): the configured
    /// `authorized` list if any; else everyone on a node in a project (members prove themselves
    /// with credentials, and strangers must reach the authority to enroll) or with
    /// `trust_unknown`; else only identities this node knows: its own, the known identities
    /// and those its policies name.
    pub fn listener_trust(&self) -> TrustPolicy {
        self.inner.access.listener_trust()
    }

    /// True if `id` is an identity this node knows: its own, a configured `authorized` one, or
    /// one its known identities list (not merely named by a policy); everyone with
    /// `trust_unknown`. Outside any project, the default policy allows exactly these.
    pub fn knows(&self, id: &Identifier) -> bool {
        self.inner.access.knows(id)
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
            .set_policy(resource, resource_type, policy)
    }

    /// Removes a policy.
    pub fn remove_policy(&self, resource: Option<&str>, resource_type: Option<&str>) -> bool {
        self.inner.access.remove_policy(resource, resource_type)
    }

    /// True if a policy names type `rtype`, for resource `name` of it or for the whole type
    /// (a policy on the name alone does not count; nor does the default).
    pub fn has_typed_policy(&self, name: &str, rtype: &str) -> bool {
        self.inner.access.has_typed_policy(name, rtype)
    }

    /// All policies.
    pub fn policies(&self) -> Vec<crate::policy::PolicyInfo> {
        self.inner.access.policies()
    }

    /// Decides whether `peer` may use resource `name` of type `rtype` (see [`crate::policy`]).
    pub fn authorize(
        &self,
        name: &str,
        rtype: &str,
        peer: &crate::message::ChannelPeer,
    ) -> Result<(), String> {
        self.inner.access.authorize(name, rtype, peer)
    }

    /// True if this node belongs to a project or hosts one: its default policy then requires a
    /// credential from the project's authority.
    pub fn in_project(&self) -> bool {
        self.inner.access.in_project()
    }

    /// Decides whether `peer` may use this node's shared resources that no policy names, such as
    /// a relay another member registered: never a revoked member, and on a node that belongs to
    /// a project only a peer with a valid credential from its home authority (a member; from
    /// any trusted authority on a node in several projects that hosts none).
    pub fn admits_member(&self, peer: &crate::message::ChannelPeer) -> Result<(), String> {
        self.inner.access.admits_member(peer)
    }

    /// The revoked members of every project, as one set (the union of the per-project sets).
    pub fn revoked(&self) -> std::collections::HashSet<Identifier> {
        self.inner.access.revoked()
    }

    /// The revoked members of one project (as its authority last reported them).
    pub fn revoked_in(&self, project: &str) -> std::collections::HashSet<Identifier> {
        self.inner.access.revoked_in(project)
    }

    /// True if `id` is a revoked member of any project this node knows revocations of.
    pub fn is_revoked(&self, id: &Identifier) -> bool {
        self.inner.access.is_revoked(id)
    }

    /// Makes `/project/NAME` resolvable on this node.
    pub fn set_project(&self, name: &str, route: ProjectRoute) {
        self.inner.access.set_project(name, route)
    }

    /// A project this node knows.
    pub fn project(&self, name: &str) -> Option<ProjectRoute> {
        self.inner.access.project(name)
    }

    /// True if this node is a member of any project (then portals apply policies).
    pub fn has_project(&self) -> bool {
        self.inner.access.has_project()
    }

    /// Sets the authorities whose credentials this node accepts from peers.
    pub fn set_trusted_authorities(&self, authorities: Vec<VerifiedIdentity>) {
        self.inner.access.set_trusted_authorities(authorities)
    }

    /// Names the project `authority` speaks for: policies see it as `subject.project` of the
    /// credentials it issued (docs/protocol.md §9.7).
    pub fn set_authority_project(&self, authority: Identifier, project: &str) {
        self.inner.access.set_authority_project(authority, project)
    }

    /// The project `authority` speaks for, if this node was told.
    pub fn authority_project(&self, authority: &Identifier) -> Option<String> {
        self.inner.access.authority_project(authority)
    }

    /// Sets the authority of the project this node hosts: it owns this node's resources, so
    /// its credentials alone satisfy the default policy, policies that do not name an issuer,
    /// and the relay permission of a project node, even if the node trusts other authorities.
    pub fn set_home_authority(&self, authority: Option<Identifier>) {
        self.inner.access.set_home_authority(authority)
    }

    /// The authority that owns this node's resources (§9.7): the one of the project it hosts,
    /// else the only authority it trusts; `None` for a node outside any project or one that
    /// trusts several authorities and hosts none (there, only policies that name
    /// `subject.project` or `subject.issuer` accept credentials).
    pub fn home_authority(&self) -> Option<Identifier> {
        self.inner.access.home_authority()
    }

    /// The peer's credential if it is valid now and issued by the authority that owns this
    /// node's resources ([`Node::home_authority`]).
    pub fn home_credential(
        &self,
        peer: &crate::message::ChannelPeer,
    ) -> Option<VerifiedCredential> {
        self.inner.access.home_credential(peer)
    }

    /// Verifies credentials presented by `presenter`; returns the one from the home authority
    /// ([`Node::home_authority`]) if any is valid, else the first valid one. Failures are
    /// logged (a peer without a valid credential gets no attributes; policies decide).
    pub fn verify_credentials(
        &self,
        presenter: &Identifier,
        credentials: &[Vec<u8>],
    ) -> Option<VerifiedCredential> {
        self.inner.access.verify_credentials(presenter, credentials)
    }

    /// Replaces the set of revoked (deleted) members of `project` (leaving other projects'
    /// sets alone: a node may be a member of several projects, and one project's list says
    /// nothing about another's members). Everywhere the node checks the union: revoked
    /// identities' credentials are ignored and their channels to this node are closed at once.
    pub fn set_revoked(&self, project: &str, revoked: HashSet<Identifier>) {
        self.inner.access.set_revoked(project, revoked);
        for ch in self.channels() {
            if let Some(p) = ch.peer() {
                if self.is_revoked(&p.identifier) {
                    tracing::warn!(peer = %p.identifier, channel = %ch.address(), "closing channel of a revoked member");
                    ch.close(self, true);
                }
            }
        }
    }

    /// Sets the credentials this node presents: in new handshakes, and re-presented at once on
    /// every open channel (no new handshake).
    pub fn set_credentials(&self, credentials: Vec<Vec<u8>>) {
        self.inner.access.set_credentials(credentials.clone());
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
        let all = self
            .inner
            .access
            .set_project_credential(project, credential);
        self.set_credentials(all);
    }
}
