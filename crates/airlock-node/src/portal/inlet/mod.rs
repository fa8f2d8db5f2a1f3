//! TCP inlet: listens locally and carries each accepted connection to an outlet.
//!
//! The inlet owns one link (and its secure channel) at a time. A background task establishes
//! it when the inlet starts and again whenever it drops — when the outlet node restarts, say —
//! with back-off ([`RECONNECT_MIN`] doubling to [`RECONNECT_MAX`], reset by a success), so the
//! status follows the truth without waiting for a client, and new client connections work again
//! as soon as the outlet is back. Each failed attempt is kept as the inlet's last error with its
//! [`FailureKind`]: a permanent one (a refusal) is retried only every [`RECONNECT_MAX`].

mod errors;
mod links;

pub use errors::{InletError, InletRefused, InvalidRoute, LinkError, LinkRefused};
pub use links::AllLinksFull;
use links::Current;

use super::link::{Link, LinkStats};
use super::socket::PortalSocket;
use crate::backoff::Backoff;
use crate::failure::{self, Classify, FailureKind};
use crate::portal::PortalContext;
use crate::resolve;
use airlock_channel::TrustPolicy;
use airlock_identity::Identifier;
use airlock_wire::MultiAddr;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UnixStream;

/// How long `create` waits for the first link before returning (the inlet keeps trying).
pub const INITIAL_WAIT: Duration = Duration::from_secs(3);
/// How long a new client connection waits for the link to (re-)establish.
pub const LINK_WAIT: Duration = Duration::from_secs(15);
/// First pause of the background reconnection after a failed attempt.
pub const RECONNECT_MIN: Duration = Duration::from_millis(500);
/// Longest pause of the background reconnection (and the pause after a permanent failure).
pub const RECONNECT_MAX: Duration = Duration::from_secs(10);

/// Whether an inlet has a live link to its outlet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InletStatus {
    /// Linked: client connections go through.
    Up,
    /// Not linked: the inlet keeps trying (see the last error).
    Down,
}

impl InletStatus {
    /// `up` or `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            InletStatus::Up => "up",
            InletStatus::Down => "down",
        }
    }
}

impl std::fmt::Display for InletStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the JSON spelling (`status == "up"`).
impl PartialEq<&str> for InletStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// How an inlet's link attempts went last, for waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// No attempt has ended yet.
    Pending,
    /// A link is up.
    Up,
    /// The last attempt failed.
    Failed(FailureKind),
}

/// What an inlet is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InletSpec {
    /// Name (alias).
    pub name: String,
    /// Local address to listen on.
    pub from: SocketAddr,
    /// Route to the outlet, e.g. `/ip4/127.0.0.1/tcp/4001/secure/api/service/outlet`.
    pub to: String,
    /// Identifiers the outlet node may have; empty = any.
    #[serde(default)]
    pub authorized: Vec<String>,
}

/// Inlet status for `tcp-inlet list/show`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InletInfo {
    /// Name.
    pub name: String,
    /// Bound address.
    pub from: String,
    /// Route.
    pub to: String,
    /// `up` when a link to the outlet is established, else `down`.
    pub status: InletStatus,
    /// The outlet node's identifier, when connected.
    pub peer: Option<String>,
    /// Open client connections.
    pub connections: usize,
    /// Client connections accepted in total.
    pub connections_total: u64,
    /// Bytes from clients to the outlet.
    pub bytes_out: u64,
    /// Bytes from the outlet to clients.
    pub bytes_in: u64,
    /// Last error establishing the link (kept while the link is up, until a link is made).
    pub last_error: Option<String>,
    /// Whether retrying can fix the last error.
    #[serde(default)]
    pub last_error_kind: Option<FailureKind>,
}

/// A running inlet.
pub struct Inlet {
    spec: InletSpec,
    resource_type: &'static str,
    bound: SocketAddr,
    route: MultiAddr,
    trust: TrustPolicy,
    current: tokio::sync::Mutex<Option<Current>>,
    snapshot: Mutex<Option<Arc<Link>>>,
    /// The overflow links of `current`, for status without the async lock.
    overflow: Mutex<Vec<Arc<Link>>>,
    last_error: Mutex<Option<(String, FailureKind)>>,
    outcome: tokio::sync::watch::Sender<Outcome>,
    stats: Arc<LinkStats>,
    accepted: AtomicU64,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    keeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Inlet {
    /// Binds the listener, starts accepting and starts establishing the link in the background
    /// (see [`Inlet::wait_first`]); does not fail if the outlet is not reachable (yet).
    pub async fn start(node: &PortalContext, spec: InletSpec) -> Result<Arc<Inlet>, InletError> {
        let inlet = Self::prepare(spec, "tcp-inlet")?;
        let addr = inlet.spec.from;
        let listener =
            crate::listener::bind(addr).map_err(|error| InletError::listen(addr, error))?;
        let inlet = Arc::new(Inlet {
            bound: listener
                .local_addr()
                .map_err(|error| InletError::Listen { addr, error })?,
            ..inlet
        });
        let (n, i) = (node.clone(), inlet.clone());
        let handle = tokio::spawn(async move {
            loop {
                let (socket, _) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("inlet accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                i.accepted.fetch_add(1, Ordering::Relaxed);
                let (n, i) = (n.clone(), i.clone());
                tokio::spawn(async move {
                    if let Err(e) = i.carry(&n, socket.into()).await {
                        tracing::warn!(inlet = %i.spec.name, "dropping client connection: {e}");
                    }
                });
            }
        });
        *inlet.task.lock().expect("task") = Some(handle);
        inlet.keep_linked(node);
        Ok(inlet)
    }

    /// An inlet without a listener, governed by policies of `resource_type`: a service in this
    /// process opens its streams with [`Inlet::open_local`] (the Kafka inlet, which listens
    /// itself and interprets what passes). `spec.from` is only shown in listings.
    pub async fn start_local(
        node: &PortalContext,
        spec: InletSpec,
        resource_type: &'static str,
    ) -> Result<Arc<Inlet>, InletError> {
        let inlet = Arc::new(Self::prepare(spec, resource_type)?);
        inlet.keep_linked(node);
        Ok(inlet)
    }

    /// Opens a stream to the outlet (waiting for the link as a client connection would) and
    /// returns this process's end of it.
    pub async fn open_local(&self, node: &PortalContext) -> Result<UnixStream, LinkError> {
        let (ours, theirs) = PortalSocket::pair().map_err(LinkError::LocalSocket)?;
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.carry(node, ours).await?;
        Ok(theirs)
    }

    /// Establishes the link eagerly, so the first client does not pay for the handshake, and
    /// again whenever it drops, so the status follows the truth.
    fn keep_linked(self: &Arc<Self>, node: &PortalContext) {
        let (n, i) = (node.clone(), Arc::downgrade(self));
        let keeper = tokio::spawn(async move { keep_linked(i, n).await });
        *self.keeper.lock().expect("keeper") = Some(keeper);
    }

    /// Checks the spec and builds the inlet (no listener, no tasks yet).
    fn prepare(spec: InletSpec, resource_type: &'static str) -> Result<Inlet, InletError> {
        let route: MultiAddr = spec.to.parse()?;
        if !route
            .segments
            .iter()
            .any(|s| matches!(s, airlock_wire::Segment::Secure(_)))
            && !route
                .segments
                .iter()
                .any(|s| matches!(s, airlock_wire::Segment::Service(a) if a.starts_with("sc.")))
            // `/project/P` is a secure channel to the project node.
            && !route
                .segments
                .iter()
                .any(|s| matches!(s, airlock_wire::Segment::Project(_)))
        {
            return Err(InvalidRoute(format!(
                "the inlet route {} has no secure channel; outlets are reachable only through one (add /secure/api before /service/…)",
                spec.to
            ))
            .into());
        }
        let trust = TrustPolicy::only_or_everyone(
            spec.authorized
                .iter()
                .map(|s| s.parse::<Identifier>())
                .collect::<Result<_, _>>()?,
        );
        Ok(Inlet {
            bound: spec.from,
            spec,
            resource_type,
            route,
            trust,
            current: tokio::sync::Mutex::new(None),
            snapshot: Mutex::new(None),
            overflow: Mutex::new(Vec::new()),
            last_error: Mutex::new(None),
            outcome: tokio::sync::watch::channel(Outcome::Pending).0,
            stats: Arc::new(LinkStats::default()),
            accepted: AtomicU64::new(0),
            task: Mutex::new(None),
            keeper: Mutex::new(None),
        })
    }

    /// Waits up to `wait` until the link is up (`Ok(true)`), an attempt failed permanently
    /// (the error, with the last attempt's reason; always [`FailureKind::Permanent`]), or the
    /// time passed (`Ok(false)`: the inlet keeps trying).
    pub async fn wait_first(&self, wait: Duration) -> Result<bool, LinkRefused> {
        let mut rx = self.outcome.subscribe();
        let settled = tokio::time::timeout(
            wait,
            rx.wait_for(|o| matches!(o, Outcome::Up | Outcome::Failed(FailureKind::Permanent))),
        )
        .await;
        let outcome = match settled {
            Ok(Ok(o)) => *o,
            _ => return Ok(false),
        };
        match outcome {
            Outcome::Up => Ok(true),
            _ => {
                let reason = self
                    .last_error
                    .lock()
                    .expect("err")
                    .as_ref()
                    .map(|(e, _)| e.clone())
                    .unwrap_or_else(|| "refused".into());
                Err(LinkRefused(reason))
            }
        }
    }

    /// The address the inlet listens on.
    pub fn bound(&self) -> SocketAddr {
        self.bound
    }

    /// The link the inlet established last (it may have closed since; see
    /// [`Link::close_reason`]).
    pub fn current_link(&self) -> Option<Arc<Link>> {
        self.snapshot.lock().expect("snap").clone()
    }

    /// The spec it was created with.
    pub fn spec(&self) -> &InletSpec {
        &self.spec
    }

    /// Returns the live link, establishing a new one if needed (retrying with back-off until
    /// [`LINK_WAIT`] passes; a permanent failure ends the attempt at once).
    pub async fn link(&self, node: &PortalContext) -> Result<Arc<Link>, LinkError> {
        let deadline = tokio::time::Instant::now() + LINK_WAIT;
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        loop {
            match self.link_once(node).await {
                Ok(link) => return Ok(link),
                Err(e) => {
                    let pause = backoff.next_delay();
                    if e.failure_kind().is_permanent()
                        || tokio::time::Instant::now() + pause > deadline
                    {
                        return Err(e);
                    }
                    tracing::debug!(inlet = %self.spec.name, "link not ready, retrying in {pause:?}: {}", failure::with_causes(&e));
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    /// Returns the live link, or makes one attempt to establish it, recording the outcome.
    async fn link_once(&self, node: &PortalContext) -> Result<Arc<Link>, LinkError> {
        let mut cur = self.current.lock().await;
        if let Some(c) = cur.as_ref() {
            if !c.link.is_closed() {
                return Ok(c.link.clone());
            }
        }
        if let Some(c) = cur.take() {
            c.close(node);
            self.overflow.lock().expect("overflow").clear();
        }
        match self.establish(node).await {
            Ok(c) => {
                let link = c.link.clone();
                *self.snapshot.lock().expect("snap") = Some(link.clone());
                *self.last_error.lock().expect("err") = None;
                *cur = Some(c);
                self.outcome.send_replace(Outcome::Up);
                tracing::info!(inlet = %self.spec.name, peer = %link.peer(), "inlet connected to its outlet");
                Ok(link)
            }
            Err(e) => {
                let kind = e.failure_kind();
                *self.last_error.lock().expect("err") = Some((failure::with_causes(&e), kind));
                self.outcome.send_replace(Outcome::Failed(kind));
                Err(e)
            }
        }
    }

    async fn establish(&self, node: &PortalContext) -> Result<Current, LinkError> {
        let resolved = resolve::resolve(
            node,
            &self.route,
            self.trust.clone(),
            Duration::from_secs(10),
        )
        .await?;
        let Some((channel, after)) = resolved.channel else {
            for ch in resolved.opened {
                ch.close(node, true);
            }
            return Err(InvalidRoute("the inlet route has no secure channel".into()).into());
        };
        if after.is_empty() {
            for ch in resolved.opened {
                ch.close(node, true);
            }
            return Err(InvalidRoute("the inlet route must name the outlet after the secure channel, e.g. …/secure/api/service/outlet".into()).into());
        }
        // This side's tcp-inlet policy judges the outlet node before any byte goes its way
        // (an open channel always has a peer; if not, refuse rather than skip the check).
        let verdict = match channel.peer().cloned() {
            Some(peer) => node.authorize(&self.spec.name, self.resource_type, &peer),
            None => Err("the channel to the outlet has no authenticated peer".to_string()),
        };
        if let Err(why) = verdict {
            for ch in resolved.opened {
                ch.close(node, true);
            }
            return Err(InletRefused(self.resource_type, why).into());
        }
        match Link::connect(
            node,
            channel.clone(),
            after.clone(),
            self.stats.clone(),
            Duration::from_secs(5),
        )
        .await
        {
            Ok(link) => Ok(Current {
                link,
                overflow: Vec::new(),
                channel,
                outlet_route: after,
                channels: resolved.opened,
            }),
            Err(e) => {
                // A refusal of a channel underneath (arriving after its initiator completed)
                // is the reason, not the link's "closed".
                let refused = resolved.opened.iter().find_map(|ch| match ch.status() {
                    crate::channel::ChannelStatus::Refused(r) => Some(r),
                    _ => None,
                });
                for ch in resolved.opened {
                    ch.close(node, true);
                }
                match refused {
                    Some(r) => Err(crate::channel::ChannelError::Refused(r).into()),
                    None => Err(e.into()),
                }
            }
        }
    }

    /// Status for listing.
    pub fn info(&self) -> InletInfo {
        let link = self
            .snapshot
            .lock()
            .expect("snap")
            .clone()
            .filter(|l| !l.is_closed());
        let last_error = self.last_error.lock().expect("err").clone();
        InletInfo {
            name: self.spec.name.clone(),
            from: self.bound.to_string(),
            to: self.spec.to.clone(),
            status: if link.is_some() {
                InletStatus::Up
            } else {
                InletStatus::Down
            },
            peer: link.as_ref().map(|l| l.peer().to_string()),
            connections: self.connections(),
            connections_total: self.accepted.load(Ordering::Relaxed),
            bytes_out: self.stats.bytes_out.load(Ordering::Relaxed),
            bytes_in: self.stats.bytes_in.load(Ordering::Relaxed),
            last_error: last_error.as_ref().map(|(e, _)| e.clone()),
            last_error_kind: last_error.map(|(_, k)| k),
        }
    }

    /// Closes the link if the outlet's node is no longer allowed (the background task tries to
    /// re-establish it, and is refused while the policy denies).
    pub fn recheck(&self, node: &PortalContext) {
        let link = self.snapshot.lock().expect("snap").clone();
        if let Some(l) = link.filter(|l| !l.is_closed()) {
            if let Some(peer) = l.channel_peer() {
                if let Err(why) = node.authorize(&self.spec.name, self.resource_type, &peer) {
                    tracing::warn!(inlet = %self.spec.name, "cutting portal link: {why}");
                    *self.last_error.lock().expect("err") = Some((
                        InletRefused(self.resource_type, why).to_string(),
                        FailureKind::Permanent,
                    ));
                    self.outcome
                        .send_replace(Outcome::Failed(FailureKind::Permanent));
                    l.close(node, true);
                }
            }
        }
    }

    /// Stops accepting new client connections (open ones go on); for a graceful drain.
    pub fn stop_accepting(&self) {
        if let Some(t) = self.task.lock().expect("task").take() {
            t.abort();
        }
    }

    /// Stops listening and reconnecting, and closes the link and its channels.
    pub async fn stop(&self, node: &PortalContext) {
        let task = self.task.lock().expect("task").take();
        if let Some(t) = task {
            t.abort();
            let _ = t.await;
        }
        let keeper = self.keeper.lock().expect("keeper").take();
        if let Some(t) = keeper {
            t.abort();
            let _ = t.await;
        }
        if let Some(c) = self.current.lock().await.take() {
            c.close(node);
        }
        self.overflow.lock().expect("overflow").clear();
    }
}

/// The background task of an inlet: establishes its link, waits for it to close, and again,
/// pausing [`RECONNECT_MIN`] doubling to [`RECONNECT_MAX`] after failures (reset by a success;
/// [`RECONNECT_MAX`] at once after a permanent one). Ends when the inlet is dropped.
async fn keep_linked(inlet: std::sync::Weak<Inlet>, node: PortalContext) {
    let mut backoff = Backoff::new(RECONNECT_MIN, RECONNECT_MAX);
    loop {
        let Some(i) = inlet.upgrade() else { return };
        let pause = match i.link_once(&node).await {
            Ok(link) => {
                backoff.reset();
                drop(i);
                link.closed().await;
                if let Some(i) = inlet.upgrade() {
                    tracing::info!(inlet = %i.spec.name, reason = link.close_reason().unwrap_or("?"), "inlet link dropped; re-establishing it");
                    // Not up any more: waiters and status see the link's reason until the
                    // next attempt ends.
                    i.outcome.send_replace(Outcome::Pending);
                }
                continue;
            }
            Err(e) => {
                let kind = e.failure_kind();
                let delay = backoff.next_delay();
                tracing::debug!(inlet = %i.spec.name, %kind, "inlet link attempt failed, next in {delay:?}: {}", failure::with_causes(&e));
                if kind.is_permanent() {
                    backoff.max()
                } else {
                    delay
                }
            }
        };
        drop(i);
        tokio::time::sleep(pause).await;
    }
}
