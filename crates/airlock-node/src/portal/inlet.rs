//! TCP inlet: listens locally and carries each accepted connection to an outlet.
//!
//! The inlet owns one link (and its secure channel) at a time. It is created lazily and
//! re-created after it drops — when the outlet node restarts, say — so the inlet keeps listening
//! through outages and new client connections work again as soon as the outlet is back.

use super::link::{Link, LinkStats};
use crate::channel::SecureChannel;
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
use tokio::net::TcpListener;

/// How long `create` waits for the first link before returning (the inlet keeps trying).
pub const INITIAL_WAIT: Duration = Duration::from_secs(3);
/// How long a new client connection waits for the link to (re-)establish.
pub const LINK_WAIT: Duration = Duration::from_secs(15);

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
    pub status: String,
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
    /// Last error establishing the link.
    pub last_error: Option<String>,
}

struct Current {
    link: Arc<Link>,
    channels: Vec<Arc<SecureChannel>>,
}

/// A running inlet.
pub struct Inlet {
    spec: InletSpec,
    bound: SocketAddr,
    route: MultiAddr,
    trust: TrustPolicy,
    current: tokio::sync::Mutex<Option<Current>>,
    snapshot: Mutex<Option<Arc<Link>>>,
    last_error: Mutex<Option<String>>,
    stats: Arc<LinkStats>,
    accepted: AtomicU64,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Inlet {
    /// Binds the listener and starts accepting. Tries to establish the link right away but
    /// does not fail if the outlet is not reachable yet.
    pub async fn start(node: &PortalContext, spec: InletSpec) -> anyhow::Result<Arc<Inlet>> {
        let route: MultiAddr = spec.to.parse()?;
        if !route
            .segments
            .iter()
            .any(|s| matches!(s, airlock_wire::Segment::Secure(_)))
            && !route
                .segments
                .iter()
                .any(|s| matches!(s, airlock_wire::Segment::Service(a) if a.starts_with("sc.")))
        {
            anyhow::bail!(
                "the inlet route {} has no secure channel; outlets are reachable only through one (add /secure/api before /service/…)",
                spec.to
            );
        }
        let trust = TrustPolicy::only_or_everyone(
            spec.authorized
                .iter()
                .map(|s| s.parse::<Identifier>())
                .collect::<Result<_, _>>()?,
        );
        let listener = TcpListener::bind(spec.from).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                anyhow::anyhow!(
                    "cannot listen on {}: the port is already in use (pick another with --from)",
                    spec.from
                )
            } else {
                anyhow::anyhow!("cannot listen on {}: {e}", spec.from)
            }
        })?;
        let bound = listener.local_addr()?;
        let inlet = Arc::new(Inlet {
            spec,
            bound,
            route,
            trust,
            current: tokio::sync::Mutex::new(None),
            snapshot: Mutex::new(None),
            last_error: Mutex::new(None),
            stats: Arc::new(LinkStats::default()),
            accepted: AtomicU64::new(0),
            task: Mutex::new(None),
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
                    match i.link(&n).await {
                        Ok(link) => link.open_stream(&n, socket),
                        Err(e) => {
                            tracing::warn!(inlet = %i.spec.name, "dropping client connection: {e}");
                        }
                    }
                });
            }
        });
        *inlet.task.lock().expect("task") = Some(handle);
        // Establish eagerly so the first client does not pay for the handshake; wait a little
        // for it so the caller sees a meaningful status.
        let (n, i) = (node.clone(), inlet.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let _ = tx.send(i.link(&n).await.is_ok());
        });
        let _ = tokio::time::timeout(INITIAL_WAIT, rx).await;
        Ok(inlet)
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
    /// [`LINK_WAIT`] passes).
    pub async fn link(&self, node: &PortalContext) -> anyhow::Result<Arc<Link>> {
        let mut cur = self.current.lock().await;
        if let Some(c) = cur.as_ref() {
            if !c.link.is_closed() {
                return Ok(c.link.clone());
            }
            for ch in &c.channels {
                ch.close(node, true);
            }
            *cur = None;
        }
        let deadline = tokio::time::Instant::now() + LINK_WAIT;
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.establish(node).await {
                Ok(c) => {
                    let link = c.link.clone();
                    *self.snapshot.lock().expect("snap") = Some(link.clone());
                    *self.last_error.lock().expect("err") = None;
                    *cur = Some(c);
                    tracing::info!(inlet = %self.spec.name, peer = %link.peer(), "inlet connected to its outlet");
                    return Ok(link);
                }
                Err(e) => {
                    *self.last_error.lock().expect("err") = Some(format!("{e:#}"));
                    // Refusals that retrying cannot fix right away: policy, trust, revocation.
                    let refused = is_refusal(&e);
                    if refused || tokio::time::Instant::now() + backoff > deadline {
                        return Err(e);
                    }
                    tracing::debug!(inlet = %self.spec.name, "link not ready, retrying in {backoff:?}: {e:#}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    async fn establish(&self, node: &PortalContext) -> anyhow::Result<Current> {
        let resolved = resolve::resolve(
            node,
            &self.route,
            self.trust.clone(),
            Duration::from_secs(10),
        )
        .await?;
        let Some((channel, after)) = resolved.channel else {
            anyhow::bail!("the inlet route has no secure channel");
        };
        if after.is_empty() {
            anyhow::bail!("the inlet route must name the outlet after the secure channel, e.g. …/secure/api/service/outlet");
        }
        // This side's tcp-inlet policy judges the outlet node before any byte goes its way
        // (an open channel always has a peer; if not, refuse rather than skip the check).
        let verdict = match channel.peer().cloned() {
            Some(peer) => node.authorize(&self.spec.name, "tcp-inlet", &peer),
            None => Err("the channel to the outlet has no authenticated peer".to_string()),
        };
        if let Err(why) = verdict {
            for ch in resolved.opened {
                ch.close(node, true);
            }
            return Err(anyhow::Error::new(InletRefused(why)));
        }
        match Link::connect(
            node,
            channel,
            after,
            self.stats.clone(),
            Duration::from_secs(5),
        )
        .await
        {
            Ok(link) => Ok(Current {
                link,
                channels: resolved.opened,
            }),
            Err(e) => {
                for ch in resolved.opened {
                    ch.close(node, true);
                }
                Err(e)
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
        InletInfo {
            name: self.spec.name.clone(),
            from: self.bound.to_string(),
            to: self.spec.to.clone(),
            status: if link.is_some() { "up" } else { "down" }.into(),
            peer: link.as_ref().map(|l| l.peer().to_string()),
            connections: link.as_ref().map(|l| l.stream_count()).unwrap_or(0),
            connections_total: self.accepted.load(Ordering::Relaxed),
            bytes_out: self.stats.bytes_out.load(Ordering::Relaxed),
            bytes_in: self.stats.bytes_in.load(Ordering::Relaxed),
            last_error: self.last_error.lock().expect("err").clone(),
        }
    }

    /// Closes the link if the outlet's node is no longer allowed (the next client connection
    /// re-establishes it, and is refused while the policy denies).
    pub fn recheck(&self, node: &PortalContext) {
        let link = self.snapshot.lock().expect("snap").clone();
        if let Some(l) = link.filter(|l| !l.is_closed()) {
            if let Some(peer) = l.channel_peer() {
                if let Err(why) = node.authorize(&self.spec.name, "tcp-inlet", &peer) {
                    tracing::warn!(inlet = %self.spec.name, "cutting portal link: {why}");
                    *self.last_error.lock().expect("err") = Some(why);
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

    /// Stops listening and closes the link and its channels.
    pub async fn stop(&self, node: &PortalContext) {
        let task = self.task.lock().expect("task").take();
        if let Some(t) = task {
            t.abort();
            let _ = t.await;
        }
        if let Some(c) = self.current.lock().await.take() {
            c.link.close(node, false);
            for ch in c.channels {
                ch.close(node, true);
            }
        }
    }
}

/// This inlet's own `tcp-inlet` policy denies the outlet node it reached.
#[derive(Debug, thiserror::Error)]
#[error("this inlet's tcp-inlet policy denies the outlet node: {0}")]
pub struct InletRefused(pub String);

/// True for errors no immediate retry can fix: a policy refusal by either side, a trust policy
/// rejecting the peer, a revoked member (typed, never matched on message text).
fn is_refusal(e: &anyhow::Error) -> bool {
    use crate::channel::ChannelError;
    use crate::resolve::ResolveError;
    e.downcast_ref::<super::link::Refused>().is_some()
        || e.downcast_ref::<super::link::Aborted>()
            .is_some_and(|a| a.0.code == airlock_channel::AbortCode::Refused)
        || e.downcast_ref::<InletRefused>().is_some()
        || matches!(
            e.downcast_ref::<ChannelError>(),
            Some(ChannelError::Refused(_))
        )
        || matches!(
            e.downcast_ref::<ResolveError>(),
            Some(ResolveError::Channel(ChannelError::Refused(_)))
        )
}
