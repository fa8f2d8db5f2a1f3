//! The links of one inlet over its secure channel to the outlet.
//!
//! An outlet accepts at most [`MAX_STREAMS_PER_LINK`] streams on one link and
//! [`MAX_LINKS_PER_CHANNEL`] links on one channel. The inlet carries its connections on its
//! primary link; when that one is full it opens *overflow* links over the same channel, so one
//! inlet carries up to `MAX_LINKS_PER_CHANNEL × MAX_STREAMS_PER_LINK` concurrent connections
//! while each link keeps the outlet's per-link bounds. Overflow links live and die with the
//! primary one: when it closes, the channel is gone and the next attempt starts afresh.

use super::{Inlet, LinkError};
use crate::channel::SecureChannel;
use crate::portal::link::Link;
use crate::portal::socket::PortalSocket;
use crate::portal::PortalContext;
use airlock_portal::{MAX_LINKS_PER_CHANNEL, MAX_STREAMS_PER_LINK};
use airlock_wire::Route;
use std::sync::Arc;
use std::time::Duration;

/// How many times a connection tries another link when the one it was given filled up or
/// closed between choosing it and opening the stream.
const OPEN_ATTEMPTS: usize = 4;

/// The inlet's established links and the channels under them.
pub(super) struct Current {
    /// The first link over the channel; the inlet's status follows it.
    pub link: Arc<Link>,
    /// Further links over the same channel, opened while the others were full.
    pub overflow: Vec<Arc<Link>>,
    /// The channel to the outlet's node, shared by every link.
    pub channel: Arc<SecureChannel>,
    /// The route from the channel to the outlet.
    pub outlet_route: Route,
    /// Every channel the route opened (closed with the links).
    pub channels: Vec<Arc<SecureChannel>>,
}

impl Current {
    /// Closes every link and channel.
    pub fn close(self, node: &PortalContext) {
        for l in self.overflow.iter().chain(std::iter::once(&self.link)) {
            l.close(node, false);
        }
        for ch in self.channels {
            ch.close(node, true);
        }
    }
}

/// Every link of the inlet is full: the outlet would refuse another stream.
#[derive(Debug, thiserror::Error)]
#[error(
    "the inlet carries {0} connections on {MAX_LINKS_PER_CHANNEL} links, the most an outlet accepts from one channel ({MAX_STREAMS_PER_LINK} per link)"
)]
pub struct AllLinksFull(pub usize);

impl Inlet {
    /// Carries `socket` to the outlet as a new stream, on the first link with room (opening an
    /// overflow link if every one is full).
    pub(super) async fn carry(
        &self,
        node: &PortalContext,
        socket: PortalSocket,
    ) -> Result<(), LinkError> {
        let mut socket = socket;
        for _ in 0..OPEN_ATTEMPTS {
            let link = self.roomy_link(node).await?;
            match link.open_stream(node, socket) {
                Ok(()) => return Ok(()),
                Err(back) => socket = back,
            }
        }
        Err(AllLinksFull(self.connections()).into())
    }

    /// A live link with room for one more stream.
    async fn roomy_link(&self, node: &PortalContext) -> Result<Arc<Link>, LinkError> {
        let primary = self.link(node).await?;
        if !primary.is_full() {
            return Ok(primary);
        }
        let mut cur = self.current.lock().await;
        let Some(c) = cur.as_mut().filter(|c| Arc::ptr_eq(&c.link, &primary)) else {
            // Replaced meanwhile: the caller tries the new one.
            return Ok(primary);
        };
        c.overflow.retain(|l| !l.is_closed());
        if let Some(l) = c.overflow.iter().find(|l| !l.is_full()) {
            return Ok(l.clone());
        }
        if 1 + c.overflow.len() >= MAX_LINKS_PER_CHANNEL {
            return Err(AllLinksFull(self.connections()).into());
        }
        let link = Link::connect(
            node,
            c.channel.clone(),
            c.outlet_route.clone(),
            self.stats.clone(),
            Duration::from_secs(5),
        )
        .await?;
        tracing::info!(inlet = %self.spec.name, links = c.overflow.len() + 2, "inlet opened an overflow link: the others are full");
        c.overflow.push(link.clone());
        *self.overflow.lock().expect("overflow") = c.overflow.clone();
        Ok(link)
    }

    /// Connections open on every live link.
    pub(super) fn connections(&self) -> usize {
        let primary = self.snapshot.lock().expect("snap").clone();
        let overflow = self.overflow.lock().expect("overflow").clone();
        primary
            .iter()
            .chain(overflow.iter())
            .filter(|l| !l.is_closed())
            .map(|l| l.stream_count())
            .sum()
    }
}
