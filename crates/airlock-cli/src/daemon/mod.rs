//! The node process: what `airlock node run NAME` (a background node) and
//! `airlock node create --foreground` run. It starts the node runtime, joins or hosts the
//! node's projects, recreates its recorded resources, serves the control socket and the
//! optional metrics/health endpoint, and stops gracefully.
//!
//! Nothing here prints command output or knows about the commands: the CLI starts this code in
//! a child process (`crate::operations::process`) and talks to it over the control socket
//! (`crate::control`). It depends only on the local state, the control protocol and the
//! route helpers, so that it can become a crate of its own once the state store is one.

mod control_server;
mod memory;
pub mod metrics;
pub mod projects;
mod relays;
mod restore;
mod run;
mod views;

pub use run::{run_node, LogFormat, RunOptions, READY_LINE};
