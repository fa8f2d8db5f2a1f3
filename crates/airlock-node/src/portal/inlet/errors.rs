//! Why an inlet could not start, or has no link to its outlet.

use super::AllLinksFull;
use crate::failure::{self, FailureKind};
use crate::resolve;
use std::net::SocketAddr;

/// This inlet's own policy (`tcp-inlet`, or `kafka-inlet` for a Kafka inlet's portals) denies
/// the outlet node it reached.
#[derive(Debug, thiserror::Error)]
#[error("this inlet's {0} policy denies the outlet node: {1}")]
pub struct InletRefused(pub &'static str, pub String);

/// The inlet route cannot work as given (no secure channel, no outlet named after it).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRoute(pub String);

/// Why an inlet could not be started ([`super::Inlet::start`], [`super::Inlet::start_local`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InletError {
    /// The route to the outlet does not parse.
    #[error(transparent)]
    Route(#[from] airlock_wire::multiaddr::MultiAddrError),
    /// The route parses but cannot reach an outlet (it opens no secure channel).
    #[error(transparent)]
    InvalidRoute(#[from] InvalidRoute),
    /// An identifier the outlet node may have (`authorized`) is not an identifier.
    #[error(transparent)]
    Authorized(#[from] airlock_identity::IdentityError),
    /// The listening address is taken by another socket.
    #[error("cannot listen on {addr}: the port is already in use (pick another with --from)")]
    AddressInUse {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The listening address cannot be bound (or its bound address read) for another reason.
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why (part of the message, not a separate cause).
        error: std::io::Error,
    },
}

impl InletError {
    /// [`InletError::AddressInUse`] or [`InletError::Listen`], from why binding `addr` failed.
    pub(super) fn listen(addr: SocketAddr, error: std::io::Error) -> InletError {
        if error.kind() == std::io::ErrorKind::AddrInUse {
            InletError::AddressInUse { addr }
        } else {
            InletError::Listen { addr, error }
        }
    }
}

/// Why an inlet has no link to its outlet ([`super::Inlet::link`], [`super::Inlet::open_local`]). Whether
/// retrying can help: [`failure::Classify::failure_kind`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The route could not be resolved: a hop unreachable, a secure channel on the way timed
    /// out, failed or was refused.
    #[error(transparent)]
    Resolve(#[from] resolve::ResolveError),
    /// The route cannot work as given (no secure channel, no outlet named after it).
    #[error(transparent)]
    InvalidRoute(#[from] InvalidRoute),
    /// This inlet's own policy denies the outlet node it reached.
    #[error(transparent)]
    Denied(#[from] InletRefused),
    /// A secure channel underneath was refused (reported instead of the link's failure).
    #[error(transparent)]
    Channel(#[from] crate::channel::ChannelError),
    /// The link could not be set up over the channel: the outlet refused or aborted it, did
    /// not answer, or the channel closed meanwhile.
    #[error(transparent)]
    Connect(#[from] crate::portal::link::ConnectError),
    /// Every link the inlet may open to the outlet carries as many streams as it may.
    #[error(transparent)]
    Full(#[from] AllLinksFull),
    /// The in-process socket pair of [`super::Inlet::open_local`] could not be made.
    #[error("cannot open an in-process socket pair: {0}")]
    LocalSocket(std::io::Error),
}

/// The inlet's link was refused for good (by the outlet's policy, this inlet's policy, a trust
/// policy or a revocation): what [`super::Inlet::wait_first`] returns; always
/// [`FailureKind::Permanent`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LinkRefused(pub String);

impl failure::Classify for LinkRefused {
    fn failure_kind(&self) -> FailureKind {
        FailureKind::Permanent
    }
}
