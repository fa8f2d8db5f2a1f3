//! The relay owner's side: [`RelayKeeper`] keeps one registration alive (registers, waits until
//! the channel drops, registers again with jittered exponential back-off).

use super::RELAY_SERVICE;
use airlock_identity::Identifier;
use airlock_node::backoff::Backoff;
use airlock_node::{Classify, Exposure, FailureKind, Node};
use airlock_wire::{Address, Route};
use serde::Serialize;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Why a relay keeper's registration attempt failed (it tries again by itself).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// `--at` is not a route.
    #[error("--at {at:?}")]
    InvalidRoute {
        /// The route given.
        at: String,
        /// Why.
        #[source]
        source: airlock_wire::multiaddr::MultiAddrError,
    },
    /// `/project/P` of a project this node is not a member of.
    #[error("not a member of project {0:?}")]
    NotMember(String),
    /// The relay host could not be reached.
    #[error(transparent)]
    Unreachable(#[from] airlock_node::resolve::ResolveError),
    /// The route opens no secure channel to register through.
    #[error("{0} opens no secure channel")]
    NoSecureChannel(String),
    /// The relay host refused the registration, or did not answer it.
    #[error(transparent)]
    Request(#[from] crate::api::RequestError),
    /// The first attempt took longer than the caller waited (the keeper goes on trying).
    #[error("the project did not answer in time; still trying")]
    Timeout,
}

impl airlock_node::Classify for RegisterError {
    fn failure_kind(&self) -> airlock_node::FailureKind {
        use airlock_node::FailureKind;
        match self {
            RegisterError::InvalidRoute { .. }
            | RegisterError::NotMember(_)
            | RegisterError::NoSecureChannel(_) => FailureKind::Permanent,
            RegisterError::Unreachable(e) => e.failure_kind(),
            RegisterError::Request(e) => e.failure_kind(),
            RegisterError::Timeout => FailureKind::Transient,
        }
    }
}

impl RegisterError {
    /// True when the relay host decided (and refused) the registration.
    pub fn is_refusal(&self) -> bool {
        matches!(self, RegisterError::Request(e) if e.is_refusal())
    }
}

/// Whether a relay is registered, as seen by its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayStatus {
    /// Registered: callers reach the relay.
    Up,
    /// Not registered (yet, or the channel dropped): the keeper is trying.
    Down,
}

impl RelayStatus {
    /// `up` or `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            RelayStatus::Up => "up",
            RelayStatus::Down => "down",
        }
    }
}

impl std::fmt::Display for RelayStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the JSON spelling (`status == "up"`), as code written against the former
/// string status does.
impl PartialEq<&str> for RelayStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// State of a relay as seen by its owner.
#[derive(Debug, Clone, Serialize)]
pub struct RelayInfo {
    /// Relay name.
    pub name: String,
    /// Route of the node holding the registration (`/project/P` or any route).
    pub at: String,
    /// Registered or not.
    pub status: RelayStatus,
    /// Where others reach it.
    pub address: String,
    /// Last error, if any.
    pub last_error: Option<String>,
    /// Whether retrying can fix the last error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_kind: Option<FailureKind>,
    /// Identities accepted at the relay host (empty: any, or the project identity for
    /// `/project/P`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorized: Vec<String>,
}

/// How a keeper's registration attempts went last, for waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pending,
    Up,
    Failed(FailureKind),
}

/// Keeps one relay registered.
pub struct RelayKeeper {
    info: Mutex<RelayInfo>,
    outcome: tokio::sync::watch::Sender<Outcome>,
    authorized: Vec<Identifier>,
    stopped: AtomicBool,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    current: Mutex<Option<RelayChannel>>,
}

impl RelayKeeper {
    /// Starts keeping relay `name` registered at `at` (`/project/P`, or a route to a node such
    /// as `/ip4/10.0.0.1/tcp/4000`; `/secure/api` is added when the route opens no secure
    /// channel); waits up to `wait` for the first registration and returns its result (the
    /// keeper goes on trying either way). With `authorized` non-empty, the channel to a relay
    /// host reached by route accepts only those identities (`/project/P` always trusts only the
    /// project's identity).
    pub async fn start(
        node: &Node,
        at: &str,
        name: &str,
        authorized: Vec<Identifier>,
        wait: Duration,
    ) -> (Arc<Self>, Result<(), RegisterError>) {
        let keeper = Arc::new(RelayKeeper {
            info: Mutex::new(RelayInfo {
                name: name.to_string(),
                at: at.to_string(),
                status: RelayStatus::Down,
                address: format!("{}/service/forward_to_{name}", relay_host_route(at)),
                last_error: None,
                last_error_kind: None,
                authorized: authorized.iter().map(|i| i.to_string()).collect(),
            }),
            outcome: tokio::sync::watch::channel(Outcome::Pending).0,
            authorized,
            stopped: AtomicBool::new(false),
            task: Mutex::new(None),
            current: Mutex::new(None),
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (k, n) = (keeper.clone(), node.clone());
        let task = tokio::spawn(async move { k.run(n, Some(tx)).await });
        *keeper.task.lock().expect("task") = Some(task);
        let first = match tokio::time::timeout(wait, rx).await {
            Ok(Ok(r)) => r,
            _ => Err(RegisterError::Timeout),
        };
        (keeper, first)
    }

    /// Waits up to `wait` until the relay is registered (`Ok(true)`), an attempt failed
    /// permanently (`Err` with the reason: the keeper should be stopped, retrying cannot help),
    /// or the time passed (`Ok(false)`: the keeper goes on trying).
    pub async fn wait_settled(&self, wait: Duration) -> Result<bool, String> {
        self.wait_outcome(wait, false).await
    }

    /// Like [`Self::wait_settled`], but a transient failure of the first attempt also ends the
    /// wait (`Ok(false)`): for creates that wait only for the first answer.
    pub async fn wait_first_attempt(&self, wait: Duration) -> Result<bool, String> {
        self.wait_outcome(wait, true).await
    }

    async fn wait_outcome(&self, wait: Duration, any_failure: bool) -> Result<bool, String> {
        let mut rx = self.outcome.subscribe();
        let settled = tokio::time::timeout(
            wait,
            rx.wait_for(|o| match o {
                Outcome::Up | Outcome::Failed(FailureKind::Permanent) => true,
                Outcome::Failed(FailureKind::Transient) => any_failure,
                Outcome::Pending => false,
            }),
        )
        .await;
        let outcome = match settled {
            Ok(Ok(o)) => *o,
            _ => return Ok(false),
        };
        match outcome {
            Outcome::Up => Ok(true),
            Outcome::Failed(FailureKind::Transient) | Outcome::Pending => Ok(false),
            Outcome::Failed(FailureKind::Permanent) => Err(self
                .info()
                .last_error
                .unwrap_or_else(|| "the relay host refused the registration".into())),
        }
    }

    /// Status.
    pub fn info(&self) -> RelayInfo {
        self.info.lock().expect("info").clone()
    }

    /// Stops keeping the relay and closes its channel.
    pub fn stop(&self, node: &Node) {
        self.stopped.store(true, Ordering::Release);
        if let Some(t) = self.task.lock().expect("task").take() {
            t.abort();
        }
        if let Some(ch) = self.current.lock().expect("current").take() {
            ch.close(node);
        }
    }

    async fn register_once(&self, node: &Node) -> Result<RelayChannel, RegisterError> {
        let (at, name) = {
            let i = self.info.lock().expect("info");
            (i.at.clone(), i.name.clone())
        };
        let ch = open_relay_channel(node, &at, &self.authorized).await?;
        // Relayed callers open their channels to this node's listener through this one.
        ch.inner.expose(Exposure::Listener);
        let mut route = ch.route.clone();
        route.push_back(Address::new(RELAY_SERVICE).expect("valid"));
        let body = json!({"op": "register", "name": name});
        match crate::api::request_json(node, &route, &body, Duration::from_secs(10)).await {
            Ok(_) => Ok(ch),
            Err(e) => {
                ch.close(node);
                Err(e.into())
            }
        }
    }

    async fn run(
        self: Arc<Self>,
        node: Node,
        mut first: Option<tokio::sync::oneshot::Sender<Result<(), RegisterError>>>,
    ) {
        let mut backoff =
            Backoff::new(Duration::from_millis(500), Duration::from_secs(30)).with_jitter(0.2);
        while !self.stopped.load(Ordering::Acquire) {
            match self.register_once(&node).await {
                Ok(ch) => {
                    {
                        let mut i = self.info.lock().expect("info");
                        i.status = RelayStatus::Up;
                        i.last_error = None;
                        i.last_error_kind = None;
                        tracing::info!(relay = %i.name, at = %i.at, "relay registered");
                    }
                    backoff.reset();
                    let inner = ch.inner.clone();
                    // Recorded before the first result is reported, so that a `stop` right
                    // after `start` finds the channel and closes it.
                    *self.current.lock().expect("current") = Some(ch);
                    self.outcome.send_replace(Outcome::Up);
                    if let Some(tx) = first.take() {
                        let _ = tx.send(Ok(()));
                    }
                    inner
                        .wait_closed(Duration::from_secs(100 * 365 * 86400))
                        .await;
                    // Close the channels under it too (multi-hop --at routes).
                    if let Some(ch) = self.current.lock().expect("current").take() {
                        ch.close(&node);
                    }
                    self.info.lock().expect("info").status = RelayStatus::Down;
                    self.outcome.send_replace(Outcome::Pending);
                    tracing::warn!("relay channel closed; registering again");
                }
                Err(e) => {
                    let why = crate::error_text(&e);
                    let kind = e.failure_kind();
                    tracing::warn!(%kind, "relay registration failed (retrying in {:?}): {why}", backoff.peek());
                    {
                        let mut i = self.info.lock().expect("info");
                        i.status = RelayStatus::Down;
                        i.last_error = Some(why);
                        i.last_error_kind = Some(kind);
                    }
                    self.outcome.send_replace(Outcome::Failed(kind));
                    if let Some(tx) = first.take() {
                        let _ = tx.send(Err(e));
                    }
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}

/// Can a relay registered at `at` pin its host's identity (`--authorized`)? Yes when the route
/// ends in a secure channel this node opens (`/secure/…`, or none, for which `/secure/api` is
/// added); no for `/project/P` (the project channel trusts the project identity) and routes
/// through the project without a secure channel of their own.
pub fn can_pin_host(at: &str) -> bool {
    use airlock_wire::{MultiAddr, Segment};
    let Ok(a) = at.parse::<MultiAddr>() else {
        return false;
    };
    let secure = a.segments.iter().any(|s| matches!(s, Segment::Secure(_)));
    let project = a.segments.iter().any(|s| matches!(s, Segment::Project(_)));
    secure || !project
}

/// The route others use to reach the node holding a relay registered at `at`: `at` itself for
/// `/project/P` or a route with a secure channel, else `at/secure/api`.
pub fn relay_host_route(at: &str) -> String {
    use airlock_wire::{MultiAddr, Segment};
    let at = at.trim_end_matches('/');
    match at.parse::<MultiAddr>() {
        Ok(a)
            if !a
                .segments
                .iter()
                .any(|s| matches!(s, Segment::Secure(_) | Segment::Project(_))) =>
        {
            format!("{at}/secure/api")
        }
        _ => at.to_string(),
    }
}

/// The channel a relay is registered through, with every channel opened to reach it.
struct RelayChannel {
    /// The innermost channel: the registration lives and dies with it.
    inner: Arc<airlock_node::channel::SecureChannel>,
    /// From this node to the relay host's services, starting with `inner`.
    route: Route,
    /// All channels opened for it (outermost first), closed together.
    opened: Vec<Arc<airlock_node::channel::SecureChannel>>,
}

impl RelayChannel {
    fn close(&self, node: &Node) {
        for ch in self.opened.iter().rev() {
            ch.close(node, true);
        }
    }
}

/// Opens the secure channel a relay registers through: to the project node for `/project/P`
/// (trusting only the project identity), else over `at` (with `/secure/api` appended when `at`
/// opens no channel itself), trusting `authorized` (everyone when empty).
async fn open_relay_channel(
    node: &Node,
    at: &str,
    authorized: &[Identifier],
) -> Result<RelayChannel, RegisterError> {
    use airlock_wire::{MultiAddr, Segment};
    let t = Duration::from_secs(10);
    let mut addr: MultiAddr = at.parse().map_err(|source| RegisterError::InvalidRoute {
        at: at.to_string(),
        source,
    })?;
    if let [Segment::Project(p)] = addr.segments.as_slice() {
        let project = node
            .project(p)
            .ok_or_else(|| RegisterError::NotMember(p.clone()))?;
        let ch = airlock_node::resolve::project_channel(node, &project, t).await?;
        return Ok(RelayChannel {
            route: Route::single(ch.address().clone()),
            opened: vec![ch.clone()],
            inner: ch,
        });
    }
    if !addr
        .segments
        .iter()
        .any(|s| matches!(s, Segment::Secure(_) | Segment::Project(_)))
    {
        addr.segments.push(Segment::Secure("api".into()));
    }
    // By default the relay hop needs no particular peer identity: what travels through a relay
    // is end-to-end encrypted between inlet and outlet, which authenticate each other. Naming
    // the host (`--authorized`) keeps an impostor from learning the relay's name and traffic
    // volume.
    let trust = airlock_channel::TrustPolicy::only_or_everyone(authorized.to_vec());
    let r = airlock_node::resolve::resolve(node, &addr, trust, t).await?;
    match r.channel {
        Some((ch, after)) => {
            let mut route = Route::single(ch.address().clone());
            route.append(&after);
            Ok(RelayChannel {
                inner: ch,
                route,
                opened: r.opened,
            })
        }
        None => {
            for ch in r.opened.iter().rev() {
                ch.close(node, true);
            }
            Err(RegisterError::NoSecureChannel(at.to_string()))
        }
    }
}
