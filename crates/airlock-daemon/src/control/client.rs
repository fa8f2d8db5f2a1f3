//! The CLI's side of the control API: one connection to a node's control socket, with one
//! typed method per request.

use super::protocol::{
    ChannelOpened, ChannelView, Deleted, InletView, MessageReply, NodeStatus, OutletView,
    PolicyView, RelayCreated, RelayView, Request, Response,
};
use airlock_node::portal::{InletSpec, OutletSpec};
use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

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

    /// Sends a request and returns its result as `T`, or the node's error.
    fn call<T: DeserializeOwned>(&mut self, req: &Request, timeout: Duration) -> Result<T> {
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
        let answer: Response<serde_json::Value> = serde_json::from_str(&resp)
            .with_context(|| format!("node {:?} sent a malformed answer", self.node))?;
        match answer {
            Response {
                ok: true,
                result: Some(result),
                ..
            } => serde_json::from_value(result).with_context(|| {
                format!(
                    "node {:?} answered with an unexpected result (does it run the same airlock version as this CLI?)",
                    self.node
                )
            }),
            Response {
                ok: false,
                error: Some(error),
                ..
            } => bail!("{error}"),
            _ => bail!("node {:?} sent an answer with neither result nor error", self.node),
        }
    }

    /// The node's status.
    pub fn status(&mut self, timeout: Duration) -> Result<NodeStatus> {
        self.call(&Request::Status, timeout)
    }

    /// Asks the node to stop; [`ControlClient::wait_closed`] then waits until it has.
    pub fn stop(&mut self, timeout: Duration) -> Result<()> {
        self.call::<String>(&Request::Stop, timeout).map(drop)
    }

    /// Creates an outlet.
    pub fn create_outlet(&mut self, spec: OutletSpec, timeout: Duration) -> Result<OutletView> {
        self.call(&Request::OutletCreate { spec }, timeout)
    }

    /// The node's outlets.
    pub fn outlets(&mut self, timeout: Duration) -> Result<Vec<OutletView>> {
        self.call(&Request::OutletList, timeout)
    }

    /// Deletes outlet `name`.
    pub fn delete_outlet(&mut self, name: &str, timeout: Duration) -> Result<Deleted<String>> {
        let name = name.to_string();
        self.call(&Request::OutletDelete { name }, timeout)
    }

    /// Creates an inlet; the node waits up to `wait` (its default when `None`) for the link
    /// to be up or refused for good (then this is an error and the inlet is gone).
    pub fn create_inlet(
        &mut self,
        spec: InletSpec,
        wait: Option<Duration>,
        timeout: Duration,
    ) -> Result<InletView> {
        let wait_ms = wait.map(|w| w.as_millis() as u64);
        self.call(&Request::InletCreate { spec, wait_ms }, timeout)
    }

    /// The node's inlets.
    pub fn inlets(&mut self, timeout: Duration) -> Result<Vec<InletView>> {
        self.call(&Request::InletList, timeout)
    }

    /// Deletes inlet `name`.
    pub fn delete_inlet(&mut self, name: &str, timeout: Duration) -> Result<Deleted<String>> {
        let name = name.to_string();
        self.call(&Request::InletDelete { name }, timeout)
    }

    /// Opens a secure channel to the listener at route `to` (ending in `/service/NAME`).
    pub fn open_channel(
        &mut self,
        to: String,
        authorized: Vec<String>,
        handshake: Duration,
        timeout: Duration,
    ) -> Result<ChannelOpened> {
        let timeout_ms = handshake.as_millis() as u64;
        let req = Request::ChannelCreate {
            to,
            authorized,
            timeout_ms,
        };
        self.call(&req, timeout)
    }

    /// The node's secure channels.
    pub fn channels(&mut self, timeout: Duration) -> Result<Vec<ChannelView>> {
        self.call(&Request::ChannelList, timeout)
    }

    /// Closes the secure channel at `address`.
    pub fn close_channel(&mut self, address: &str, timeout: Duration) -> Result<Deleted<String>> {
        let address = address.to_string();
        self.call(&Request::ChannelDelete { address }, timeout)
    }

    /// Sets the policy of a resource or resource type.
    pub fn set_policy(
        &mut self,
        resource: Option<String>,
        resource_type: Option<String>,
        expression: String,
        timeout: Duration,
    ) -> Result<PolicyView> {
        let req = Request::PolicyCreate {
            resource,
            resource_type,
            expression,
        };
        self.call(&req, timeout)
    }

    /// The node's policies.
    pub fn policies(&mut self, timeout: Duration) -> Result<Vec<PolicyView>> {
        self.call(&Request::PolicyList, timeout)
    }

    /// Deletes the policy of exactly this resource and type.
    pub fn delete_policy(
        &mut self,
        resource: Option<String>,
        resource_type: Option<String>,
        timeout: Duration,
    ) -> Result<Deleted<bool>> {
        let req = Request::PolicyDelete {
            resource,
            resource_type,
        };
        self.call(&req, timeout)
    }

    /// Creates a relay and keeps it registered at `at`; the node waits up to `wait` (its
    /// default when `None`) for the registration or a permanent refusal (an error: no relay).
    pub fn create_relay(
        &mut self,
        name: String,
        at: String,
        authorized: Vec<String>,
        wait: Option<Duration>,
        timeout: Duration,
    ) -> Result<RelayCreated> {
        let req = Request::RelayCreate {
            name,
            at,
            authorized,
            wait_ms: wait.map(|w| w.as_millis() as u64),
        };
        self.call(&req, timeout)
    }

    /// The relays the node keeps.
    pub fn relays(&mut self, timeout: Duration) -> Result<Vec<RelayView>> {
        self.call(&Request::RelayList, timeout)
    }

    /// Deletes relay `name`.
    pub fn delete_relay(&mut self, name: &str, timeout: Duration) -> Result<Deleted<String>> {
        let name = name.to_string();
        self.call(&Request::RelayDelete { name }, timeout)
    }

    /// Sends `payload` along route `to` and waits up to `wait` for one reply.
    pub fn send_message(
        &mut self,
        to: String,
        payload: String,
        authorized: Vec<String>,
        wait: Duration,
        timeout: Duration,
    ) -> Result<MessageReply> {
        let req = Request::MessageSend {
            to,
            payload,
            timeout_ms: wait.as_millis() as u64,
            authorized,
        };
        self.call(&req, timeout)
    }

    /// Waits until the node closes the connection (it exits), up to `timeout`.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        let _ = self.writer.set_read_timeout(Some(timeout));
        let mut buf = String::new();
        matches!(self.reader.read_line(&mut buf), Ok(0))
    }
}
