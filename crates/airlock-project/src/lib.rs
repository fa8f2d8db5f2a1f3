//! Project services on top of the node runtime.
//!
//! * [`store`] — the authority's state: members and enrollment tickets (SQLite, or PostgreSQL
//!   shared by several project nodes; redemption is one transaction, so concurrent redemptions
//!   of a one-use ticket admit exactly one). Its operations are async.
//! * [`authority`] — the `authority` service: enroll with a ticket secret, fetch a credential,
//!   create tickets and manage members (administrators and enrollers only).
//! * [`limits`] — the authority's cap on requests in flight and its per-identity rate limit for
//!   callers that are not members.
//! * [`api`] — request/response messages of the service and a client used by the CLI and by nodes
//!   to fetch and refresh their credentials.
//! * [`kafka_keys`] — the `kafka_keys` service: the key directory of Kafka record encryption
//!   (consumer keys, key records, grants) and its member-side client.
//! * [`refresh`] — a member node's credential refresh and revocation polling.
//! * [`relay`] — relay registrations (host side) and keeping one registered (owner side).
//!
//! Errors are values: [`store::StoreError`], [`api::RequestError`],
//! [`authority::AuthorityError`], [`relay::RegistrationRefused`], [`relay::RegisterError`],
//! [`relay::RelayOwnerError`]; [`error_text`] renders one with its causes.

#![warn(missing_docs)]

pub mod api;
pub mod authority;
pub mod kafka_keys;
pub mod limits;
pub mod refresh;
pub mod relay;
pub mod store;

pub use api::{AuthorityClient, AuthorityRequest};
pub use authority::{Authority, AuthorityConfig};
pub use store::{AuthorityStore, Member, RedeemError, RelayBinding, TicketSpec};

/// The service address of the authority on a project node.
pub const AUTHORITY_ADDRESS: &str = "authority";
/// Credential attribute naming the relay the member may claim (`*` = any).
pub const RELAY_ATTRIBUTE: &str = "airlock.relay";
/// Credential attribute set to `true` for members who may create tickets.
pub const ENROLLER_ATTRIBUTE: &str = "airlock.enroller";

/// `e` followed by its causes, `: `-separated (as `anyhow` prints `{:#}`): the text of an error
/// sent in an answer or kept as a relay's last error.
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        // A transparent wrapper repeats its cause's text: say it once.
        if !text.ends_with(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cause = c.source();
    }
    text
}
