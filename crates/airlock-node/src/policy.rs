//! Access policies on portals and other resources (ABAC, language in `airlock-abac`).
//!
//! A policy applies to a resource name (e.g. the outlet `db`), to a name within one type (the
//! relay `mongodb` but not an inlet of that name), or to a resource type (`tcp-outlet`,
//! `tcp-inlet`, `relay`, `kafka-consumer`, `kafka-producer`). Lookup is name within the type,
//! then name alone, then type, then the default: on a node that belongs to a project, the default requires a valid
//! credential from the authority of the project that owns the node's resources (its **home**
//! authority, see [`Binding`]); on a stand-alone node (no project) access is governed by the
//! secure channel's `--authorized` trust alone. A peer without a credential is denied by every
//! policy that reads an attribute.
//!
//! **A credential's issuer binds it** (docs/protocol.md §9.7): a policy that names neither
//! `subject.project` nor `subject.issuer` sees a credential only if the home authority issued
//! it; a policy that names one of them sees a credential from any trusted authority, with
//! `subject.issuer` and `subject.project` saying whose it is, and decides itself.

use crate::message::ChannelPeer;
use airlock_abac::{Environment, Policy, SUBJECT_ISSUER, SUBJECT_PROJECT};
use airlock_identity::Identifier;
use serde::Serialize;
use std::collections::HashMap;

/// Kinds of resources policies apply to.
pub const RESOURCE_TYPES: &[&str] = &[
    "tcp-inlet",
    "tcp-outlet",
    "relay",
    "kafka-inlet",
    "kafka-outlet",
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

/// How a node binds credentials to its resources when it decides (docs/protocol.md §9.7).
#[derive(Debug, Clone, Default)]
pub struct Binding {
    /// The node belongs to a project, hosts one or trusts an authority: the default policy
    /// requires a valid credential from `home`.
    pub in_project: bool,
    /// The authority that owns the node's resources: the one of the project it hosts, else
    /// the only one it trusts. `None` on a node that trusts several authorities and hosts no
    /// project: there only policies that name `subject.project` or `subject.issuer` accept
    /// credentials, and the default accepts none.
    pub home: Option<Identifier>,
    /// The peer is the project node of the home authority's project: it holds the authority's
    /// key and could issue itself any credential, so the default policy admits it as it admits
    /// a member (docs/protocol.md §9.7).
    pub home_project_node: bool,
    /// The project of the authority that issued the peer's credential, if the node knows it
    /// (`subject.project`).
    pub issuer_project: Option<String>,
    /// Outside any project: the default admits the peer (an identity this node knows).
    pub known_peer: bool,
}

/// True if `policy` says which authority's credentials it accepts (names `subject.issuer` or
/// `subject.project`).
pub fn names_issuer(policy: &Policy) -> bool {
    let ids = policy.identifiers();
    ids.contains(SUBJECT_ISSUER) || ids.contains(SUBJECT_PROJECT)
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

    /// Identifiers that policies name: string literals that read as identifiers (as in
    /// `(= subject.identifier "I…")`). A node outside any project admits them at its listener
    /// (docs/protocol.md §5.4); the policies then decide what they may use.
    pub fn named_identifiers(&self) -> Vec<Identifier> {
        fn walk(e: &airlock_abac::Expr, out: &mut Vec<Identifier>) {
            match e {
                airlock_abac::Expr::Str(s) => {
                    if let Ok(id) = s.parse() {
                        out.push(id);
                    }
                }
                airlock_abac::Expr::List(v) | airlock_abac::Expr::Call(_, v) => {
                    v.iter().for_each(|e| walk(e, out))
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        for p in self
            .by_name
            .values()
            .flat_map(|m| m.values())
            .chain(self.by_type.values())
        {
            walk(p.expr(), &mut out);
        }
        out
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

    /// Decides whether `peer` may use resource `name` of type `rtype`, binding its credential
    /// as `binding` says.
    pub fn authorize(
        &self,
        name: &str,
        rtype: &str,
        peer: &ChannelPeer,
        binding: &Binding,
    ) -> Result<(), String> {
        let now = crate::unix_now();
        let cred = peer.credential_at(now);
        let from_home = cred
            .clone()
            .filter(|c| binding.home.is_some_and(|h| h == c.issuer));
        // Several authorities and no home: credentials need a policy that names its project.
        let ambiguous = binding.home.is_none() && cred.is_some();
        let hint = if ambiguous {
            " (this node trusts the authorities of several projects and hosts none: a policy \
             must say whose credentials it accepts, e.g. (= subject.project \"NAME\") or \
             (= subject.issuer \"I…\"))"
        } else {
            ""
        };
        let Some(policy) = self.lookup(name, rtype) else {
            if binding.in_project {
                if from_home.is_some() || binding.home_project_node {
                    return Ok(());
                }
                return Err(match binding.home {
                    Some(h) => format!(
                        "{} has no valid credential from the project authority {h} (default policy of {rtype} {name})",
                        peer.identifier
                    ),
                    None if ambiguous => format!(
                        "{} is not allowed by the default policy of {rtype} {name}{hint}",
                        peer.identifier
                    ),
                    None => format!(
                        "{} has no valid project credential (default policy of {rtype} {name})",
                        peer.identifier
                    ),
                });
            }
            if binding.known_peer {
                return Ok(());
            }
            return Err(format!(
                "{} is not an identity this node knows (default policy of {rtype} {name} on a node outside any project; name it with --authorized or in a policy)",
                peer.identifier
            ));
        };
        let used = if names_issuer(policy) {
            cred
        } else {
            from_home
        };
        let attrs = used
            .as_ref()
            .map(|c| c.attributes.clone())
            .unwrap_or_default();
        let mut env = Environment::from_attributes(
            &peer.identifier.to_string(),
            used.is_some(),
            attrs,
            [
                ("name".to_string(), name.to_string()),
                ("type".to_string(), rtype.to_string()),
            ],
        );
        // Built-ins after the attributes, so that no attribute can stand in for them.
        env.insert(
            SUBJECT_ISSUER,
            used.as_ref()
                .map(|c| c.issuer.to_string())
                .unwrap_or_default(),
        );
        env.insert(
            SUBJECT_PROJECT,
            used.as_ref()
                .and(binding.issuer_project.clone())
                .unwrap_or_default(),
        );
        let hint = if used.is_none() { hint } else { "" };
        match policy.evaluate(&env) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "{} denied by the {rtype} policy {policy}{hint}",
                peer.identifier
            )),
            Err(e) => Err(format!(
                "{} denied by the {rtype} policy {policy}: {e}{hint}",
                peer.identifier
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_credential::VerifiedCredential;
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

    /// A node in the project whose authority issued the test credentials.
    fn member() -> Binding {
        Binding {
            in_project: true,
            home: Some(Identifier([1; 20])),
            issuer_project: Some("p".into()),
            known_peer: false,
            home_project_node: false,
        }
    }

    /// The project node holds the authority's key: the default admits it without a credential
    /// (it could issue itself one); a policy that asks for attributes still does not.
    #[test]
    fn the_home_project_node_passes_the_default_only() {
        let mut p = Policies::default();
        let project_node = ChannelPeer {
            credential: Arc::new(RwLock::new(None)),
            ..peer(&[])
        };
        let stranger = Binding {
            issuer_project: None,
            ..member()
        };
        let e = p
            .authorize("kafka", "kafka-inlet", &project_node, &stranger)
            .unwrap_err();
        assert!(e.contains("has no valid credential"), "{e}");
        let home_node = Binding {
            home_project_node: true,
            ..stranger.clone()
        };
        assert!(p
            .authorize("kafka", "kafka-inlet", &project_node, &home_node)
            .is_ok());
        p.set(
            None,
            Some("kafka-inlet"),
            policy("(= subject.kafka \"true\")"),
        )
        .unwrap();
        assert!(p
            .authorize("kafka", "kafka-inlet", &project_node, &home_node)
            .is_err());
    }

    #[test]
    fn credentials_from_other_authorities_need_a_policy_that_names_them() {
        let mut p = Policies::default();
        p.set(Some("db"), None, policy("(= subject.team \"blue\")"))
            .unwrap();
        let blue = peer(&[("team", "blue"), ("project", "spoofed")]);
        assert!(p.authorize("db", "tcp-outlet", &blue, &member()).is_ok());
        let elsewhere = Binding {
            home: Some(Identifier([2; 20])),
            ..member()
        };
        assert!(p.authorize("db", "tcp-outlet", &blue, &elsewhere).is_err());
        assert!(p.authorize("x", "tcp-outlet", &blue, &elsewhere).is_err());
        assert!(p.authorize("x", "tcp-outlet", &blue, &member()).is_ok());
        // Named: the policy sees the credential and whose it is; attributes cannot spoof it.
        p.set(Some("db"), None, policy("(= subject.project \"p\")"))
            .unwrap();
        assert!(p.authorize("db", "tcp-outlet", &blue, &elsewhere).is_ok());
        let other_project = Binding {
            issuer_project: Some("spoofed-not".into()),
            ..elsewhere.clone()
        };
        assert!(p
            .authorize("db", "tcp-outlet", &blue, &other_project)
            .is_err());
        let id = format!("(= subject.issuer \"{}\")", Identifier([1; 20]));
        p.set(Some("db"), None, policy(&id)).unwrap();
        assert!(p.authorize("db", "tcp-outlet", &blue, &elsewhere).is_ok());
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
        assert!(p
            .authorize("mongodb", "relay", &relay_peer, &member())
            .is_ok());
        assert!(p.authorize("mongodb", "relay", &other, &member()).is_err());
        // An inlet that happens to be called `mongodb` keeps the default.
        assert!(!p.has_typed_policy("mongodb", "tcp-inlet"));
        assert!(p.has_typed_policy("mongodb", "relay"));
        // A policy on a name alone opens no relay hosting.
        p.set(Some("db"), None, policy("true")).unwrap();
        assert!(!p.has_typed_policy("db", "relay"));
        assert!(p
            .authorize("mongodb", "tcp-inlet", &other, &member())
            .is_ok());
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
            .authorize("db", "relay", &peer(&[("tn", "1")]), &member())
            .is_ok());
        assert!(p
            .authorize("db", "relay", &peer(&[("n", "1")]), &member())
            .is_err());
        assert!(p
            .authorize("db", "tcp-outlet", &peer(&[("n", "1")]), &member())
            .is_ok());
        assert!(p
            .authorize("other", "relay", &peer(&[("t", "1")]), &member())
            .is_ok());
        assert!(p
            .authorize("other", "relay", &peer(&[("n", "1")]), &member())
            .is_err());
        assert!(p.remove(Some("db"), Some("relay")));
        assert!(p
            .authorize("db", "relay", &peer(&[("n", "1")]), &member())
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
