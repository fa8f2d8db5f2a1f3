//! Keeping a node's project credential fresh.
//!
//! A member node fetches its credential from the authority when it starts and again when 80 % of
//! the credential's lifetime has passed (±10 % jitter, so a fleet does not stampede the
//! authority). Failures back off exponentially from 1 s to 60 s, with jitter. Each new
//! credential is re-presented on every open channel without a new handshake.

use crate::api::{AuthorityClient, AuthorityRequest};
use airlock_node::{unix_now, Node};
use std::time::Duration;

/// Fetches one credential for this node's identity.
pub async fn fetch_credential(node: &Node, project: &str) -> anyhow::Result<(Vec<u8>, u64)> {
    let client = AuthorityClient::connect(node, project, Duration::from_secs(10)).await?;
    let v = client
        .request(&AuthorityRequest::Credential, Duration::from_secs(10))
        .await?;
    let cred = hex::decode(v["credential"].as_str().unwrap_or_default())?;
    let expires_at = v["expires_at"].as_u64().unwrap_or(0);
    Ok((cred, expires_at))
}

fn jitter(d: Duration, fraction: f64) -> Duration {
    let f = 1.0 + fraction * (rand::random::<f64>() * 2.0 - 1.0);
    d.mul_f64(f.max(0.0))
}

/// Spawns the refresh loop; it runs until the node's runtime stops.
pub fn spawn_refresher(node: Node, project: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            match fetch_credential(&node, &project).await {
                Ok((cred, expires_at)) => {
                    node.set_credentials(vec![cred]);
                    backoff = Duration::from_secs(1);
                    let left = expires_at.saturating_sub(unix_now());
                    let wait = jitter(Duration::from_secs(left).mul_f64(0.8), 0.1)
                        .max(Duration::from_secs(5));
                    tracing::info!(%project, expires_at, next_refresh_in = ?wait, "project credential refreshed");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    let wait = jitter(backoff, 0.2);
                    tracing::warn!(%project, "cannot refresh the project credential (retrying in {wait:?}): {e:#}");
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    })
}
