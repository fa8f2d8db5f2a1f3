//! Operations support: counters for metrics, the credential expiry a node presents, and a
//! graceful drain before shutdown (inlets stop accepting, outlets refuse new connections,
//! open connections get a grace period).

use super::Node;
use airlock_identity::Identifier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Counters kept by a node (read by the metrics endpoint).
#[derive(Default)]
pub struct NodeCounters {
    handshakes_ok: AtomicU64,
    handshakes_failed: AtomicU64,
    handshakes_refused: AtomicU64,
    refused_deliveries: AtomicU64,
    unsendable: AtomicU64,
    malformed_portal_frames: AtomicU64,
    draining: AtomicBool,
}

/// How a secure-channel handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeOutcome {
    /// Keys established.
    Established,
    /// Failed (timeout, malformed message, unreachable).
    Failed,
    /// Refused by a trust policy or because the peer is revoked.
    Refused,
}

/// Handshake totals by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandshakeCounts {
    /// Established.
    pub established: u64,
    /// Failed.
    pub failed: u64,
    /// Refused.
    pub refused: u64,
}

impl Node {
    /// Counts a finished handshake.
    pub fn count_handshake(&self, outcome: HandshakeOutcome) {
        let c = &self.inner.counters;
        match outcome {
            HandshakeOutcome::Established => &c.handshakes_ok,
            HandshakeOutcome::Failed => &c.handshakes_failed,
            HandshakeOutcome::Refused => &c.handshakes_refused,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts (and logs, rate-limited) a message that flow control kept from `address`.
    pub(crate) fn count_refused_delivery(
        &self,
        address: &airlock_wire::Address,
        origin: &crate::flow_control::Origin,
        why: &crate::flow_control::Refusal,
    ) {
        let n = self
            .inner
            .counters
            .refused_deliveries
            .fetch_add(1, Ordering::Relaxed);
        if n < 20 || n.is_power_of_two() {
            tracing::warn!(%address, from = %origin.describe(), "flow control refused a message: {why} ({} refused so far)", n + 1);
        }
    }

    /// Messages that flow control refused since the node started (no address accepted their
    /// origin).
    pub fn refused_deliveries(&self) -> u64 {
        self.inner
            .counters
            .refused_deliveries
            .load(Ordering::Relaxed)
    }

    /// Counts (and logs, rate-limited) a message this node would not send because its peer
    /// must refuse it (route over 16 hops, frame over the limit).
    pub(crate) fn count_unsendable(
        &self,
        via: &airlock_wire::Address,
        why: &dyn std::fmt::Display,
    ) {
        let n = self
            .inner
            .counters
            .unsendable
            .fetch_add(1, Ordering::Relaxed);
        if n < 20 || n.is_power_of_two() {
            tracing::warn!(%via, "dropped a message the peer would refuse: {why} ({} dropped so far)", n + 1);
        }
    }

    /// Counts (and logs, rate-limited) a message to a portal address that is no portal frame.
    pub(crate) fn count_malformed_portal_frame(
        &self,
        at: &dyn std::fmt::Display,
        why: &dyn std::fmt::Display,
    ) {
        let n = self
            .inner
            .counters
            .malformed_portal_frames
            .fetch_add(1, Ordering::Relaxed);
        if n < 20 || n.is_power_of_two() {
            tracing::warn!(%at, "malformed portal frame: {why} ({} so far)", n + 1);
        }
    }

    /// Messages to portal links and outlets that were not valid portal frames.
    pub fn malformed_portal_frames(&self) -> u64 {
        self.inner
            .counters
            .malformed_portal_frames
            .load(Ordering::Relaxed)
    }

    /// Messages dropped before sending because the peer would refuse them.
    pub fn unsendable_messages(&self) -> u64 {
        self.inner.counters.unsendable.load(Ordering::Relaxed)
    }

    /// Handshake totals since the node started.
    pub fn handshake_counts(&self) -> HandshakeCounts {
        let c = &self.inner.counters;
        HandshakeCounts {
            established: c.handshakes_ok.load(Ordering::Relaxed),
            failed: c.handshakes_failed.load(Ordering::Relaxed),
            refused: c.handshakes_refused.load(Ordering::Relaxed),
        }
    }

    /// The credentials this node presents: (issuer, expiry in Unix seconds).
    pub fn credential_expiries(&self) -> Vec<(Identifier, u64)> {
        self.inner
            .access
            .credentials()
            .iter()
            .filter_map(|c| airlock_authority::Credential::decode(c).ok())
            .map(|c| (c.issuer, c.expires_at))
            .collect()
    }

    /// True once [`Node::drain`] started: outlets refuse new connections.
    pub fn is_draining(&self) -> bool {
        self.inner.counters.draining.load(Ordering::Acquire)
    }

    /// Open portal connections (inlet and outlet sides).
    pub fn open_connections(&self) -> usize {
        self.inlets().iter().map(|i| i.connections).sum::<usize>()
            + self.outlets().iter().map(|o| o.connections).sum::<usize>()
    }

    /// Stops taking new portal connections and waits up to `grace` for the open ones to end.
    /// Returns how many were still open when it gave up (they are cut by [`Node::shutdown`]).
    pub async fn drain(&self, grace: Duration) -> usize {
        self.inner.counters.draining.store(true, Ordering::Release);
        self.inner.portals.stop_accepting();
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let open = self.open_connections();
            if open == 0 || tokio::time::Instant::now() >= deadline {
                return open;
            }
            // Connections end on their own schedule (clients closing); check a few times a
            // second, bounded by the grace period.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
