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

/// The kind of an error out of this crate, found by its type anywhere in its chain of causes;
/// an error of no known type is [`FailureKind::Transient`] (a timeout, a dropped connection).
pub fn classify(e: &anyhow::Error) -> FailureKind {
    for cause in e.chain() {
        if let Some(k) = classify_one(cause) {
            return k;
        }
    }
    FailureKind::Transient
}

/// The kind of one error value of a type this crate defines, if it is one.
pub fn classify_one(e: &(dyn std::error::Error + 'static)) -> Option<FailureKind> {
    use crate::portal::{inlet, link};
    if let Some(x) = e.downcast_ref::<crate::channel::ChannelError>() {
        return Some(x.failure_kind());
    }
    if let Some(x) = e.downcast_ref::<crate::resolve::ResolveError>() {
        return Some(x.failure_kind());
    }
    if let Some(x) = e.downcast_ref::<link::Refused>() {
        return Some(x.failure_kind());
    }
    if let Some(x) = e.downcast_ref::<link::Aborted>() {
        return Some(x.failure_kind());
    }
    if let Some(x) = e.downcast_ref::<inlet::InletRefused>() {
        return Some(x.failure_kind());
    }
    if let Some(x) = e.downcast_ref::<inlet::InvalidRoute>() {
        return Some(x.failure_kind());
    }
    if let Some(x) = e.downcast_ref::<inlet::LinkRefused>() {
        return Some(x.failure_kind());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ChannelError;
    use crate::resolve::ResolveError;

    #[test]
    fn refusals_are_permanent_and_the_rest_transient() {
        let refused = anyhow::Error::new(ResolveError::Channel(ChannelError::Refused(
            "revoked project member".into(),
        )));
        assert_eq!(classify(&refused), FailureKind::Permanent);
        let unreachable = anyhow::Error::new(ResolveError::Connect {
            target: "127.0.0.1:1".into(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        });
        assert_eq!(classify(&unreachable), FailureKind::Transient);
        let timeout = anyhow::Error::new(ChannelError::Timeout(std::time::Duration::from_secs(1)));
        assert_eq!(classify(&timeout), FailureKind::Transient);
        assert_eq!(
            classify(&anyhow::Error::new(crate::portal::link::Refused)),
            FailureKind::Permanent
        );
        // Wrapped in context, the typed cause still decides.
        let wrapped = anyhow::Error::new(crate::portal::link::Refused).context("inlet db");
        assert_eq!(classify(&wrapped), FailureKind::Permanent);
        // Text alone decides nothing: an untyped error saying "refused" is transient.
        assert_eq!(
            classify(&anyhow::anyhow!("refused by policy")),
            FailureKind::Transient
        );
    }
}
