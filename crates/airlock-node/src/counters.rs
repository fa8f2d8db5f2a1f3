//! The node's counters (read by the metrics endpoint) as a cheap-to-clone handle, so workers can
//! count what they drop or refuse without holding the node: one `Arc`, bumped with relaxed
//! atomics, never a lock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Default)]
struct Totals {
    handshakes_ok: AtomicU64,
    handshakes_failed: AtomicU64,
    handshakes_refused: AtomicU64,
    refused_deliveries: AtomicU64,
    unsendable: AtomicU64,
    malformed_portal_frames: AtomicU64,
    draining: AtomicBool,
}

/// A handle on one node's counters. Clones share the same totals.
#[derive(Clone, Default)]
pub struct Counters(Arc<Totals>);

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

/// Adds one to `c`; true for the counts worth a log line (the first 20, then powers of two), so
/// a flood of drops cannot flood the log.
fn bump(c: &AtomicU64) -> (u64, bool) {
    let n = c.fetch_add(1, Ordering::Relaxed);
    (n + 1, n < 20 || n.is_power_of_two())
}

impl Counters {
    /// Counts a finished handshake.
    pub fn count_handshake(&self, outcome: HandshakeOutcome) {
        let c = &self.0;
        match outcome {
            HandshakeOutcome::Established => &c.handshakes_ok,
            HandshakeOutcome::Failed => &c.handshakes_failed,
            HandshakeOutcome::Refused => &c.handshakes_refused,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Handshake totals since the node started.
    pub fn handshakes(&self) -> HandshakeCounts {
        let c = &self.0;
        HandshakeCounts {
            established: c.handshakes_ok.load(Ordering::Relaxed),
            failed: c.handshakes_failed.load(Ordering::Relaxed),
            refused: c.handshakes_refused.load(Ordering::Relaxed),
        }
    }

    /// Counts (and logs, rate-limited) a message that flow control kept from `address`.
    pub fn count_refused_delivery(
        &self,
        address: &airlock_wire::Address,
        origin: &crate::flow_control::Origin,
        why: &crate::flow_control::Refusal,
    ) {
        let (n, log) = bump(&self.0.refused_deliveries);
        if log {
            tracing::warn!(%address, from = %origin.describe(), "flow control refused a message: {why} ({n} refused so far)");
        }
    }

    /// Messages that flow control refused.
    pub fn refused_deliveries(&self) -> u64 {
        self.0.refused_deliveries.load(Ordering::Relaxed)
    }

    /// Counts (and logs, rate-limited) a message this node would not send because its peer
    /// must refuse it (route over 16 hops, frame over the limit).
    pub fn count_unsendable(&self, via: &airlock_wire::Address, why: &dyn std::fmt::Display) {
        let (n, log) = bump(&self.0.unsendable);
        if log {
            tracing::warn!(%via, "dropped a message the peer would refuse: {why} ({n} dropped so far)");
        }
    }

    /// Messages dropped before sending because the peer would refuse them.
    pub fn unsendable(&self) -> u64 {
        self.0.unsendable.load(Ordering::Relaxed)
    }

    /// Counts (and logs, rate-limited) a message to a portal address that is no portal frame.
    pub fn count_malformed_portal_frame(
        &self,
        at: &dyn std::fmt::Display,
        why: &dyn std::fmt::Display,
    ) {
        let (n, log) = bump(&self.0.malformed_portal_frames);
        if log {
            tracing::warn!(%at, "malformed portal frame: {why} ({n} so far)");
        }
    }

    /// Messages to portal links and outlets that were not valid portal frames.
    pub fn malformed_portal_frames(&self) -> u64 {
        self.0.malformed_portal_frames.load(Ordering::Relaxed)
    }

    /// Marks the node as draining: outlets refuse new connections from now on.
    pub fn start_draining(&self) {
        self.0.draining.store(true, Ordering::Release);
    }

    /// True once the node started draining.
    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::Acquire)
    }
}
