//! Operations support: counters for metrics, the credential expiry a node presents, and a
//! graceful drain before shutdown (inlets stop accepting, outlets refuse new connections,
//! open connections get a grace period).

use super::Node;
use airlock_identity::Identifier;
use std::time::Duration;

pub use crate::counters::{HandshakeCounts, HandshakeOutcome};

impl Node {
    /// Counts a finished handshake.
    pub fn count_handshake(&self, outcome: HandshakeOutcome) {
        self.inner.counters.count_handshake(outcome);
    }

    /// Messages that flow control refused since the node started (no address accepted their
    /// origin).
    pub fn refused_deliveries(&self) -> u64 {
        self.inner.counters.refused_deliveries()
    }

    /// Messages to portal links and outlets that were not valid portal frames.
    pub fn malformed_portal_frames(&self) -> u64 {
        self.inner.counters.malformed_portal_frames()
    }

    /// Messages dropped before sending because the peer would refuse them.
    pub fn unsendable_messages(&self) -> u64 {
        self.inner.counters.unsendable()
    }

    /// Handshake totals since the node started.
    pub fn handshake_counts(&self) -> HandshakeCounts {
        self.inner.counters.handshakes()
    }

    /// The credentials this node presents: (issuer, expiry in Unix seconds).
    pub fn credential_expiries(&self) -> Vec<(Identifier, u64)> {
        self.inner
            .access
            .credentials()
            .iter()
            .filter_map(|c| airlock_credential::Credential::decode(c).ok())
            .map(|c| (c.issuer, c.expires_at))
            .collect()
    }

    /// True once [`Node::drain`] started: outlets refuse new connections.
    pub fn is_draining(&self) -> bool {
        self.inner.counters.is_draining()
    }

    /// Open portal connections (inlet and outlet sides).
    pub fn open_connections(&self) -> usize {
        self.inlets().iter().map(|i| i.connections).sum::<usize>()
            + self.outlets().iter().map(|o| o.connections).sum::<usize>()
    }

    /// Stops taking new portal connections and waits up to `grace` for the open ones to end.
    /// Returns how many were still open when it gave up (they are cut by [`Node::shutdown`]).
    pub async fn drain(&self, grace: Duration) -> usize {
        self.inner.counters.start_draining();
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
