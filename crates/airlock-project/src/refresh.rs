//! Keeping a node's project credential fresh.
//!
//! A member node fetches its credential from the authority when it starts and again when 80 % of
//! the credential's lifetime has passed (±10 % jitter, so a fleet does not stampede the
//! authority). Failures back off exponentially from 1 s to 60 s, with jitter. Each new
//! credential is re-presented on every open channel without a new handshake.
//!
//! The refresher and the revocation watcher share one [`AuthoritySession`]: one secure channel
//! to the project, opened on first use and again only after it closed.

use crate::api::{AuthorityClient, AuthorityRequest, RequestError};
use airlock_node::{unix_now, Node};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// One channel to a project's authority, shared by the background tasks of a member node.
pub struct AuthoritySession {
    node: Node,
    project: String,
    client: tokio::sync::Mutex<Option<AuthorityClient>>,
    /// Refusals in a row on the current channel.
    refusals: std::sync::atomic::AtomicU32,
}

/// After this many refusals in a row the channel is replaced anyway: behind one address,
/// another project node may serve the next attempt.
const REFUSALS_BEFORE_RECONNECT: u32 = 3;

impl AuthoritySession {
    /// A session for `project` (nothing is opened until the first request).
    pub fn new(node: Node, project: String) -> Arc<Self> {
        Arc::new(AuthoritySession {
            node,
            project,
            client: tokio::sync::Mutex::new(None),
            refusals: std::sync::atomic::AtomicU32::new(0),
        })
    }

    /// The project's name.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// Sends a request, (re)connecting first if there is no live channel. A request that got no
    /// usable answer drops the channel, so the next one starts afresh; a refusal by the
    /// authority keeps it (the channel works, the answer was no) unless refusals keep coming.
    pub async fn request(&self, req: &AuthorityRequest) -> Result<Value, RequestError> {
        let t = Duration::from_secs(10);
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(|c| c.is_closed()) {
            *guard = Some(AuthorityClient::connect(&self.node, &self.project, t).await?);
            self.refusals.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        let r = guard.as_ref().expect("connected").request(req, t).await;
        use std::sync::atomic::Ordering;
        match &r {
            Ok(_) => self.refusals.store(0, Ordering::Relaxed),
            Err(RequestError::Refused { .. }) => {
                if self.refusals.fetch_add(1, Ordering::Relaxed) + 1 >= REFUSALS_BEFORE_RECONNECT {
                    self.refusals.store(0, Ordering::Relaxed);
                    *guard = None;
                }
            }
            Err(_) => {
                self.refusals.store(0, Ordering::Relaxed);
                *guard = None;
            }
        }
        r
    }
}

/// Fetches one credential for this node's identity.
pub async fn fetch_credential(session: &AuthoritySession) -> Result<(Vec<u8>, u64), RequestError> {
    let v = session.request(&AuthorityRequest::Credential).await?;
    let cred = hex::decode(v["credential"].as_str().unwrap_or_default()).map_err(|e| {
        RequestError::MalformedAnswer {
            detail: format!("credential: {e}"),
        }
    })?;
    let expires_at = v["expires_at"].as_u64().unwrap_or(0);
    Ok((cred, expires_at))
}

fn jitter(d: Duration, fraction: f64) -> Duration {
    let f = 1.0 + fraction * (rand::random::<f64>() * 2.0 - 1.0);
    d.mul_f64(f.max(0.0))
}

/// Spawns the refresh loop; it runs until the node's runtime stops. The receiver fires after
/// the first credential was installed.
pub fn spawn_refresher(session: Arc<AuthoritySession>) -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut first = Some(tx);
    tokio::spawn(async move {
        let (node, project) = (session.node.clone(), session.project.clone());
        let mut backoff = Duration::from_secs(1);
        loop {
            match fetch_credential(&session).await {
                Ok((cred, expires_at)) => {
                    node.set_project_credential(&project, cred);
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
                    tracing::warn!(%project, "cannot refresh the project credential (retrying in {wait:?}): {}", crate::error_text(&e));
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

/// Spawns the loop that keeps the node's set of revoked members of this session's project
/// current (other projects' sets are left alone), so that a deleted
/// member's channels and portal connections are cut within [`REVOCATION_POLL`] plus the policy
/// re-check interval.
pub fn spawn_revocation_watch(session: Arc<AuthoritySession>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match session.request(&AuthorityRequest::Revoked).await {
                Ok(v) => {
                    let set = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.as_str()?.parse().ok())
                        .collect();
                    session.node.set_revoked(&session.project, set);
                }
                Err(e) => {
                    tracing::debug!(project = %session.project, "revocation poll failed: {}", crate::error_text(&e))
                }
            }
            tokio::time::sleep(jitter(REVOCATION_POLL, 0.1)).await;
        }
    })
}
