//! Whether a failure is worth retrying: every error that can end an attempt to reach a peer
//! (a route, a secure channel, a portal link, a project request) says whether it is
//! [`FailureKind::Permanent`] — the other side (or this side's own policy) decided, and trying
//! again changes nothing until someone changes a configuration — or
//! [`FailureKind::Transient`] — nothing was decided (unreachable, timed out, reset), so trying
//! again later may work.
//!
//! The kind comes from the error's type, never from its text: callers `match` on it. Creates
//! (`tcp-inlet create`, `relay create`) fail on a permanent failure and keep trying in the
//! background on a transient one (docs/protocol.md §10).

use serde::{Deserialize, Serialize};

/// Whether retrying can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureKind {
    /// Decided: a refusal by a policy, a trust policy or a revocation, or a request that can
    /// never work as given. Retrying cannot help until a configuration changes.
    Permanent,
    /// Not decided: unreachable, timed out, closed or reset. Retrying may help.
    Transient,
}

impl FailureKind {
    /// `permanent` or `transient`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Permanent => "permanent",
            FailureKind::Transient => "transient",
        }
    }

    /// True for [`FailureKind::Permanent`].
    pub fn is_permanent(self) -> bool {
        self == FailureKind::Permanent
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that knows whether retrying can help.
pub trait Classify {
    /// The kind of this failure.
    fn failure_kind(&self) -> FailureKind;
}

impl Classify for crate::channel::ChannelError {
    fn failure_kind(&self) -> FailureKind {
        use crate::channel::ChannelError as E;
        match self {
            E::Refused(_) | E::Unsendable(_) => FailureKind::Permanent,
            E::Timeout(_) | E::Failed(_) | E::Closed => FailureKind::Transient,
        }
    }
}

impl Classify for crate::resolve::ResolveError {
    fn failure_kind(&self) -> FailureKind {
        use crate::resolve::ResolveError as E;
        match self {
            E::Connect { .. } => FailureKind::Transient,
            E::Channel(c) => c.failure_kind(),
            E::Unsupported(_) => FailureKind::Permanent,
        }
    }
}

impl Classify for crate::portal::link::Refused {
    fn failure_kind(&self) -> FailureKind {
        FailureKind::Permanent
    }
}

impl Classify for crate::portal::link::Aborted {
    fn failure_kind(&self) -> FailureKind {
        match self.0.code {
            airlock_channel::AbortCode::Refused => FailureKind::Permanent,
            airlock_channel::AbortCode::Failed => FailureKind::Transient,
        }
    }
}

impl Classify for crate::portal::inlet::InletRefused {
    fn failure_kind(&self) -> FailureKind {
        FailureKind::Permanent
    }
}

impl Classify for crate::portal::inlet::InvalidRoute {
    fn failure_kind(&self) -> FailureKind {
        FailureKind::Permanent
    }
}

impl Classify for crate::portal::link::ConnectError {
    fn failure_kind(&self) -> FailureKind {
        use crate::portal::link::ConnectError as E;
        match self {
            E::Channel(c) => c.failure_kind(),
            E::Refused(r) => r.failure_kind(),
            E::Aborted(a) => a.failure_kind(),
            E::NotOpen | E::ChannelClosed | E::NoAnswer { .. } => FailureKind::Transient,
        }
    }
}

impl Classify for crate::portal::inlet::LinkError {
    fn failure_kind(&self) -> FailureKind {
        use crate::portal::inlet::LinkError as E;
        match self {
            E::Resolve(e) => e.failure_kind(),
            E::InvalidRoute(e) => e.failure_kind(),
            E::Denied(e) => e.failure_kind(),
            E::Channel(e) => e.failure_kind(),
            E::Connect(e) => e.failure_kind(),
            E::LocalSocket(_) | E::Full(_) => FailureKind::Transient,
        }
    }
}

/// A spec that cannot work is permanent; a listening address someone else holds may be freed.
impl Classify for crate::portal::inlet::InletError {
    fn failure_kind(&self) -> FailureKind {
        use crate::portal::inlet::InletError as E;
        match self {
            E::Route(_) | E::InvalidRoute(_) | E::Authorized(_) => FailureKind::Permanent,
            E::AddressInUse { .. } | E::Listen { .. } => FailureKind::Transient,
        }
    }
}

impl Classify for crate::portal::registry::CreateInletError {
    fn failure_kind(&self) -> FailureKind {
        use crate::portal::registry::CreateInletError as E;
        match self {
            E::Exists { .. } => FailureKind::Permanent,
            E::Start(e) => e.failure_kind(),
            E::Refused(e) => e.failure_kind(),
        }
    }
}

/// Every reason an outlet cannot be created is in its spec or the node's configuration.
impl Classify for crate::portal::registry::CreateOutletError {
    fn failure_kind(&self) -> FailureKind {
        FailureKind::Permanent
    }
}

/// A TLS configuration that cannot be used stays so until it is changed.
impl Classify for crate::kafka::tls::TlsConfigError {
    fn failure_kind(&self) -> FailureKind {
        FailureKind::Permanent
    }
}

impl Classify for crate::kafka::outlet::KafkaOutletError {
    fn failure_kind(&self) -> FailureKind {
        FailureKind::Permanent
    }
}

impl Classify for crate::kafka::inlet::KafkaInletError {
    fn failure_kind(&self) -> FailureKind {
        use crate::kafka::inlet::KafkaInletError as E;
        match self {
            E::Exists { .. }
            | E::NotProjectMember
            | E::EncryptedFields(_)
            | E::BootstrapPortInRange { .. }
            | E::BrokerPorts(_) => FailureKind::Permanent,
            E::AddressInUse { .. } | E::Listen { .. } => FailureKind::Transient,
            E::Inlet(e) => e.failure_kind(),
            E::Refused(e) => e.failure_kind(),
        }
    }
}

/// A port someone else holds may be freed; retrying may help.
impl Classify for crate::node::StartError {
    fn failure_kind(&self) -> FailureKind {
        FailureKind::Transient
    }
}

/// The kind of an error out of this crate, found by its type anywhere in its chain of causes;
/// an error of no known type is [`FailureKind::Transient`] (a timeout, a dropped connection).
///
/// Takes any error: an error of this crate (`classify(&e)`), or, through its `as_ref()`, an
/// error of another crate that wraps one (an `anyhow::Error` among them).
pub fn classify(e: &(dyn std::error::Error + 'static)) -> FailureKind {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(k) = classify_one(c) {
            return k;
        }
        cause = c.source();
    }
    FailureKind::Transient
}

/// `e` and its causes joined by ": " (as `anyhow` prints `{:#}`): what a log line or a last
/// error shows.
pub(crate) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Returns the kind of `$e` from `classify_one` if it is a value of one of the listed types.
macro_rules! classify_as {
    ($e:expr, $($t:ty),+ $(,)?) => {
        $(
            if let Some(x) = $e.downcast_ref::<$t>() {
                return Some(x.failure_kind());
            }
        )+
    };
}

/// The kind of one error value of a type this crate defines, if it is one.
pub fn classify_one(e: &(dyn std::error::Error + 'static)) -> Option<FailureKind> {
    use crate::portal::{inlet, link, registry};
    classify_as!(
        e,
        crate::channel::ChannelError,
        crate::resolve::ResolveError,
        link::Refused,
        link::Aborted,
        link::ConnectError,
        inlet::InletRefused,
        inlet::InvalidRoute,
        inlet::LinkRefused,
        inlet::LinkError,
        inlet::InletError,
        registry::CreateInletError,
        registry::CreateOutletError,
        crate::kafka::tls::TlsConfigError,
        crate::kafka::outlet::KafkaOutletError,
        crate::kafka::inlet::KafkaInletError,
        crate::node::StartError,
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ChannelError;
    use crate::portal::inlet::LinkError;
    use crate::portal::link::{ConnectError, Refused};
    use crate::resolve::ResolveError;

    #[test]
    fn refusals_are_permanent_and_the_rest_transient() {
        let refused = ResolveError::Channel(ChannelError::Refused("revoked project member".into()));
        assert_eq!(classify(&refused), FailureKind::Permanent);
        let unreachable = ResolveError::Connect {
            target: "127.0.0.1:1".into(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        assert_eq!(classify(&unreachable), FailureKind::Transient);
        let timeout = ChannelError::Timeout(std::time::Duration::from_secs(1));
        assert_eq!(classify(&timeout), FailureKind::Transient);
        assert_eq!(classify(&Refused), FailureKind::Permanent);
        // Wrapped in the errors that carry it, the typed cause still decides.
        let wrapped = LinkError::Connect(ConnectError::Refused(Refused));
        assert_eq!(classify(&wrapped), FailureKind::Permanent);
        // Inside an error of another type, found by the chain of causes.
        let outer = Outer(wrapped);
        assert_eq!(classify(&outer), FailureKind::Permanent);
        // Text alone decides nothing: an untyped error saying "refused" is transient.
        assert_eq!(
            classify(&std::io::Error::other("refused by policy")),
            FailureKind::Transient
        );
    }

    /// An error of another crate whose cause is one of this crate's.
    #[derive(Debug, thiserror::Error)]
    #[error("inlet db")]
    struct Outer(#[source] LinkError);

    #[test]
    fn with_causes_reads_like_anyhow() {
        let e = ResolveError::Connect {
            target: "127.0.0.1:1".into(),
            source: std::io::Error::other("connection refused"),
        };
        assert_eq!(
            with_causes(&e),
            "route unreachable: cannot connect to 127.0.0.1:1: connection refused"
        );
        // Transparent wrappers add nothing and lose nothing.
        assert_eq!(
            with_causes(&LinkError::Resolve(e)),
            "route unreachable: cannot connect to 127.0.0.1:1: connection refused"
        );
    }
}
