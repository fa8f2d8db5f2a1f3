//! The credential and enrollment-ticket formats, as a sans-IO core.
//!
//! * [`credential`] — attributes about a subject identity, signed by a project's authority
//!   identity, short-lived. Presented in secure-channel handshakes (messages 2 and 3) and
//!   refreshed on live channels.
//! * [`ticket`] — the one self-contained enrollment string an administrator hands to a new
//!   member: project name and route, the authority's and project node's identities, a one-time
//!   secret, expiry and usage count.
//!
//! This crate only encodes, decodes, signs and verifies, with time passed in as Unix seconds.
//! The service that issues credentials and redeems tickets (with its storage) is the project's
//! authority, in `airlock-project`.

#![warn(missing_docs)]

pub mod credential;
pub mod ticket;

pub use credential::{
    valid_attribute_name as valid_attribute_name_pub, Attributes, Credential, CredentialError,
    VerifiedCredential,
};
pub use ticket::{Ticket, TicketError};
