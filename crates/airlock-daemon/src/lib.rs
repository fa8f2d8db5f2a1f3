//! The airlock node process and what it runs from.
//!
//! `airlock node run NAME` (a background node) and `airlock node create --foreground` call
//! [`run_node`]: it starts the node runtime, joins or hosts the node's projects, recreates its
//! recorded resources (policies first, failing closed; portals; relays), serves the control
//! socket and the optional metrics/health endpoint, and stops gracefully on SIGTERM, Ctrl-C or
//! a `stop` request.
//!
//! - [`home`]: the machine's home (`$AIRLOCK_HOME`: identities, nodes, settings and memberships
//!   in one SQLite database, and a folder per node), shared by the node process and the CLI that records what nodes should run.
//! - [`control`]: the control API between a running node and its clients: the typed
//!   [`control::protocol`] and the [`control::ControlClient`]; the server is internal.
//! - [`projects`]: how recorded project memberships become routes and trusted authorities.
//! - [`routes`]: user-facing route and duration syntax (`/node/NAME`, `HOST:PORT`, `10m`).
//!
//! Nothing here prints command output: the CLI (`airlock-cli`) parses arguments, records
//! resources, starts this code in a child process and talks to it over the control socket.
#![warn(missing_docs)]

pub mod control;
mod control_server;
pub mod home;
mod metrics;
pub mod projects;
mod relays;
mod restore;
pub mod routes;
mod run;
mod views;

pub use run::{run_node, LogFormat, Ready, RunError, RunOptions, READY_LINE};
