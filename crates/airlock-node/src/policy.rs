//! Access policies on portals and other resources (ABAC, language in `airlock-abac`).
//!
//! A policy applies to a resource name (e.g. the outlet `db`), to a name within one type (the
//! relay `mongodb` but not an inlet of that name), or to a resource type (`tcp-outlet`,
//! `tcp-inlet`, `relay`, `kafka-consumer`, `kafka-producer`). Lookup is name within the type,
//! then name alone, then type, then the default: on a node that belongs to a project, the default requires a valid
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
    /// Resource type: the policy's whole scope without `resource`, else the type the named
    /// resource must have (none: a resource of that name of any type).
    pub resource_type: Option<String>,
    /// The expression, canonical form.
    pub expression: String,
}

/// The policies of a node.
#[derive(Default)]
pub struct Policies {
    /// By resource type, then name; the type is empty for a policy on a name of any type.
    by_name: HashMap<String, HashMap<String, Policy>>,
    by_type: HashMap<String, Policy>,
}

fn check_type(t: &str) -> Result<(), String> {
    if RESOURCE_TYPES.contains(&t) {
        Ok(())
    } else {
        Err(format!(
            "unknown resource type {t:?} (one of {})",
            RESOURCE_TYPES.join(", ")
        ))
    }
}

impl Policies {
    /// Sets a policy for a resource name (of any type, or of `resource_type` when both are
    /// given) or for a whole resource type.
    pub fn set(
        &mut self,
        resource: Option<&str>,
        resource_type: Option<&str>,
        policy: Policy,
    ) -> Result<(), String> {
        if let Some(t) = resource_type {
            check_type(t)?;
        }
        if resource == Some("") {
            return Err("the resource name is empty".into());
        }
        match (resource, resource_type) {
            (Some(r), t) => {
                self.by_name
                    .entry(t.unwrap_or_default().to_string())
                    .or_default()
                    .insert(r.to_string(), policy);
            }
            (None, Some(t)) => {
                self.by_type.insert(t.to_string(), policy);
            }
            (None, None) => return Err("give --resource NAME or --resource-type TYPE".into()),
        }
        Ok(())
    }

    /// Removes a policy; returns whether one existed.
    pub fn remove(&mut self, resource: Option<&str>, resource_type: Option<&str>) -> bool {
        match (resource, resource_type) {
            (Some(r), t) => self
                .by_name
                .get_mut(t.unwrap_or_default())
                .is_some_and(|m| m.remove(r).is_some()),
            (None, Some(t)) => self.by_type.remove(t).is_some(),
            _ => false,
        }
    }

    /// All policies.
    pub fn list(&self) -> Vec<PolicyInfo> {
        let mut v: Vec<PolicyInfo> = self
            .by_name
            .iter()
            .flat_map(|(t, m)| {
                m.iter().map(move |(r, p)| PolicyInfo {
                    resource: Some(r.clone()),
                    resource_type: Some(t.clone()).filter(|t| !t.is_empty()),
                    expression: p.to_string(),
                })
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

    /// True if a policy names type `rtype`: for resource `name` of that type, or for the whole
    /// type (a policy on the name alone does not count).
    pub fn has_typed_policy(&self, name: &str, rtype: &str) -> bool {
        self.named(rtype, name).is_some() || self.by_type.contains_key(rtype)
    }

    fn named(&self, rtype: &str, name: &str) -> Option<&Policy> {
        self.by_name.get(rtype).and_then(|m| m.get(name))
    }

    /// The policy that governs resource `name` of type `rtype`: name within the type, then the
    /// name alone, then the type.
    fn lookup(&self, name: &str, rtype: &str) -> Option<&Policy> {
        self.named(rtype, name)
            .or_else(|| self.named("", name))
            .or_else(|| self.by_type.get(rtype))
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
        let policy = self.lookup(name, rtype);
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

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_authority::VerifiedCredential;
    use airlock_identity::Identifier;
    use airlock_wire::Address;
    use std::sync::{Arc, RwLock};

    fn peer(attrs: &[(&str, &str)]) -> ChannelPeer {
        let attributes = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ChannelPeer {
            identifier: Identifier([7; 20]),
            channel: Address::new("ch").unwrap(),
            credential: Arc::new(RwLock::new(Some(VerifiedCredential {
                issuer: Identifier([1; 20]),
                attributes,
                expires_at: u64::MAX,
            }))),
            exposure: Default::default(),
        }
    }

    fn policy(s: &str) -> Policy {
        Policy::parse(s).unwrap()
    }

    #[test]
    fn name_within_type_does_not_leak_to_other_types() {
        let mut p = Policies::default();
        p.set(
            Some("mongodb"),
            Some("relay"),
            policy("(= subject.r \"1\")"),
        )
        .unwrap();
        let relay_peer = peer(&[("r", "1")]);
        let other = peer(&[("x", "1")]);
        assert!(p.authorize("mongodb", "relay", &relay_peer, true).is_ok());
        assert!(p.authorize("mongodb", "relay", &other, true).is_err());
        // An inlet that happens to be called `mongodb` keeps the default.
        assert!(!p.has_typed_policy("mongodb", "tcp-inlet"));
        assert!(p.has_typed_policy("mongodb", "relay"));
        // A policy on a name alone opens no relay hosting.
        p.set(Some("db"), None, policy("true")).unwrap();
        assert!(!p.has_typed_policy("db", "relay"));
        assert!(p.authorize("mongodb", "tcp-inlet", &other, true).is_ok());
    }

    #[test]
    fn lookup_order_is_typed_name_then_name_then_type() {
        let mut p = Policies::default();
        p.set(None, Some("relay"), policy("(= subject.t \"1\")"))
            .unwrap();
        p.set(Some("db"), None, policy("(= subject.n \"1\")"))
            .unwrap();
        p.set(Some("db"), Some("relay"), policy("(= subject.tn \"1\")"))
            .unwrap();
        assert!(p
            .authorize("db", "relay", &peer(&[("tn", "1")]), true)
            .is_ok());
        assert!(p
            .authorize("db", "relay", &peer(&[("n", "1")]), true)
            .is_err());
        assert!(p
            .authorize("db", "tcp-outlet", &peer(&[("n", "1")]), true)
            .is_ok());
        assert!(p
            .authorize("other", "relay", &peer(&[("t", "1")]), true)
            .is_ok());
        assert!(p
            .authorize("other", "relay", &peer(&[("n", "1")]), true)
            .is_err());
        assert!(p.remove(Some("db"), Some("relay")));
        assert!(p
            .authorize("db", "relay", &peer(&[("n", "1")]), true)
            .is_ok());
        assert!(!p.remove(Some("db"), Some("relay")));
        let listed = p.list();
        assert_eq!(listed.len(), 2);
        assert!(listed
            .iter()
            .any(|i| i.resource.as_deref() == Some("db") && i.resource_type.is_none()));
    }

    #[test]
    fn unknown_type_is_refused_with_or_without_a_name() {
        let mut p = Policies::default();
        assert!(p
            .set(Some("db"), Some("tcp-outlett"), policy("true"))
            .is_err());
        assert!(p.set(None, Some("nope"), policy("true")).is_err());
        assert!(p.set(None, None, policy("true")).is_err());
        assert!(p.set(Some(""), Some("relay"), policy("true")).is_err());
        assert!(p.set(Some(""), None, policy("true")).is_err());
        assert!(p.set(None, Some(""), policy("true")).is_err());
    }
}
