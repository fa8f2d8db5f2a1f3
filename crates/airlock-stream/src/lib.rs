//! Airlock streams, the sans-IO part: what a stream mailbox service and its clients say to each
//! other, and how a routed message is stored in a stream.
//!
//! A **stream** is a named, append-only, durable mailbox on a hub node (backed by one Kafka
//! topic there). Clients talk to two services of the hub through a secure channel:
//! * `stream_kafka`: [`Request::Create`], [`Request::Push`], [`Request::Pull`];
//! * `stream_kafka_index`: [`Request::IndexGet`], [`Request::IndexSave`] — where a client has
//!   read up to, kept durably so a client that restarts resumes there.
//!
//! A pair of streams carries routed messages between two nodes that never connect to each
//! other: each message is stored as a [`StoredMessage`] (its onward and return routes and its
//! payload) — in practice the messages of an end-to-end secure channel, so the hub and Kafka see
//! ciphertext and routes only.
//!
//! Everything here decodes hostile input into a clear error and never panics
//! (docs/protocol.md §12 has the byte layouts and test vectors).

#![warn(missing_docs)]

pub mod names;
pub mod protocol;
pub mod stored;

pub use names::{check_client_id, check_stream_name, NameError};
pub use protocol::{ErrorCode, Request, Response};
pub use stored::StoredMessage;

#[cfg(test)]
mod tests;
