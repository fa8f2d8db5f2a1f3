//! What a ticket may grant: ranges for everyone, and for an enroller that is not an
//! administrator, nothing beyond what it holds itself.

use super::AuthorityError;
use crate::api::TicketRequest;
use crate::store::Member;
use airlock_credential::valid_attribute_name_pub as valid_name;

type Result<T, E = AuthorityError> = std::result::Result<T, E>;

/// Maximum lifetime of a ticket: 30 days.
pub const MAX_TICKET_LIFETIME: u64 = 30 * 24 * 3600;

/// Maximum usage count of a ticket.
pub const MAX_TICKET_USES: u32 = 10_000;

/// Most enrollments one ticket created by an enroller (who is not an administrator) may allow:
/// an enroller admits people one at a time or in small groups; larger grants are an
/// administrator's decision.
pub const ENROLLER_MAX_TICKET_USES: u32 = 100;

/// Longest lifetime of a ticket created by an enroller (who is not an administrator): 7 days,
/// so that a forgotten ticket of an enroller stops working within a week.
pub const ENROLLER_MAX_TICKET_LIFETIME: u64 = 7 * 24 * 3600;

pub(super) fn check_ticket(t: &TicketRequest) -> Result<()> {
    if t.usage_count == 0 || t.usage_count > MAX_TICKET_USES {
        return Err(AuthorityError::InvalidInput(format!(
            "--usage-count must be between 1 and {MAX_TICKET_USES}"
        )));
    }
    if t.expires_in_secs == 0 || t.expires_in_secs > MAX_TICKET_LIFETIME {
        return Err(AuthorityError::InvalidInput(
            "--expires-in must be between 1s and 30 days".to_string(),
        ));
    }
    for k in t.attributes.keys() {
        if !valid_name(k) || k.starts_with("airlock.") {
            return Err(AuthorityError::InvalidInput(format!("invalid attribute name {k:?}: use a-z 0-9 . _ - (names starting with 'airlock.' are reserved)")));
        }
    }
    Ok(())
}

/// What an enroller who is not an administrator may put in a ticket: nothing it does not hold
/// itself (docs/protocol.md §9.2). No enroller flag; a relay permission only if its own covers
/// it (`*` only from `*`, a name from that name or `*`); only attribute pairs it holds with the
/// same value; at most [`ENROLLER_MAX_TICKET_USES`] uses and [`ENROLLER_MAX_TICKET_LIFETIME`].
pub(super) fn check_enroller_grant(enroller: &Member, t: &TicketRequest) -> Result<()> {
    if t.enroller {
        return Err(AuthorityError::GrantExceeded(
            "only project administrators may create enroller tickets: \
             drop --enroller, or ask an administrator for the ticket"
                .to_string(),
        ));
    }
    if let Some(r) = &t.relay {
        match enroller.relay.as_deref() {
            Some("*") => {}
            Some(own) if own == r => {}
            Some(own) => {
                return Err(AuthorityError::GrantExceeded(format!(
                    "an enroller may grant only the relay permission it holds: you may grant \
                 relay {own:?}, not relay {r:?}; ask an administrator for this ticket"
                )))
            }
            None => {
                return Err(AuthorityError::GrantExceeded(format!(
                    "you hold no relay permission, so your tickets cannot grant relay {r:?}: \
                 drop --relay, or ask an administrator for this ticket"
                )))
            }
        }
    }
    for (k, v) in &t.attributes {
        if enroller.attributes.get(k) != Some(v) {
            let held = match enroller.attributes.get(k) {
                Some(own) => format!("you hold {k}={own}"),
                None => format!("you hold no attribute {k}"),
            };
            return Err(AuthorityError::GrantExceeded(format!(
                "an enroller may grant only attributes it holds itself, with the same value: \
                 cannot grant {k}={v} ({held}); ask an administrator for this ticket"
            )));
        }
    }
    if t.usage_count > ENROLLER_MAX_TICKET_USES {
        return Err(AuthorityError::GrantExceeded(format!(
            "tickets created by an enroller allow at most {ENROLLER_MAX_TICKET_USES} uses: \
             lower --usage-count, or ask an administrator"
        )));
    }
    if t.expires_in_secs > ENROLLER_MAX_TICKET_LIFETIME {
        return Err(AuthorityError::GrantExceeded(
            "tickets created by an enroller last at most 7 days: lower --expires-in, \
             or ask an administrator"
                .to_string(),
        ));
    }
    Ok(())
}
