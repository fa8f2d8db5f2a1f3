//! Turning a textual route into a route on this node: TCP hops are connected, `/secure/NAME`
//! segments open secure channels over the route so far.
//!
//! Resolving needs a [`ChannelContext`] (connect, open channels, look projects up): pass a
//! [`crate::Node`], a channel context or a portal context.

use crate::channel::{self, ChannelContext, SecureChannel};
use crate::config::ProjectRoute;
use crate::transport;
use airlock_channel::TrustPolicy;
use airlock_wire::{Address, MultiAddr, Route, Segment};
use std::sync::Arc;
use std::time::Duration;

/// A resolved route.
pub struct Resolved {
    /// The route to send to.
    pub route: Route,
    /// The innermost secure channel opened while resolving, with the route that follows it on
    /// the peer node.
    pub channel: Option<(Arc<SecureChannel>, Route)>,
    /// Channels opened while resolving (outermost first), to close together.
    pub opened: Vec<Arc<SecureChannel>>,
}

/// Resolution errors, phrased for users.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A TCP hop could not be connected.
    #[error("route unreachable: cannot connect to {target}")]
    Connect {
        /// host:port
        target: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A secure channel failed.
    #[error(transparent)]
    Channel(#[from] channel::ChannelError),
    /// Not resolvable on a node.
    #[error("{0}")]
    Unsupported(String),
}

/// Opens a secure channel to a project node that trusts only the project's identity.
pub async fn project_channel(
    ctx: &impl AsRef<ChannelContext>,
    project: &ProjectRoute,
    timeout: Duration,
) -> Result<Arc<SecureChannel>, ResolveError> {
    let ctx = ctx.as_ref();
    let mut to = Route::empty();
    for seg in &project.route.segments {
        let target = match seg {
            Segment::Ip4Tcp(ip, p) => format!("{ip}:{p}"),
            Segment::Ip6Tcp(ip, p) => format!("[{ip}]:{p}"),
            Segment::DnsTcp(h, p) => format!("{h}:{p}"),
            other => {
                return Err(ResolveError::Unsupported(format!(
                    "project route segment {other} is not a TCP address"
                )))
            }
        };
        let a = transport::connect(ctx, &target)
            .await
            .map_err(|source| ResolveError::Connect { target, source })?;
        to.push_back(a);
    }
    to.push_back(Address::new("api").expect("valid"));
    Ok(channel::create(
        ctx,
        to,
        TrustPolicy::Identifiers(vec![project.identifier]),
        timeout,
    )
    .await?)
}

/// Resolves `addr`. Secure channels trust `trust` (the last one) and everyone before it.
pub async fn resolve(
    ctx: &impl AsRef<ChannelContext>,
    addr: &MultiAddr,
    trust: TrustPolicy,
    timeout: Duration,
) -> Result<Resolved, ResolveError> {
    let ctx = ctx.as_ref();
    let mut route = Route::empty();
    let mut channel: Option<(Arc<SecureChannel>, Route)> = None;
    let mut opened = Vec::new();
    let last_secure = addr
        .segments
        .iter()
        .rposition(|s| matches!(s, Segment::Secure(_)));
    for (i, seg) in addr.segments.iter().enumerate() {
        let target = match seg {
            Segment::Ip4Tcp(ip, p) => Some(format!("{ip}:{p}")),
            Segment::Ip6Tcp(ip, p) => Some(format!("[{ip}]:{p}")),
            Segment::DnsTcp(h, p) => Some(format!("{h}:{p}")),
            _ => None,
        };
        if let Some(target) = target {
            let a = transport::connect(ctx, &target)
                .await
                .map_err(|source| ResolveError::Connect { target, source })?;
            route.push_back(a);
            continue;
        }
        match seg {
            Segment::Service(s) => {
                let a = Address::new(s.clone())
                    .map_err(|e| ResolveError::Unsupported(e.to_string()))?;
                route.push_back(a.clone());
                if let Some((_, after)) = channel.as_mut() {
                    after.push_back(a);
                }
            }
            Segment::Secure(listener) => {
                let mut to = route.clone();
                to.push_back(
                    Address::new(listener.clone())
                        .map_err(|e| ResolveError::Unsupported(e.to_string()))?,
                );
                let t = if Some(i) == last_secure {
                    trust.clone()
                } else {
                    TrustPolicy::Everyone
                };
                let ch = match channel::create(ctx, to, t, timeout).await {
                    Ok(ch) => ch,
                    Err(e) => {
                        let e = refusal_underneath(&opened, e);
                        for o in &opened {
                            o.close(ctx, true);
                        }
                        return Err(e.into());
                    }
                };
                route = Route::single(ch.address().clone());
                opened.push(ch.clone());
                channel = Some((ch, Route::empty()));
            }
            Segment::Node(n) => {
                return Err(ResolveError::Unsupported(format!(
                    "/node/{n} must be resolved by the CLI before it reaches a node"
                )))
            }
            Segment::Project(p) => {
                if i != 0 {
                    return Err(ResolveError::Unsupported(format!(
                        "/project/{p} must be the first segment of a route"
                    )));
                }
                let project = ctx.access().project(p).ok_or_else(|| {
                    ResolveError::Unsupported(format!(
                        "this node is not a member of project {p:?} (enroll with `airlock project enroll TICKET`)"
                    ))
                })?;
                let ch = project_channel(ctx, &project, timeout).await?;
                route = Route::single(ch.address().clone());
                opened.push(ch.clone());
                channel = Some((ch, Route::empty()));
            }
            _ => unreachable!("transport segments handled above"),
        }
    }
    // If the route starts with a local channel address (/service/sc.X.e), use that channel.
    if channel.is_none() {
        if let Some(first) = route.first() {
            if let Some(ch) = ctx.channel(first) {
                let mut after = route.clone();
                after.pop_front();
                channel = Some((ch, after));
            }
        }
    }
    Ok(Resolved {
        route,
        channel,
        opened,
    })
}

/// An initiator completes its handshake when it sends message 3, before the responder has
/// judged it: a refusal (a revoked member, say) arrives a moment later and closes the channel.
/// A channel opened over it in that moment fails only as "closed" or "timed out". Reports the
/// refusal underneath instead, so callers see why (and that retrying will not help).
pub fn refusal_underneath(
    opened: &[Arc<SecureChannel>],
    e: channel::ChannelError,
) -> channel::ChannelError {
    use channel::{ChannelError, ChannelStatus};
    if matches!(e, ChannelError::Refused(_)) {
        return e;
    }
    for o in opened {
        if let ChannelStatus::Refused(r) = o.status() {
            return ChannelError::Refused(format!(
                "the secure channel underneath was refused: {r}"
            ));
        }
    }
    e
}
