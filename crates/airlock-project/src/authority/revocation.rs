//! Keeping a project node's revoked set equal to its store's (other project nodes sharing the
//! database may delete members).

use crate::store::AuthorityStore;
use airlock_identity::Identifier;
use airlock_node::Node;
use std::sync::Arc;

/// The revoked identifiers in `store` as a set; `None` if the store cannot be read (callers then
/// keep the set they have rather than forgetting revocations).
pub async fn revoked_set(store: &AuthorityStore) -> Option<std::collections::HashSet<Identifier>> {
    match store.revoked().await {
        Ok(ids) => Some(ids.iter().filter_map(|s| s.parse().ok()).collect()),
        Err(e) => {
            tracing::warn!("cannot read revocations: {}", crate::error_text(&e));
            None
        }
    }
}

/// How often a project node re-reads the revocations in its store: other project nodes sharing
/// the database may have deleted members.
pub const REVOCATION_SYNC: std::time::Duration = std::time::Duration::from_secs(3);

/// Keeps `node`'s revoked set of `project` equal to the store's: a member deleted through
/// another project node sharing the database is cut off here within [`REVOCATION_SYNC`].
pub fn spawn_revocation_sync(node: Node, project: String, store: Arc<AuthorityStore>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REVOCATION_SYNC);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(now) = revoked_set(&store).await else {
                continue;
            };
            if now != node.revoked_in(&project) {
                tracing::info!(%project, revoked = now.len(), "revocations changed in the store");
                node.set_revoked(&project, now);
            }
        }
    });
}
