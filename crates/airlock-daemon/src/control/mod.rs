//! The local control API between the CLI and a running node. The protocol's types are in
//! [`protocol`], shared by both sides; [`ControlClient`] is a client's connection; the node's
//! side is the crate's (private) control server.
//!
//! A Unix socket `nodes/<name>/control.sock` inside the `0700` home folder, itself `0600` from
//! the moment it exists (created under umask `077`): only the owning user can drive the node.
//! One JSON request per line, one JSON response per line: `{"ok":true,"result":…}` or
//! `{"ok":false,"error":"…"}` (see [`protocol`]). After a `stop` request the node keeps the
//! connection open until it has shut down, so the caller can wait for the process to end by
//! waiting for EOF.

mod client;
pub mod protocol;

pub use client::{ControlClient, ControlError};
