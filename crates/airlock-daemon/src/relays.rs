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

    /// Starts keeping a relay registered; waits briefly for the first registration.
    pub async fn create(
        &self,
        node: &Node,
        name: &str,
        at: &str,
        authorized: &[String],
    ) -> Result<RelayCreated> {
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

/// Parses `--authorized` identifiers.
pub fn parse_identifiers(authorized: &[String]) -> Result<Vec<airlock_identity::Identifier>> {
    authorized
        .iter()
        .map(|s| s.parse().with_context(|| format!("--authorized {s:?}")))
        .collect()
}
