//! Access decisions of a node: policies, project membership, trusted authorities, the
//! credentials it presents and verifies, and revoked members.

use super::{Node, ProjectRoute};
use crate::channel;
use airlock_authority::{Credential, VerifiedCredential};
use airlock_identity::{Identifier, VerifiedIdentity};

impl Node {
    /// Sets a policy (S-expression) for a resource name (of any type, or of `resource_type`
    /// when both are given) or for a resource type.
    pub fn set_policy(
        &self,
        resource: Option<&str>,
        resource_type: Option<&str>,
        policy: airlock_abac::Policy,
    ) -> Result<(), String> {
        self.inner
            .policies
            .write()
            .expect("policies")
            .set(resource, resource_type, policy)
    }

    /// Removes a policy.
    pub fn remove_policy(&self, resource: Option<&str>, resource_type: Option<&str>) -> bool {
        self.inner
            .policies
            .write()
            .expect("policies")
            .remove(resource, resource_type)
    }

    /// True if a policy names type `rtype`, for resource `name` of it or for the whole type
    /// (a policy on the name alone does not count; nor does the default).
    pub fn has_typed_policy(&self, name: &str, rtype: &str) -> bool {
        self.inner
            .policies
            .read()
            .expect("policies")
            .has_typed_policy(name, rtype)
    }

    /// All policies.
    pub fn policies(&self) -> Vec<crate::policy::PolicyInfo> {
        self.inner.policies.read().expect("policies").list()
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
        self.inner.policies.read().expect("policies").authorize(
            name,
            rtype,
            peer,
            self.has_project(),
        )
    }

    /// Decides whether `peer` may use this node's shared resources that no policy names, such as
    /// a relay another member registered: never a revoked member, and on a node that belongs to
    /// a project only a peer with a valid credential from a trusted authority (a member).
    pub fn admits_member(&self, peer: &crate::message::ChannelPeer) -> Result<(), String> {
        if self.is_revoked(&peer.identifier) {
            return Err(format!("{} is no longer a project member", peer.identifier));
        }
        if self.has_project() && peer.credential_at(crate::unix_now()).is_none() {
            return Err(format!(
                "{} presented no valid project credential",
                peer.identifier
            ));
        }
        Ok(())
    }

    /// The revoked members of every project, as one set (the union of the per-project sets).
    pub fn revoked(&self) -> std::collections::HashSet<Identifier> {
        self.inner
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
            let mut all = self.inner.revoked.write().expect("revoked");
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
            .projects
            .write()
            .expect("projects")
            .insert(name.to_string(), route);
    }

    /// A project this node knows.
    pub fn project(&self, name: &str) -> Option<ProjectRoute> {
        self.inner
            .projects
            .read()
            .expect("projects")
            .get(name)
            .cloned()
    }

    /// True if this node is a member of any project (then portals apply policies).
    pub fn has_project(&self) -> bool {
        !self.inner.projects.read().expect("projects").is_empty()
    }

    /// Sets the authorities whose credentials this node accepts from peers.
    pub fn set_trusted_authorities(&self, authorities: Vec<VerifiedIdentity>) {
        *self.inner.authorities.write().expect("authorities") = authorities;
    }

    /// Sets the credentials this node presents: in new handshakes, and re-presented at once on
    /// every open channel (no new handshake).
    pub fn set_credentials(&self, credentials: Vec<Vec<u8>>) {
        *self.inner.credentials.write().expect("credentials") = credentials.clone();
        for ch in self.channels() {
            if ch.status() == channel::ChannelStatus::Open {
                let _ = ch.refresh_credentials(self, &credentials);
            }
        }
    }

    /// Verifies credentials presented by `presenter`; returns the first valid one. Failures are
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
        let authorities = self.inner.authorities.read().expect("authorities");
        let now = crate::unix_now();
        for raw in credentials {
            match Credential::decode(raw).and_then(|c| c.verify(&authorities, presenter, now)) {
                Ok(v) => return Some(v),
                Err(e) => tracing::warn!(peer = %presenter, "credential rejected: {e}"),
            }
        }
        None
    }
}
