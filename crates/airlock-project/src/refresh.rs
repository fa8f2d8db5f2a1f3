//! Keeping a node's project credential fresh.
//!
//! A member node fetches its credential from the authority when it starts and again when 80 % of
//! the credential's lifetime has passed (±10 % jitter, so a fleet does not stampede the
//! authority). Failures back off exponentially from 1 s to 60 s, with jitter. Each new
//! credential is re-presented on every open channel without a new handshake.
//!
//! The refresher and the revocation watcher share one [`AuthoritySession`]: one secure channel
//! to the project, opened on first use and again only after it closed.
//!
//! The session keeps the refresher's last outcome ([`RefreshOutcome`]): a member, refused for
//! good (revoked, or never a member: a [`FailureKind::Permanent`] error), or not answered (a
//! transient one). A hook ([`AuthoritySession::on_outcome`]) hears each change, so the node can
//! record it for `project list`.

use crate::api::{AuthorityClient, AuthorityRequest, RequestError};
use airlock_node::backoff::{jitter, Backoff};
use airlock_node::{unix_now, Classify, FailureKind, Node};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a member node's last credential refresh for a project went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum RefreshOutcome {
    /// The authority issued a credential: this identity is a member.
    Member {
        /// When (Unix seconds).
        at: u64,
        /// When the credential expires (Unix seconds).
        expires_at: u64,
    },
    /// The project refused for good ([`FailureKind::Permanent`]): the member was revoked (or
    /// was never one). The refresher keeps asking, at its longest back-off.
    Refused {
        /// When (Unix seconds).
        at: u64,
        /// The project's reason.
        reason: String,
    },
    /// No decision came back ([`FailureKind::Transient`]): unreachable, no answer.
    Unreachable {
        /// When (Unix seconds).
        at: u64,
        /// Why.
        reason: String,
    },
}

impl RefreshOutcome {
    /// The outcome of a failed refresh, by the error's kind.
    pub fn failed(e: &RequestError, at: u64) -> Self {
        let reason = crate::error_text(e);
        match e.failure_kind() {
            FailureKind::Permanent => RefreshOutcome::Refused { at, reason },
            FailureKind::Transient => RefreshOutcome::Unreachable { at, reason },
        }
    }

    /// The same status and reason (times aside).
    fn same(&self, other: &RefreshOutcome) -> bool {
        match (self, other) {
            (RefreshOutcome::Member { .. }, RefreshOutcome::Member { .. }) => true,
            (
                RefreshOutcome::Refused { reason: a, .. },
                RefreshOutcome::Refused { reason: b, .. },
            )
            | (
                RefreshOutcome::Unreachable { reason: a, .. },
                RefreshOutcome::Unreachable { reason: b, .. },
            ) => a == b,
            _ => false,
        }
    }
}

/// Hears a session's refresh outcome when it changes: `(project, outcome)`.
pub type OutcomeHook = Arc<dyn Fn(&str, &RefreshOutcome) + Send + Sync>;

/// One channel to a project's authority, shared by the background tasks of a member node.
pub struct AuthoritySession {
    node: Node,
    project: String,
    client: tokio::sync::Mutex<Option<AuthorityClient>>,
    /// Refusals in a row on the current channel.
    refusals: std::sync::atomic::AtomicU32,
    /// The refresher's last outcome.
    outcome: Mutex<Option<RefreshOutcome>>,
    hook: Mutex<Option<OutcomeHook>>,
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
            outcome: Mutex::new(None),
            hook: Mutex::new(None),
        })
    }

    /// Calls `hook` with each change of the refresh outcome (and at once with the current one,
    /// if any).
    pub fn on_outcome(&self, hook: OutcomeHook) {
        if let Some(o) = self.last_outcome() {
            hook(&self.project, &o);
        }
        *self.hook.lock().expect("hook") = Some(hook);
    }

    /// The refresher's last outcome (`None` before its first attempt ended).
    pub fn last_outcome(&self) -> Option<RefreshOutcome> {
        self.outcome.lock().expect("outcome").clone()
    }

    /// Records a refresh outcome; the hook hears it if status or reason changed.
    fn record(&self, o: RefreshOutcome) {
        let changed = {
            let mut cur = self.outcome.lock().expect("outcome");
            let changed = cur.as_ref().is_none_or(|c| !c.same(&o));
            *cur = Some(o.clone());
            changed
        };
        if changed {
            let hook = self.hook.lock().expect("hook").clone();
            if let Some(h) = hook {
                h(&self.project, &o);
            }
        }
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

/// Spawns the refresh loop; it runs until the node's runtime stops. The receiver fires after
/// the first credential was installed.
pub fn spawn_refresher(session: Arc<AuthoritySession>) -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut first = Some(tx);
    tokio::spawn(async move {
        let (node, project) = (session.node.clone(), session.project.clone());
        let mut backoff =
            Backoff::new(Duration::from_secs(1), Duration::from_secs(60)).with_jitter(0.2);
        loop {
            match fetch_credential(&session).await {
                Ok((cred, expires_at)) => {
                    node.set_project_credential(&project, cred);
                    session.record(RefreshOutcome::Member {
                        at: unix_now(),
                        expires_at,
                    });
                    if let Some(tx) = first.take() {
                        let _ = tx.send(());
                    }
                    backoff.reset();
                    let left = expires_at.saturating_sub(unix_now());
                    let wait = jitter(Duration::from_secs(left).mul_f64(0.8), 0.1)
                        .max(Duration::from_secs(5));
                    tracing::info!(%project, expires_at, next_refresh_in = ?wait, "project credential refreshed");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    let outcome = RefreshOutcome::failed(&e, unix_now());
                    if matches!(outcome, RefreshOutcome::Refused { .. }) {
                        // Asking again soon will not change the answer.
                        backoff.skip_to_max();
                    }
                    session.record(outcome);
                    let wait = backoff.next_delay();
                    tracing::warn!(%project, "cannot refresh the project credential (retrying in {wait:?}): {}", crate::error_text(&e));
                    tokio::time::sleep(wait).await;
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
