//! Why the authority did not grant a request.

use crate::store::{RedeemError, StoreError};
use airlock_identity::Identifier;

/// Why the authority did not grant a request. [`AuthorityError::Store`] alone leaves the
/// request undecided (the answer tells the caller to try again); every other variant is the
/// authority's decision.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorityError {
    /// The body is not a request.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A value in the request is out of range or malformed (usage count, lifetime, attribute
    /// name, identifier, ticket secret).
    #[error("{0}")]
    InvalidInput(String),
    /// The caller is not a member of the project.
    #[error("{caller} is not a member of project {project:?}")]
    NotMember {
        /// Who asked.
        caller: Identifier,
        /// The project.
        project: String,
    },
    /// Only administrators may do this.
    #[error("only project administrators may do this")]
    AdminOnly,
    /// Only administrators and enrollers create tickets.
    #[error("only administrators and enrollers may create tickets")]
    TicketCreatorsOnly,
    /// An administrator asked to delete itself.
    #[error("an administrator cannot delete itself")]
    SelfDelete,
    /// An enroller asked for a ticket granting more than it holds (the reason says what).
    #[error("{0}")]
    GrantExceeded(String),
    /// The member or relay binding named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A caller that is not a member sent requests too fast.
    #[error(
        "too many requests from {caller}: identities that are not members of the project \
         are rate-limited; wait {:.1} s and try again",
        .retry_after.as_secs_f64().max(0.1)
    )]
    RateLimited {
        /// Who asked.
        caller: Identifier,
        /// When a token is available again.
        retry_after: std::time::Duration,
    },
    /// The enrollment ticket was refused.
    #[error(transparent)]
    Ticket(#[from] RedeemError),
    /// The credential could not be issued.
    #[error("cannot issue a credential")]
    Credential(#[from] airlock_credential::CredentialError),
    /// The state store failed: nothing was decided, try again.
    #[error("the project's state store failed")]
    Store(#[from] StoreError),
}

impl AuthorityError {
    /// True when the request was not decided and may succeed if tried again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, AuthorityError::Store(_))
    }
}
