//! Formats of a project's authority, as a sans-IO core.
//!
//! * [`credential`] — attributes about a subject identity, signed by the authority, short-lived.
//!   Presented in secure-channel handshakes (messages 2 and 3) and refreshed on live channels.
//! * [`ticket`] — the one self-contained enrollment string an administrator hands to a new
//!   member: project name and route, the authority's and project node's identities, a one-time
//!   secret, expiry and usage count.
//!
//! The authority's storage and services live in the node runtime; this crate only encodes,
//! decodes, signs and verifies, with time passed in as Unix seconds.

#![warn(missing_docs)]

pub mod credential;
pub mod ticket;

pub use credential::{
    valid_attribute_name as valid_attribute_name_pub, Attributes, Credential, CredentialError,
    VerifiedCredential,
};
pub use ticket::{Ticket, TicketError};
