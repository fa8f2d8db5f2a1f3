//! TCP outlet: the service side of a portal.
//!
//! An outlet is a worker at a service address (default `outlet`). It only accepts `Hello` frames
//! that came out of a secure channel — a message that arrived over a bare TCP connection has no
//! channel peer and is refused — and answers each with a new link whose streams connect to the
//! target.

use super::link::{Link, LinkStats};
use super::target::OutletTarget;
use super::PortalContext;
use crate::message::Message;
use crate::router::{Deliver, Endpoint};
use airlock_portal::PortalFrame;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What an outlet is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutletSpec {
    /// Service address (`outlet` by default).
    pub name: String,
    /// Target `host:port`.
    pub to: String,
}

/// Outlet status for listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutletInfo {
    /// Service address.
    pub name: String,
    /// Route suffix to use in inlets: `/service/NAME`.
    pub address: String,
    /// Target.
    pub to: String,
    /// Links from inlets currently open.
    pub links: usize,
    /// Streams (client connections) open now.
    pub connections: usize,
    /// Bytes from inlets to the target.
    pub bytes_in: u64,
    /// Bytes from the target to inlets.
    pub bytes_out: u64,
    /// Messages refused because they did not come through a secure channel.
    pub refused: u64,
}

/// A running outlet.
pub struct Outlet {
    spec: OutletSpec,
    target: OutletTarget,
    resource_type: &'static str,
    links: Mutex<Vec<Arc<Link>>>,
    stats: Arc<LinkStats>,
    refused: AtomicU64,
    /// Set (under the `links` lock) when the outlet is deleted: no more links.
    stopped: AtomicBool,
}

impl Outlet {
    /// Creates an outlet to the TCP target of `spec` (not yet registered), governed by
    /// `tcp-outlet` policies.
    pub fn new(spec: OutletSpec) -> Arc<Self> {
        let target = OutletTarget::Tcp(spec.to.clone());
        Self::with_target(spec, target, "tcp-outlet")
    }

    /// Creates an outlet whose streams go to `target`, governed by policies of
    /// `resource_type` (not yet registered).
    pub fn with_target(
        spec: OutletSpec,
        target: OutletTarget,
        resource_type: &'static str,
    ) -> Arc<Self> {
        Arc::new(Outlet {
            spec,
            target,
            resource_type,
            links: Mutex::new(Vec::new()),
            stats: Arc::new(LinkStats::default()),
            refused: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        })
    }

    /// The spec.
    pub fn spec(&self) -> &OutletSpec {
        &self.spec
    }

    /// Status.
    pub fn info(&self) -> OutletInfo {
        let mut links = self.links.lock().expect("links");
        links.retain(|l| !l.is_closed());
        OutletInfo {
            name: self.spec.name.clone(),
            address: format!("/service/{}", self.spec.name),
            to: self.spec.to.clone(),
            links: links.len(),
            connections: links.iter().map(|l| l.stream_count()).sum(),
            bytes_in: self.stats.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.stats.bytes_out.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    /// Closes links whose peer is no longer allowed.
    pub fn recheck(&self, ctx: &PortalContext) {
        let links: Vec<Arc<Link>> = self.links.lock().expect("links").clone();
        for l in links {
            if let Some(peer) = l.channel_peer() {
                if let Err(why) = ctx.authorize(&self.spec.name, self.resource_type, &peer) {
                    tracing::warn!(outlet = %self.spec.name, "cutting portal link: {why}");
                    l.close(ctx, false);
                }
            }
        }
        self.links.lock().expect("links").retain(|l| !l.is_closed());
    }

    /// Refuses a link asked for by a Hello that arrived with return route `ret`: counts it and
    /// tells the inlet (`Reset` on stream 0 = the link), so its clients fail fast.
    fn refuse_link(
        &self,
        ctx: &PortalContext,
        channel: &crate::channel::SecureChannel,
        ret: &airlock_wire::Route,
        why: &str,
    ) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(outlet = %self.spec.name, "portal link refused: {why}");
        let mut back = ret.clone();
        back.pop_front(); // the channel's own address
        let _ = channel.send(
            ctx,
            &back,
            &airlock_wire::Route::empty(),
            PortalFrame::Reset {
                stream: 0,
                reason: airlock_portal::ResetReason::Refused,
            }
            .encode(),
        );
    }

    /// Closes every link; links asked for later are refused.
    pub fn stop(&self, ctx: &PortalContext) {
        let links: Vec<Arc<Link>> = {
            let mut links = self.links.lock().expect("links");
            self.stopped.store(true, Ordering::Release);
            links.drain(..).collect()
        };
        for l in links {
            l.close(ctx, false);
        }
    }
}

/// The worker registered at the outlet's address.
pub struct OutletWorker {
    /// The outlet.
    pub outlet: Arc<Outlet>,
    /// What its links work with.
    pub ctx: PortalContext,
}

impl Endpoint for OutletWorker {
    fn handle(&self, _: &Deliver, msg: Message) {
        let (outlet, ctx) = (&self.outlet, &self.ctx);
        let Some(peer) = msg.peer().cloned() else {
            let n = outlet.refused.fetch_add(1, Ordering::Relaxed);
            if n < 10 {
                tracing::warn!(outlet = %outlet.spec.name, "refused a message that did not come through a secure channel");
            }
            return;
        };
        let Some(channel) = ctx.channel(&peer.channel) else {
            return;
        };
        match PortalFrame::decode(msg.payload) {
            Ok(PortalFrame::Hello { window }) => {
                if let Err(why) = ctx.authorize(&outlet.spec.name, outlet.resource_type, &peer) {
                    outlet.refuse_link(ctx, &channel, &msg.ret, &why);
                    return;
                }
                let held = {
                    let mut links = outlet.links.lock().expect("links");
                    links.retain(|l| !l.is_closed());
                    links
                        .iter()
                        .filter(|l| l.channel_address() == &peer.channel)
                        .count()
                };
                if held >= airlock_portal::MAX_LINKS_PER_CHANNEL {
                    let why = format!(
                        "the channel of {} holds {held} links already",
                        peer.identifier
                    );
                    outlet.refuse_link(ctx, &channel, &msg.ret, &why);
                    return;
                }
                if let Some(link) = Link::accept(
                    ctx,
                    channel,
                    msg.ret,
                    window,
                    outlet.target.clone(),
                    (outlet.spec.name.clone(), outlet.resource_type),
                    outlet.stats.clone(),
                ) {
                    // Record the link before the inlet learns of it: a deletion of the outlet
                    // then either sees it (and closes it) or happened first (and we close it).
                    {
                        let mut links = outlet.links.lock().expect("links");
                        if outlet.stopped.load(Ordering::Acquire) {
                            drop(links);
                            link.close(ctx, false);
                            return;
                        }
                        links.retain(|l| !l.is_closed());
                        links.push(link.clone());
                    }
                    tracing::info!(outlet = %outlet.spec.name, peer = %peer.identifier, "portal link accepted");
                    link.answer_hello(ctx);
                }
            }
            Ok(other) => {
                tracing::debug!(outlet = %outlet.spec.name, "ignoring {other:?} sent to the outlet address")
            }
            Err(e) => ctx
                .counters()
                .count_malformed_portal_frame(&outlet.spec.name, &e),
        }
    }
}
