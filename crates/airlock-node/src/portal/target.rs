//! Where an outlet's streams go: a TCP service (`host:port`, the usual case) or a service inside
//! this process that takes each stream as one end of a socket pair (the Kafka outlet's
//! interceptor, which then dials the broker itself).

use super::socket::PortalSocket;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpStream, UnixStream};

/// How long an outlet waits for its TCP target to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Takes the service's end of a new stream.
pub type LocalHandler = Arc<dyn Fn(UnixStream) + Send + Sync>;

/// The destination of an outlet's streams.
#[derive(Clone)]
pub enum OutletTarget {
    /// A TCP service at `host:port`.
    Tcp(String),
    /// A service in this process.
    Local {
        /// What it is, for listings and logs (e.g. `kafka broker 1 at 10.0.0.5:9092`).
        description: String,
        /// Called once per stream with the service's end.
        handler: LocalHandler,
    },
}

impl std::fmt::Display for OutletTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutletTarget::Tcp(to) => f.write_str(to),
            OutletTarget::Local { description, .. } => f.write_str(description),
        }
    }
}

impl std::fmt::Debug for OutletTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OutletTarget({self})")
    }
}

impl OutletTarget {
    /// Connects a new stream's local end: dials the TCP target (bounded by
    /// [`CONNECT_TIMEOUT`]) or hands a socket pair's other end to the local service.
    pub async fn connect(&self) -> Result<PortalSocket, String> {
        match self {
            OutletTarget::Tcp(to) => {
                match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
                    Ok(Ok(s)) => Ok(PortalSocket::Tcp(s)),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
                }
            }
            OutletTarget::Local { handler, .. } => {
                let (ours, theirs) = PortalSocket::pair().map_err(|e| e.to_string())?;
                handler(theirs);
                Ok(ours)
            }
        }
    }
}
