//! Streams: durable mailboxes on a hub node, backed by Kafka, and the links that carry a node's
//! routed messages through them (docs/protocol.md §12; wire format in `airlock-stream`).
//!
//! * [`hub`] — the hub's services `stream_kafka` and `stream_kafka_index`, over [`store`]
//!   (Kafka through `rskafka`), [`admin`] (the compacted index topic) or [`memory`] (tests);
//! * [`client`] — [`HubClient`]: a secure channel to a hub and requests over it;
//! * [`link`] — [`StreamLink`]: a pair of streams used like a TCP connection, so a secure
//!   channel runs through Kafka to a node that never accepts a connection.
//!
//! ```no_run
//! # async fn demo(node: &airlock_node::Node) -> Result<(), Box<dyn std::error::Error>> {
//! use airlock_channel::TrustPolicy;
//! use airlock_node::stream::{HubClient, LinkSpec, Start, StreamLink};
//! use airlock_wire::{Address, Route};
//! use std::time::Duration;
//!
//! // Bob made two streams on the hub and listens for secure channels through them.
//! let hub = HubClient::new(node, "127.0.0.1:4000", TrustPolicy::Everyone);
//! let link = StreamLink::open(node, hub, LinkSpec {
//!     sending: "bob.in".into(),     // Bob reads this one
//!     receiving: "bob.out".into(),  // and answers here
//!     client_id: "alice".into(),
//!     start: Start::End,
//! })
//! .await?;
//! let to_bob = Route::new(vec![link.address().clone(), Address::new("api")?]);
//! let channel = airlock_node::channel::create(node, to_bob, TrustPolicy::Everyone, Duration::from_secs(30)).await?;
//! # let _ = channel; Ok(()) }
//! ```

pub mod admin;
pub mod client;
pub mod hub;
pub mod link;
pub mod memory;
pub mod store;
#[cfg(test)]
mod tests;

pub use client::{HubClient, HubError};
pub use hub::{Hub, Store, INDEX_SERVICE, STREAM_SERVICE};
pub use link::{LinkSpec, LinkStats, Start, StreamLink};
pub use store::KafkaSettings;
