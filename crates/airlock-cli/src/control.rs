//! The local control API between the CLI and a running node; the node's side is
//! `crate::daemon::control_server`.
//!
//! A Unix socket `nodes/<name>/control.sock` inside the `0700` state folder, itself `0600` from
//! the moment it exists (created under umask `077`, see `control_server::bind_private`): only the owning user
//! can drive the node. One JSON request per line, one JSON response per line:
//! `{"ok":true,"result":…}` or `{"ok":false,"error":"…"}`. After a `stop` request the node
//! keeps the connection open until it has shut down, so the caller can wait for the process to
//! end by waiting for EOF.

use airlock_node::portal::{InletSpec, OutletSpec};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

/// A control request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Node status.
    Status,
    /// Graceful stop.
    Stop,
    /// Create an outlet.
    OutletCreate {
        /// What to create.
        spec: OutletSpec,
    },
    /// List outlets.
    OutletList,
    /// Delete an outlet.
    OutletDelete {
        /// Name.
        name: String,
    },
    /// Create an inlet.
    InletCreate {
        /// What to create.
        spec: InletSpec,
    },
    /// List inlets.
    InletList,
    /// Delete an inlet.
    InletDelete {
        /// Name.
        name: String,
    },
    /// Open a secure channel.
    ChannelCreate {
        /// Route to the listener, e.g. `/ip4/127.0.0.1/tcp/4000/service/api`.
        to: String,
        /// Acceptable peer identifiers (empty = any).
        authorized: Vec<String>,
        /// Handshake timeout.
        timeout_ms: u64,
    },
    /// List channels.
    ChannelList,
    /// Close a channel.
    ChannelDelete {
        /// Encrypting address.
        address: String,
    },
    /// Set a policy.
    PolicyCreate {
        /// Resource name.
        resource: Option<String>,
        /// Resource type.
        resource_type: Option<String>,
        /// S-expression.
        expression: String,
    },
    /// List policies.
    PolicyList,
    /// Delete a policy.
    PolicyDelete {
        /// Resource name.
        resource: Option<String>,
        /// Resource type.
        resource_type: Option<String>,
    },
    /// Create (and keep registered) a relay.
    RelayCreate {
        /// Relay name.
        name: String,
        /// Where to register it: `/project/P` or a route to a node.
        at: String,
        /// Identities accepted at the relay host (empty: any).
        #[serde(default)]
        authorized: Vec<String>,
    },
    /// List relays.
    RelayList,
    /// Delete a relay.
    RelayDelete {
        /// Relay name.
        name: String,
    },
    /// Send a message and wait for one reply.
    MessageSend {
        /// Route.
        to: String,
        /// Payload (UTF-8).
        payload: String,
        /// Reply timeout.
        timeout_ms: u64,
        /// Acceptable identifiers for the last secure channel in the route.
        authorized: Vec<String>,
    },
}

/// A connection to a node's control socket.
pub struct ControlClient {
    reader: BufReader<std::os::unix::net::UnixStream>,
    writer: std::os::unix::net::UnixStream,
    node: String,
}

impl ControlClient {
    /// Connects to the node's socket.
    pub fn connect(socket: &Path, node: &str) -> Result<Self> {
        let s = std::os::unix::net::UnixStream::connect(socket).map_err(|_| {
            anyhow::anyhow!(
                "node {node:?} is not running (start it with `airlock node start {node}`)"
            )
        })?;
        Ok(ControlClient {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
            node: node.to_string(),
        })
    }

    /// Sends a request and returns its result, or the node's error.
    pub fn request(&mut self, req: &Request, timeout: Duration) -> Result<Value> {
        self.writer.set_read_timeout(Some(timeout))?;
        let mut line = serde_json::to_string(req)?;
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        let mut resp = String::new();
        let n = self.reader.read_line(&mut resp).map_err(|e| {
            anyhow::anyhow!(
                "node {:?} did not answer within {timeout:?}: {e}",
                self.node
            )
        })?;
        if n == 0 {
            bail!("node {:?} closed the control connection", self.node);
        }
        let v: Value = serde_json::from_str(&resp)?;
        if v["ok"].as_bool() == Some(true) {
            Ok(v["result"].clone())
        } else {
            bail!("{}", v["error"].as_str().unwrap_or("unknown error"))
        }
    }

    /// Waits until the node closes the connection (it exits), up to `timeout`.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        let _ = self.writer.set_read_timeout(Some(timeout));
        let mut buf = String::new();
        matches!(self.reader.read_line(&mut buf), Ok(0))
    }
}
