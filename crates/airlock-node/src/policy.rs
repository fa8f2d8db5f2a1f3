//! Access policies on portals and other resources (ABAC, language in `airlock-abac`).
//!
//! A policy applies to a resource name (e.g. the outlet `db`) or to a resource type
//! (`tcp-outlet`, `tcp-inlet`, `relay`, `kafka-consumer`, `kafka-producer`). Lookup is name, then
//! type, then the default: on a node that belongs to a project, the default requires a valid
//! credential from the project's authority; on a stand-alone node (no project) access is governed
//! by the secure channel's `--authorized` trust alone. A peer without a credential is denied by
//! every policy that reads an attribute.

use crate::message::ChannelPeer;
use airlock_abac::{Environment, Policy};
use serde::Serialize;
use std::collections::HashMap;

/// Kinds of resources policies apply to.
pub const RESOURCE_TYPES: &[&str] = &[
    "tcp-inlet",
    "tcp-outlet",
    "relay",
    "kafka-consumer",
    "kafka-producer",
];

/// A stored policy, for listing.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyInfo {
    /// Resource name, if the policy is for one resource.
    pub resource: Option<String>,
    /// Resource type, if the policy is for a type.
    pub resource_type: Option<String>,
    /// The expression, canonical form.
    pub expression: String,
}

/// The policies of a node.
#[derive(Default)]
pub struct Policies {
    by_name: HashMap<String, Policy>,
    by_type: HashMap<String, Policy>,
}

impl Policies {
    /// Sets a policy for a resource name or type.
    pub fn set(
        &mut self,
        resource: Option<&str>,
        resource_type: Option<&str>,
        policy: Policy,
    ) -> Result<(), String> {
        match (resource, resource_type) {
            (Some(r), _) => {
                self.by_name.insert(r.to_string(), policy);
            }
            (None, Some(t)) => {
                if !RESOURCE_TYPES.contains(&t) {
                    return Err(format!(
                        "unknown resource type {t:?} (one of {})",
                        RESOURCE_TYPES.join(", ")
                    ));
                }
                self.by_type.insert(t.to_string(), policy);
            }
            (None, None) => return Err("give --resource NAME or --resource-type TYPE".into()),
        }
        Ok(())
    }

    /// Removes a policy; returns whether one existed.
    pub fn remove(&mut self, resource: Option<&str>, resource_type: Option<&str>) -> bool {
        match (resource, resource_type) {
            (Some(r), _) => self.by_name.remove(r).is_some(),
            (None, Some(t)) => self.by_type.remove(t).is_some(),
            _ => false,
        }
    }

    /// All policies.
    pub fn list(&self) -> Vec<PolicyInfo> {
        let mut v: Vec<PolicyInfo> = self
            .by_name
            .iter()
            .map(|(k, p)| PolicyInfo {
                resource: Some(k.clone()),
                resource_type: None,
                expression: p.to_string(),
            })
            .chain(self.by_type.iter().map(|(k, p)| PolicyInfo {
                resource: None,
                resource_type: Some(k.clone()),
                expression: p.to_string(),
            }))
            .collect();
        v.sort_by(|a, b| (&a.resource, &a.resource_type).cmp(&(&b.resource, &b.resource_type)));
        v
    }

    /// True if a policy is set for resource `name` or type `rtype`.
    pub fn has_policy(&self, name: &str, rtype: &str) -> bool {
        self.by_name.contains_key(name) || self.by_type.contains_key(rtype)
    }

    /// Decides whether `peer` may use resource `name` of type `rtype`.
    pub fn authorize(
        &self,
        name: &str,
        rtype: &str,
        peer: &ChannelPeer,
        in_project: bool,
    ) -> Result<(), String> {
        let now = crate::unix_now();
        let cred = peer.credential_at(now);
        let policy = self.by_name.get(name).or_else(|| self.by_type.get(rtype));
        let Some(policy) = policy else {
            if in_project && cred.is_none() {
                return Err(format!(
                    "{} has no valid project credential (default policy of {rtype} {name})",
                    peer.identifier
                ));
            }
            return Ok(());
        };
        let attrs = cred
            .as_ref()
            .map(|c| c.attributes.clone())
            .unwrap_or_default();
        let env = Environment::from_attributes(
            &peer.identifier.to_string(),
            cred.is_some(),
            attrs,
            [
                ("name".to_string(), name.to_string()),
                ("type".to_string(), rtype.to_string()),
            ],
        );
        match policy.evaluate(&env) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "{} denied by the {rtype} policy {policy}",
                peer.identifier
            )),
            Err(e) => Err(format!(
                "{} denied by the {rtype} policy {policy}: {e}",
                peer.identifier
            )),
        }
    }
}
