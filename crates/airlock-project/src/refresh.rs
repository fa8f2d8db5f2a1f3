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

/// Spawns the refresh loop; it runs until the node's runtime stops. The receiver fires after
/// the first credential was installed.
pub fn spawn_refresher(node: Node, project: String) -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut first = Some(tx);
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            match fetch_credential(&node, &project).await {
                Ok((cred, expires_at)) => {
                    node.set_credentials(vec![cred]);
                    if let Some(tx) = first.take() {
                        let _ = tx.send(());
                    }
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
    });
    rx
}

/// How often member nodes fetch the project's revocation list.
pub const REVOCATION_POLL: Duration = Duration::from_secs(15);

/// Spawns the loop that keeps the node's set of revoked members current, so that a deleted
/// member's channels and portal connections are cut within [`REVOCATION_POLL`] plus the policy
/// re-check interval.
pub fn spawn_revocation_watch(node: Node, project: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut client: Option<AuthorityClient> = None;
        loop {
            if client.is_none() {
                client = AuthorityClient::connect(&node, &project, Duration::from_secs(10))
                    .await
                    .ok();
            }
            if let Some(c) = &client {
                match c
                    .request(&AuthorityRequest::Revoked, Duration::from_secs(10))
                    .await
                {
                    Ok(v) => {
                        let set = v
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|x| x.as_str()?.parse().ok())
                            .collect();
                        node.set_revoked(set);
                    }
                    Err(e) => {
                        tracing::debug!(%project, "revocation poll failed: {e:#}");
                        client = None;
                    }
                }
            }
            tokio::time::sleep(jitter(REVOCATION_POLL, 0.1)).await;
        }
    })
}
