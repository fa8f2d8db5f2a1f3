//! The relays a node keeps registered (`airlock relay create`): one [`RelayKeeper`] per name,
//! re-registering whenever the registration is lost. Shared by the control server (create,
//! list, delete), the metrics endpoint (`airlock_relay_up`, readiness) and restore at start.

use crate::control::protocol::{RelayCreated, RelayView};
use airlock_node::Node;
use airlock_project::relay::RelayKeeper;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The relays this node keeps registered, by name.
#[derive(Default)]
pub struct RelayKeepers {
    relays: Mutex<HashMap<String, Arc<RelayKeeper>>>,
}

impl RelayKeepers {
    /// Status of every relay this node keeps.
    pub fn infos(&self) -> Vec<RelayView> {
        let mut v: Vec<RelayView> = self
            .relays
            .lock()
            .expect("relays")
            .values()
            .map(|k| k.info().into())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Starts keeping a relay registered; waits briefly for the first registration. The relay
    /// is kept whatever the first attempt's fate (for restoring recorded relays).
    pub async fn create(
        &self,
        node: &Node,
        name: &str,
        at: &str,
        authorized: &[String],
    ) -> Result<RelayCreated> {
        let authorized = self.check(node, name, at, authorized)?;
        let (keeper, first) =
            RelayKeeper::start(node, at, name, authorized, Duration::from_secs(10)).await;
        self.relays
            .lock()
            .expect("relays")
            .insert(name.to_string(), keeper.clone());
        Ok(RelayCreated {
            relay: keeper.info().into(),
            warning: first.err().map(|e| airlock_project::error_text(&e)),
        })
    }

    /// Starts keeping a relay registered and waits up to `wait` until it is registered or
    /// refused for good (`until_up`; otherwise only until the first attempt's answer, which
    /// may be a transient failure). A permanent refusal (no permission for the name, a policy, a binding
    /// to another identity, a revoked member) stops the keeper again and is the error, so
    /// nothing is left behind; when the time passes first, the relay is kept (its status says
    /// `down`, with the last error) and the result carries a warning.
    pub async fn create_and_wait(
        &self,
        node: &Node,
        name: &str,
        at: &str,
        authorized: &[String],
        wait: Duration,
        until_up: bool,
    ) -> Result<RelayCreated> {
        let authorized = self.check(node, name, at, authorized)?;
        let (keeper, _) = RelayKeeper::start(node, at, name, authorized, Duration::ZERO).await;
        {
            let mut relays = self.relays.lock().expect("relays");
            if relays.contains_key(name) {
                drop(relays);
                keeper.stop(node);
                bail!("relay {name:?} already exists on node {}", node.name());
            }
            relays.insert(name.to_string(), keeper.clone());
        }
        let settled = if until_up {
            keeper.wait_settled(wait).await
        } else {
            keeper.wait_first_attempt(wait).await
        };
        match settled {
            Ok(up) => {
                let info = keeper.info();
                let warning = (!up).then(|| {
                    info.last_error
                        .clone()
                        .unwrap_or_else(|| format!("no answer from the relay host within {wait:?}"))
                });
                Ok(RelayCreated {
                    relay: info.into(),
                    warning,
                })
            }
            Err(why) => {
                {
                    let mut relays = self.relays.lock().expect("relays");
                    if relays.get(name).is_some_and(|k| Arc::ptr_eq(k, &keeper)) {
                        relays.remove(name);
                    }
                }
                keeper.stop(node);
                tracing::warn!(relay = %name, "relay not created: {why}");
                Err(anyhow::Error::new(RelayRefused(why)))
            }
        }
    }

    /// The checks before a relay is kept; returns the parsed `--authorized` identities.
    fn check(
        &self,
        node: &Node,
        name: &str,
        at: &str,
        authorized: &[String],
    ) -> Result<Vec<airlock_identity::Identifier>> {
        if !airlock_project::relay::valid_relay_name(name) {
            bail!("invalid relay name {name:?}: use 1-48 letters, digits, '-', '_' or '.'");
        }
        if self.relays.lock().expect("relays").contains_key(name) {
            bail!("relay {name:?} already exists on node {}", node.name());
        }
        let addr: airlock_wire::MultiAddr = at
            .parse()
            .map_err(|e| anyhow::anyhow!("--at {at:?}: {e}"))?;
        let authorized = parse_identifiers(authorized)?;
        if !authorized.is_empty() && !airlock_project::relay::can_pin_host(at) {
            bail!("--authorized needs a route that ends in a secure channel to the relay host (e.g. /ip4/…/tcp/…, /node/N, or …/secure/api); the project's own channel already accepts only the project's identity");
        }
        if let Some(airlock_wire::Segment::Project(project)) = addr.segments.first() {
            if node.project(project).is_none() {
                bail!(
                    "node {} is not a member of project {project:?} (enroll its identity first)",
                    node.name()
                );
            }
        }
        Ok(authorized)
    }

    /// Stops keeping relay `name` registered; false if there is none.
    pub fn delete(&self, node: &Node, name: &str) -> bool {
        let keeper = self.relays.lock().expect("relays").remove(name);
        match keeper {
            Some(k) => {
                k.stop(node);
                true
            }
            None => false,
        }
    }
}

/// The relay host refused the registration for good ([`airlock_node::FailureKind::Permanent`]).
#[derive(Debug, thiserror::Error)]
#[error("the relay was refused: {0}")]
pub struct RelayRefused(pub String);

impl airlock_node::Classify for RelayRefused {
    fn failure_kind(&self) -> airlock_node::FailureKind {
        airlock_node::FailureKind::Permanent
    }
}

/// Parses `--authorized` identifiers.
pub fn parse_identifiers(authorized: &[String]) -> Result<Vec<airlock_identity::Identifier>> {
    authorized
        .iter()
        .map(|s| s.parse().with_context(|| format!("--authorized {s:?}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_node::{Classify, FailureKind, NodeConfig};
    use airlock_project::relay::{RelayAccess, RelayService};

    /// A relay host refusing for good makes `relay create` an error and leaves no relay; once
    /// the host allows it, the same create succeeds; a host nobody answers at is kept trying.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_relay_is_an_error_and_leaves_nothing() {
        let hub = Node::start(NodeConfig::loopback("hub")).await.unwrap();
        RelayService::new(RelayAccess::Policy).register(&hub);
        let owner = Node::start(NodeConfig::loopback("owner")).await.unwrap();
        let at = format!("/ip4/127.0.0.1/tcp/{}", hub.listen_addr().port());
        let relays = RelayKeepers::default();

        // Outside any project and without a relay policy, the hub accepts no relays.
        let started = tokio::time::Instant::now();
        let e = relays
            .create_and_wait(&owner, "edge", &at, &[], Duration::from_secs(30), true)
            .await
            .expect_err("refused");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the refusal ends the wait"
        );
        let refused = e.downcast_ref::<RelayRefused>().expect("typed refusal");
        assert_eq!(refused.failure_kind(), FailureKind::Permanent);
        assert!(format!("{e:#}").contains("accepts no relays"), "{e:#}");
        assert!(relays.infos().is_empty(), "nothing is left behind");

        hub.set_policy(None, Some("relay"), "true".parse().unwrap())
            .unwrap();
        let created = relays
            .create_and_wait(&owner, "edge", &at, &[], Duration::from_secs(30), true)
            .await
            .expect("allowed now");
        assert_eq!(
            created.relay.status,
            crate::control::protocol::RelayStatus::Up
        );
        assert_eq!(created.warning, None);
        assert!(relays.delete(&owner, "edge"));

        // Nobody listening: the wait ends with the time, the relay stays and keeps trying.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let at = format!("/ip4/127.0.0.1/tcp/{}", closed.port());
        let created = relays
            .create_and_wait(&owner, "later", &at, &[], Duration::from_millis(800), true)
            .await
            .expect("a transient failure is no error");
        assert_eq!(
            created.relay.status,
            crate::control::protocol::RelayStatus::Down
        );
        assert!(created.warning.is_some());
        assert_eq!(created.relay.last_error_kind, Some(FailureKind::Transient));
        assert_eq!(relays.infos().len(), 1);
        assert!(relays.delete(&owner, "later"));

        // Without --wait, the first attempt's answer ends the wait, transient or not.
        let started = tokio::time::Instant::now();
        let created = relays
            .create_and_wait(&owner, "first", &at, &[], Duration::from_secs(10), false)
            .await
            .expect("a transient failure is no error");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(created.relay.last_error_kind, Some(FailureKind::Transient));
        assert!(relays.delete(&owner, "first"));
    }
}
