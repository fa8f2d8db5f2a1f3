//! The CLI's side of the control API: one connection to a node's control socket, with one
//! typed method per request.

use super::protocol::{
    ChannelOpened, ChannelView, Deleted, InletView, KafkaInletView, KafkaOutletView, MessageReply,
    NodeStatus, OutletView, PolicyView, RelayCreated, RelayView, Request, Response,
};
use airlock_node::kafka::{KafkaInletSpec, KafkaOutletSpec};
use airlock_node::portal::{InletSpec, OutletSpec};
use serde::de::DeserializeOwned;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

/// Why a control request failed: the node is not running, the connection failed, the node's
/// answer could not be read, or the node answered with an error.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Nothing accepts connections on the node's control socket: the node is not running.
    #[error("node {node:?} is not running (start it with `airlock node start {node}`)")]
    NotRunning {
        /// The node's name.
        node: String,
    },
    /// Reading or writing the control socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The request could not be encoded.
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
    /// The node did not answer in time (or reading its answer failed).
    #[error("node {node:?} did not answer within {timeout:?}: {error}")]
    NoAnswer {
        /// The node's name.
        node: String,
        /// How long the client waited.
        timeout: Duration,
        /// The read error (part of the message, not a separate cause).
        error: std::io::Error,
    },
    /// The node closed the connection before answering.
    #[error("node {node:?} closed the control connection")]
    Closed {
        /// The node's name.
        node: String,
    },
    /// The node's answer is not a protocol response.
    #[error("node {node:?} sent a malformed answer")]
    Malformed {
        /// The node's name.
        node: String,
        /// Why it could not be decoded.
        #[source]
        source: serde_json::Error,
    },
    /// The node's result is not what this client expects for the request (another version).
    #[error("node {node:?} answered with an unexpected result (does it run the same airlock version as this CLI?)")]
    UnexpectedResult {
        /// The node's name.
        node: String,
        /// Why it could not be decoded.
        #[source]
        source: serde_json::Error,
    },
    /// The node answered with this error message (it refused or failed the request).
    #[error("{0}")]
    Node(String),
    /// The node's answer carries neither a result nor an error.
    #[error("node {node:?} sent an answer with neither result nor error")]
    Empty {
        /// The node's name.
        node: String,
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
    pub fn connect(socket: &Path, node: &str) -> Result<Self, ControlError> {
        let s = std::os::unix::net::UnixStream::connect(socket).map_err(|_| {
            ControlError::NotRunning {
                node: node.to_string(),
            }
        })?;
        Ok(ControlClient {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
            node: node.to_string(),
        })
    }

    /// Sends a request and returns its result as `T`, or the node's error.
    fn call<T: DeserializeOwned>(
        &mut self,
        req: &Request,
        timeout: Duration,
    ) -> Result<T, ControlError> {
        self.writer.set_read_timeout(Some(timeout))?;
        let mut line = serde_json::to_string(req)?;
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        let mut resp = String::new();
        let n = self
            .reader
            .read_line(&mut resp)
            .map_err(|error| ControlError::NoAnswer {
                node: self.node.clone(),
                timeout,
                error,
            })?;
        if n == 0 {
            return Err(ControlError::Closed {
                node: self.node.clone(),
            });
        }
        let answer: Response<serde_json::Value> =
            serde_json::from_str(&resp).map_err(|source| ControlError::Malformed {
                node: self.node.clone(),
                source,
            })?;
        match answer {
            Response {
                ok: true,
                result: Some(result),
                ..
            } => serde_json::from_value(result).map_err(|source| ControlError::UnexpectedResult {
                node: self.node.clone(),
                source,
            }),
            Response {
                ok: false,
                error: Some(error),
                ..
            } => Err(ControlError::Node(error)),
            _ => Err(ControlError::Empty {
                node: self.node.clone(),
            }),
        }
    }

    /// The node's status.
    pub fn status(&mut self, timeout: Duration) -> Result<NodeStatus, ControlError> {
        self.call(&Request::Status, timeout)
    }

    /// Asks the node to stop; [`ControlClient::wait_closed`] then waits until it has.
    pub fn stop(&mut self, timeout: Duration) -> Result<(), ControlError> {
        self.call::<String>(&Request::Stop, timeout).map(drop)
    }

    /// Creates an outlet.
    pub fn create_outlet(
        &mut self,
        spec: OutletSpec,
        timeout: Duration,
    ) -> Result<OutletView, ControlError> {
        self.call(&Request::OutletCreate { spec }, timeout)
    }

    /// The node's outlets.
    pub fn outlets(&mut self, timeout: Duration) -> Result<Vec<OutletView>, ControlError> {
        self.call(&Request::OutletList, timeout)
    }

    /// Deletes outlet `name`.
    pub fn delete_outlet(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> Result<Deleted<String>, ControlError> {
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
    ) -> Result<InletView, ControlError> {
        let wait_ms = wait.map(|w| w.as_millis() as u64);
        self.call(&Request::InletCreate { spec, wait_ms }, timeout)
    }

    /// The node's inlets.
    pub fn inlets(&mut self, timeout: Duration) -> Result<Vec<InletView>, ControlError> {
        self.call(&Request::InletList, timeout)
    }

    /// Deletes inlet `name`.
    pub fn delete_inlet(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> Result<Deleted<String>, ControlError> {
        let name = name.to_string();
        self.call(&Request::InletDelete { name }, timeout)
    }

    /// Creates a Kafka outlet.
    pub fn create_kafka_outlet(
        &mut self,
        spec: KafkaOutletSpec,
        timeout: Duration,
    ) -> Result<KafkaOutletView, ControlError> {
        self.call(&Request::KafkaOutletCreate { spec }, timeout)
    }

    /// The node's Kafka outlets.
    pub fn kafka_outlets(
        &mut self,
        timeout: Duration,
    ) -> Result<Vec<KafkaOutletView>, ControlError> {
        self.call(&Request::KafkaOutletList, timeout)
    }

    /// Deletes Kafka outlet `name`.
    pub fn delete_kafka_outlet(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> Result<Deleted<String>, ControlError> {
        let name = name.to_string();
        self.call(&Request::KafkaOutletDelete { name }, timeout)
    }

    /// Creates a Kafka inlet; the node waits up to `wait` (its default when `None`) for the
    /// bootstrap link to be up or refused for good (then this is an error and the inlet is
    /// gone).
    pub fn create_kafka_inlet(
        &mut self,
        spec: KafkaInletSpec,
        wait: Option<Duration>,
        timeout: Duration,
    ) -> Result<KafkaInletView, ControlError> {
        let wait_ms = wait.map(|w| w.as_millis() as u64);
        self.call(&Request::KafkaInletCreate { spec, wait_ms }, timeout)
    }

    /// The node's Kafka inlets.
    pub fn kafka_inlets(&mut self, timeout: Duration) -> Result<Vec<KafkaInletView>, ControlError> {
        self.call(&Request::KafkaInletList, timeout)
    }

    /// Deletes Kafka inlet `name`.
    pub fn delete_kafka_inlet(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> Result<Deleted<String>, ControlError> {
        let name = name.to_string();
        self.call(&Request::KafkaInletDelete { name }, timeout)
    }

    /// Opens a secure channel to the listener at route `to` (ending in `/service/NAME`).
    pub fn open_channel(
        &mut self,
        to: String,
        authorized: Vec<String>,
        handshake: Duration,
        timeout: Duration,
    ) -> Result<ChannelOpened, ControlError> {
        let timeout_ms = handshake.as_millis() as u64;
        let req = Request::ChannelCreate {
            to,
            authorized,
            timeout_ms,
        };
        self.call(&req, timeout)
    }

    /// The node's secure channels.
    pub fn channels(&mut self, timeout: Duration) -> Result<Vec<ChannelView>, ControlError> {
        self.call(&Request::ChannelList, timeout)
    }

    /// Closes the secure channel at `address`.
    pub fn close_channel(
        &mut self,
        address: &str,
        timeout: Duration,
    ) -> Result<Deleted<String>, ControlError> {
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
    ) -> Result<PolicyView, ControlError> {
        let req = Request::PolicyCreate {
            resource,
            resource_type,
            expression,
        };
        self.call(&req, timeout)
    }

    /// The node's policies.
    pub fn policies(&mut self, timeout: Duration) -> Result<Vec<PolicyView>, ControlError> {
        self.call(&Request::PolicyList, timeout)
    }

    /// Deletes the policy of exactly this resource and type.
    pub fn delete_policy(
        &mut self,
        resource: Option<String>,
        resource_type: Option<String>,
        timeout: Duration,
    ) -> Result<Deleted<bool>, ControlError> {
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
    ) -> Result<RelayCreated, ControlError> {
        let req = Request::RelayCreate {
            name,
            at,
            authorized,
            wait_ms: wait.map(|w| w.as_millis() as u64),
        };
        self.call(&req, timeout)
    }

    /// The relays the node keeps.
    pub fn relays(&mut self, timeout: Duration) -> Result<Vec<RelayView>, ControlError> {
        self.call(&Request::RelayList, timeout)
    }

    /// Deletes relay `name`.
    pub fn delete_relay(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> Result<Deleted<String>, ControlError> {
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
    ) -> Result<MessageReply, ControlError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_socket_means_the_node_is_not_running() {
        let e = ControlClient::connect(Path::new("/nonexistent/control.sock"), "n1")
            .err()
            .unwrap();
        assert!(matches!(&e, ControlError::NotRunning { node } if node == "n1"));
        assert_eq!(
            format!("{:#}", anyhow::Error::from(e)),
            "node \"n1\" is not running (start it with `airlock node start n1`)"
        );
    }
}
