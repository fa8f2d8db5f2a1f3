//! Why the key directory refused a request (service side), and what a member's client makes of
//! an answer (client side). Each refusal carries a stable `code` so clients match on it, never
//! on the text.

use crate::api::RequestError;
use crate::store::StoreError;
use airlock_identity::Identifier;
use airlock_kafka_keys::{KeyError, KeyId};

/// Why the directory did not grant a request. [`KeyDirectoryError::Store`] alone leaves it
/// undecided (the answer says `retry`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyDirectoryError {
    /// The body is not a request, or is too large.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The caller is not a current member of the project (never was, or was deleted).
    #[error("{caller} is not a member of project {project:?}")]
    NotMember {
        /// Who asked.
        caller: Identifier,
        /// The project.
        project: String,
    },
    /// The identity, attestation or record names someone other than the caller.
    #[error("{0}")]
    NotYours(String),
    /// A history, attestation, record or grant does not decode or verify.
    #[error("invalid key material")]
    Invalid(#[from] KeyError),
    /// A change history does not decode or verify.
    #[error("invalid change history")]
    History(#[from] airlock_identity::IdentityError),
    /// Another key record has this key id: draw another.
    #[error("key id {0} is taken; draw another")]
    KeyIdTaken(KeyId),
    /// No key record has this key id.
    #[error("no key record {0} in the directory")]
    UnknownKey(KeyId),
    /// Only a record's producer adds grants to it.
    #[error("key record {key_id} belongs to {producer}: only its producer adds grants")]
    NotProducer {
        /// The record.
        key_id: KeyId,
        /// Its producer.
        producer: String,
    },
    /// The record has no grant for the caller (the producer has not admitted it, or not yet).
    #[error("key record {key_id} has no grant for {caller}")]
    NoGrant {
        /// The record.
        key_id: KeyId,
        /// Who asked.
        caller: Identifier,
    },
    /// A credential could not be issued for a listed consumer.
    #[error("cannot issue a credential")]
    Credential(#[from] crate::authority::AuthorityError),
    /// The store failed: nothing was decided, try again.
    #[error("the project's state store failed")]
    Store(#[from] StoreError),
}

/// The `code` of a refusal, as sent in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusalCode {
    /// `bad-request`.
    BadRequest,
    /// `not-member`.
    NotMember,
    /// `not-yours`.
    NotYours,
    /// `invalid`.
    Invalid,
    /// `key-id-taken`.
    KeyIdTaken,
    /// `unknown-key`.
    UnknownKey,
    /// `not-producer`.
    NotProducer,
    /// `no-grant`.
    NoGrant,
    /// `internal` (undecided: try again).
    Internal,
}

const CODES: [(RefusalCode, &str); 9] = [
    (RefusalCode::BadRequest, "bad-request"),
    (RefusalCode::NotMember, "not-member"),
    (RefusalCode::NotYours, "not-yours"),
    (RefusalCode::Invalid, "invalid"),
    (RefusalCode::KeyIdTaken, "key-id-taken"),
    (RefusalCode::UnknownKey, "unknown-key"),
    (RefusalCode::NotProducer, "not-producer"),
    (RefusalCode::NoGrant, "no-grant"),
    (RefusalCode::Internal, "internal"),
];

impl RefusalCode {
    /// The code's text in answers.
    pub fn as_str(self) -> &'static str {
        CODES
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("internal", |(_, s)| s)
    }

    /// The code named `s`, if it is one.
    pub fn parse(s: &str) -> Option<Self> {
        CODES.iter().find(|(_, t)| *t == s).map(|(c, _)| *c)
    }
}

impl KeyDirectoryError {
    /// The refusal's code.
    pub fn code(&self) -> RefusalCode {
        match self {
            KeyDirectoryError::BadRequest(_) => RefusalCode::BadRequest,
            KeyDirectoryError::NotMember { .. } => RefusalCode::NotMember,
            KeyDirectoryError::NotYours(_) => RefusalCode::NotYours,
            KeyDirectoryError::Invalid(_) | KeyDirectoryError::History(_) => RefusalCode::Invalid,
            KeyDirectoryError::KeyIdTaken(_) => RefusalCode::KeyIdTaken,
            KeyDirectoryError::UnknownKey(_) => RefusalCode::UnknownKey,
            KeyDirectoryError::NotProducer { .. } => RefusalCode::NotProducer,
            KeyDirectoryError::NoGrant { .. } => RefusalCode::NoGrant,
            KeyDirectoryError::Credential(_) | KeyDirectoryError::Store(_) => RefusalCode::Internal,
        }
    }

    /// True when the request was not decided and may succeed if tried again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            KeyDirectoryError::Store(_) | KeyDirectoryError::Credential(_)
        )
    }
}

/// What a member's [`KeyDirectoryClient`](super::KeyDirectoryClient) call can end with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The directory decided no.
    #[error("{reason}")]
    Refused {
        /// Why, as a code to match on.
        code: RefusalCode,
        /// Why, phrased for users.
        reason: String,
    },
    /// No decision came back (no answer, busy, store failure, unreachable project): may
    /// succeed when tried again.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The directory's answer does not decode or does not verify (a directory that lies is
    /// caught here: records and keys are checked against their signers).
    #[error("the key directory's answer is not acceptable: {0}")]
    BadAnswer(String),
}

impl ClientError {
    /// The refusal's code, if the directory refused.
    pub fn code(&self) -> Option<RefusalCode> {
        match self {
            ClientError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}
