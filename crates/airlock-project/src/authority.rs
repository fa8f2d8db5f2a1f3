//! The `authority` service of a project node.

use crate::api::{AuthorityRequest, TicketRequest};
use crate::store::{AuthorityStore, Member, TicketSpec};
use crate::{ENROLLER_ATTRIBUTE, RELAY_ATTRIBUTE};
use airlock_authority::{valid_attribute_name_pub as valid_name, Credential, Ticket};
use airlock_identity::{Identifier, IdentitySecret};
use airlock_node::{unix_now, Message, Node, Worker};
use airlock_wire::{Address, Packet, Route};
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::sync::Arc;

/// Maximum lifetime of a ticket: 30 days.
pub const MAX_TICKET_LIFETIME: u64 = 30 * 24 * 3600;
/// Maximum usage count of a ticket.
pub const MAX_TICKET_USES: u32 = 10_000;

/// How the authority runs.
pub struct AuthorityConfig {
    /// Project name.
    pub project: String,
    /// The authority's identity (signs credentials).
    pub identity: IdentitySecret,
    /// Credential lifetime in seconds.
    pub credential_ttl: u64,
    /// State.
    pub store: Arc<AuthorityStore>,
}

/// The revoked identifiers in `store` as a set; `None` if the store cannot be read (callers then
/// keep the set they have rather than forgetting revocations).
pub fn revoked_set(store: &AuthorityStore) -> Option<std::collections::HashSet<Identifier>> {
    match store.revoked() {
        Ok(ids) => Some(ids.iter().filter_map(|s| s.parse().ok()).collect()),
        Err(e) => {
            tracing::warn!("cannot read revocations: {e:#}");
            None
        }
    }
}

/// How often a project node re-reads the revocations in its store: other project nodes sharing
/// the database may have deleted members.
pub const REVOCATION_SYNC: std::time::Duration = std::time::Duration::from_secs(3);

/// Keeps `node`'s revoked set equal to the store's: a member deleted through another project
/// node sharing the database is cut off here within [`REVOCATION_SYNC`].
pub fn spawn_revocation_sync(node: Node, store: Arc<AuthorityStore>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REVOCATION_SYNC);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let s = store.clone();
            // The store may block (a database round trip): never on a runtime worker.
            let Ok(Some(now)) = tokio::task::spawn_blocking(move || revoked_set(&s)).await else {
                continue;
            };
            if now != node.revoked() {
                tracing::info!(revoked = now.len(), "revocations changed in the store");
                node.set_revoked(now);
            }
        }
    });
}

/// The service worker.
pub struct Authority {
    cfg: Arc<AuthorityConfig>,
}

impl Authority {
    /// A service over `cfg`.
    pub fn new(cfg: AuthorityConfig) -> Self {
        Authority { cfg: Arc::new(cfg) }
    }

    /// Registers the service on `node` at [`crate::AUTHORITY_ADDRESS`].
    pub fn register(self, node: &Node) {
        node.router().register(
            Address::new(crate::AUTHORITY_ADDRESS).expect("valid"),
            airlock_node::Access::Service,
            Arc::new(self),
        );
    }
}

fn credential_for(cfg: &AuthorityConfig, m: &Member) -> Result<Value> {
    let subject: Identifier = m.identifier.parse()?;
    let mut attrs = m.attributes.clone();
    if let Some(r) = &m.relay {
        attrs.insert(RELAY_ATTRIBUTE.to_string(), r.clone());
    }
    if m.enroller || m.admin {
        attrs.insert(ENROLLER_ATTRIBUTE.to_string(), "true".to_string());
    }
    let c = Credential::issue(
        &cfg.identity,
        subject,
        attrs,
        unix_now(),
        cfg.credential_ttl,
    )?;
    Ok(
        json!({"credential": hex::encode(c.encode()), "expires_at": c.expires_at, "attributes": c.attributes}),
    )
}

fn check_ticket(t: &TicketRequest) -> Result<()> {
    if t.usage_count == 0 || t.usage_count > MAX_TICKET_USES {
        bail!("--usage-count must be between 1 and {MAX_TICKET_USES}");
    }
    if t.expires_in_secs == 0 || t.expires_in_secs > MAX_TICKET_LIFETIME {
        bail!("--expires-in must be between 1s and 30 days");
    }
    for k in t.attributes.keys() {
        if !valid_name(k) || k.starts_with("airlock.") {
            bail!("invalid attribute name {k:?}: use a-z 0-9 . _ - (names starting with 'airlock.' are reserved)");
        }
    }
    Ok(())
}

fn process(cfg: &AuthorityConfig, caller: &Identifier, req: AuthorityRequest) -> Result<Value> {
    let store = &cfg.store;
    let caller_s = caller.to_string();
    let me = store.member(&caller_s)?;
    let is_admin = me.as_ref().is_some_and(|m| m.admin);
    let require_admin = || -> Result<()> {
        if !is_admin {
            bail!("only project administrators may do this");
        }
        Ok(())
    };
    match req {
        AuthorityRequest::Enroll { secret } => {
            let mut s = [0u8; 32];
            hex::decode_to_slice(&secret, &mut s)
                .map_err(|_| anyhow::anyhow!("malformed ticket secret"))?;
            let m = store.redeem(&Ticket::secret_hash(&s), &caller_s, unix_now())??;
            tracing::info!(member = %caller, "member enrolled with a ticket");
            let mut v = credential_for(cfg, &m)?;
            v["member"] = serde_json::to_value(&m)?;
            Ok(v)
        }
        AuthorityRequest::Credential => match me {
            Some(m) => credential_for(cfg, &m),
            None => bail!("{caller} is not a member of project {:?}", cfg.project),
        },
        AuthorityRequest::CreateTicket { ticket } => {
            let allowed = me.as_ref().is_some_and(|m| m.admin || m.enroller);
            if !allowed {
                bail!("only administrators and enrollers may create tickets");
            }
            check_ticket(&ticket)?;
            let secret = Ticket::new_secret();
            let expires_at = unix_now() + ticket.expires_in_secs;
            store.create_ticket(
                &Ticket::secret_hash(&secret),
                &TicketSpec {
                    usage_count: ticket.usage_count,
                    expires_at,
                    attributes: ticket.attributes,
                    relay: ticket.relay,
                    enroller: ticket.enroller,
                },
                &caller_s,
                unix_now(),
            )?;
            Ok(
                json!({"secret": hex::encode(secret), "expires_at": expires_at, "usage_count": ticket.usage_count}),
            )
        }
        AuthorityRequest::Revoked => {
            if me.is_none() {
                bail!("{caller} is not a member of project {:?}", cfg.project);
            }
            Ok(serde_json::to_value(store.revoked()?)?)
        }
        AuthorityRequest::MemberList => {
            require_admin()?;
            Ok(serde_json::to_value(store.members()?)?)
        }
        AuthorityRequest::MemberShow { identifier } => {
            require_admin()?;
            match store.member(&identifier)? {
                Some(m) => Ok(serde_json::to_value(m)?),
                None => bail!("{identifier} is not a member"),
            }
        }
        AuthorityRequest::MemberAdd {
            identifier,
            attributes,
            relay,
            enroller,
        } => {
            require_admin()?;
            identifier.parse::<Identifier>()?;
            check_ticket(&TicketRequest {
                usage_count: 1,
                expires_in_secs: 1,
                attributes: attributes.clone(),
                relay: None,
                enroller,
            })?;
            let m = Member {
                identifier,
                attributes,
                relay,
                enroller,
                admin: false,
                added_at: unix_now(),
            };
            store.put_member(&m)?;
            Ok(serde_json::to_value(m)?)
        }
        AuthorityRequest::MemberDelete { identifier } => {
            require_admin()?;
            if identifier == caller_s {
                bail!("an administrator cannot delete itself");
            }
            if !store.delete_member(&identifier)? {
                bail!("{identifier} is not a member");
            }
            tracing::info!(member = %identifier, "member deleted");
            Ok(json!({"deleted": identifier}))
        }
    }
}

impl Worker for Authority {
    fn handle(&self, node: &Node, msg: Message) {
        let Some(peer) = msg.peer().cloned() else {
            tracing::warn!("authority request without a secure channel refused");
            return;
        };
        if msg.payload.len() > 64 * 1024 || msg.ret.is_empty() {
            return;
        }
        let body = msg.payload.data().to_vec();
        let (cfg, node, ret) = (self.cfg.clone(), node.clone(), msg.ret);
        tokio::spawn(async move {
            let caller = peer.identifier;
            let answer = tokio::task::spawn_blocking(move || {
                let req: AuthorityRequest = serde_json::from_slice(&body)
                    .map_err(|e| anyhow::anyhow!("bad request: {e}"))?;
                let deleting = matches!(req, AuthorityRequest::MemberDelete { .. });
                let v = process(&cfg, &caller, req)?;
                let revoked = if deleting {
                    revoked_set(&cfg.store)
                } else {
                    None
                };
                Ok::<_, anyhow::Error>((v, revoked))
            })
            .await;
            let v = match answer {
                Ok(Ok((v, revoked))) => {
                    if let Some(set) = revoked {
                        // Cut the deleted member off this node at once: its channels (and with
                        // them its relay registrations and portal paths) close.
                        node.set_revoked(set);
                    }
                    json!({"ok": true, "result": v})
                }
                // A store failure decides nothing: the caller should try again (elsewhere).
                Ok(Err(e)) if e.downcast_ref::<crate::store::StoreFailure>().is_some() => {
                    json!({"ok": false, "error": format!("{e:#}"), "retry": true})
                }
                Ok(Err(e)) => json!({"ok": false, "error": format!("{e:#}")}),
                // Not an answer to the request: the caller should try again (elsewhere).
                Err(_) => json!({"ok": false, "error": "internal error", "retry": true}),
            };
            node.dispatch(Message::new(
                ret,
                Route::single(Address::new(crate::AUTHORITY_ADDRESS).expect("valid")),
                Packet::copy_from(v.to_string().as_bytes()),
            ));
        });
    }
}
