//! The `authority` service of a project node.

use crate::api::{AuthorityRequest, TicketRequest};
use crate::limits::{AuthorityLimits, RateLimiter};
use crate::store::{AuthorityStore, Member, RedeemError, StoreError, TicketSpec};
use crate::{ENROLLER_ATTRIBUTE, RELAY_ATTRIBUTE};
use airlock_authority::{valid_attribute_name_pub as valid_name, Credential, Ticket};
use airlock_identity::{Identifier, IdentitySecret};
use airlock_node::{unix_now, Message, Node, Worker};
use airlock_wire::{Address, Packet, Route};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
    Credential(#[from] airlock_authority::CredentialError),
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

type Result<T, E = AuthorityError> = std::result::Result<T, E>;

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
pub async fn revoked_set(store: &AuthorityStore) -> Option<std::collections::HashSet<Identifier>> {
    match store.revoked().await {
        Ok(ids) => Some(ids.iter().filter_map(|s| s.parse().ok()).collect()),
        Err(e) => {
            tracing::warn!("cannot read revocations: {}", crate::error_text(&e));
            None
        }
    }
}

/// How often a project node re-reads the revocations in its store: other project nodes sharing
/// the database may have deleted members.
pub const REVOCATION_SYNC: std::time::Duration = std::time::Duration::from_secs(3);

/// Keeps `node`'s revoked set of `project` equal to the store's: a member deleted through
/// another project node sharing the database is cut off here within [`REVOCATION_SYNC`].
pub fn spawn_revocation_sync(node: Node, project: String, store: Arc<AuthorityStore>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REVOCATION_SYNC);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(now) = revoked_set(&store).await else {
                continue;
            };
            if now != node.revoked_in(&project) {
                tracing::info!(%project, revoked = now.len(), "revocations changed in the store");
                node.set_revoked(&project, now);
            }
        }
    });
}

/// The service worker.
pub struct Authority {
    cfg: Arc<AuthorityConfig>,
    limits: AuthorityLimits,
    in_flight: Arc<tokio::sync::Semaphore>,
    limiter: Arc<Limiter>,
}

/// The per-identity bucket of callers that are not members.
type Limiter = Mutex<RateLimiter<Identifier>>;

impl Authority {
    /// A service over `cfg` with the default [`AuthorityLimits`].
    pub fn new(cfg: AuthorityConfig) -> Self {
        Self::with_limits(cfg, AuthorityLimits::default())
    }

    /// A service over `cfg` with `limits`.
    pub fn with_limits(cfg: AuthorityConfig, limits: AuthorityLimits) -> Self {
        Authority {
            cfg: Arc::new(cfg),
            limits,
            in_flight: Arc::new(tokio::sync::Semaphore::new(limits.max_in_flight)),
            limiter: Arc::new(Mutex::new(RateLimiter::for_non_members(&limits))),
        }
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
    let subject: Identifier = m.identifier.parse().map_err(|e| StoreError::Corrupt {
        store: cfg.store.describe(),
        what: format!("member identifier {:?}: {e}", m.identifier),
    })?;
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
fn check_enroller_grant(enroller: &Member, t: &TicketRequest) -> Result<()> {
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

/// Takes a token from `caller`'s bucket, or refuses the request (callers that are not members).
fn rate_limit(limiter: Option<&Limiter>, caller: &Identifier) -> Result<()> {
    let Some(l) = limiter else {
        return Ok(());
    };
    let verdict = l.lock().expect("limiter").check(caller, Instant::now());
    if let Err(wait) = verdict {
        return Err(AuthorityError::RateLimited {
            caller: *caller,
            retry_after: wait,
        });
    }
    Ok(())
}

/// Decides one request of `caller`. Enroll attempts, and every request of a caller that is not
/// a member, pass `limiter` first (`None`: not limited).
async fn process(
    cfg: &AuthorityConfig,
    limiter: Option<&Limiter>,
    caller: &Identifier,
    req: AuthorityRequest,
) -> Result<Value> {
    let store = &cfg.store;
    let caller_s = caller.to_string();
    let enrolling = matches!(req, AuthorityRequest::Enroll { .. });
    if enrolling {
        rate_limit(limiter, caller)?;
    }
    let me = store.member(&caller_s).await?;
    if me.is_none() && !enrolling {
        rate_limit(limiter, caller)?;
    }
    let is_admin = me.as_ref().is_some_and(|m| m.admin);
    let require_admin = || -> Result<()> {
        if !is_admin {
            return Err(AuthorityError::AdminOnly);
        }
        Ok(())
    };
    let not_member = || AuthorityError::NotMember {
        caller: *caller,
        project: cfg.project.clone(),
    };
    match req {
        AuthorityRequest::Enroll { secret } => {
            let mut s = [0u8; 32];
            hex::decode_to_slice(&secret, &mut s)
                .map_err(|_| AuthorityError::InvalidInput("malformed ticket secret".into()))?;
            let m = store
                .redeem(&Ticket::secret_hash(&s), &caller_s, unix_now())
                .await??;
            tracing::info!(member = %caller, "member enrolled with a ticket");
            let mut v = credential_for(cfg, &m)?;
            v["member"] = json!(m);
            Ok(v)
        }
        AuthorityRequest::Credential => match me {
            Some(m) => credential_for(cfg, &m),
            None => Err(not_member()),
        },
        AuthorityRequest::CreateTicket { ticket } => {
            let allowed = me.as_ref().is_some_and(|m| m.admin || m.enroller);
            if !allowed {
                return Err(AuthorityError::TicketCreatorsOnly);
            }
            check_ticket(&ticket)?;
            if let Some(m) = me.as_ref().filter(|m| !m.admin) {
                check_enroller_grant(m, &ticket)?;
            }
            let secret = Ticket::new_secret();
            let expires_at = unix_now() + ticket.expires_in_secs;
            store
                .create_ticket(
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
                )
                .await?;
            Ok(
                json!({"secret": hex::encode(secret), "expires_at": expires_at, "usage_count": ticket.usage_count}),
            )
        }
        AuthorityRequest::Revoked => {
            if me.is_none() {
                return Err(not_member());
            }
            Ok(json!(store.revoked().await?))
        }
        AuthorityRequest::MemberList => {
            require_admin()?;
            Ok(json!(store.members().await?))
        }
        AuthorityRequest::MemberShow { identifier } => {
            require_admin()?;
            match store.member(&identifier).await? {
                Some(m) => Ok(json!(m)),
                None => Err(AuthorityError::NotFound(format!(
                    "{identifier} is not a member"
                ))),
            }
        }
        AuthorityRequest::MemberAdd {
            identifier,
            attributes,
            relay,
            enroller,
        } => {
            require_admin()?;
            identifier.parse::<Identifier>().map_err(|e| {
                AuthorityError::InvalidInput(format!("invalid identifier {identifier:?}: {e}"))
            })?;
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
            store.put_member(&m).await?;
            Ok(json!(m))
        }
        AuthorityRequest::MemberDelete { identifier } => {
            require_admin()?;
            if identifier == caller_s {
                return Err(AuthorityError::SelfDelete);
            }
            if !store.delete_member(&identifier).await? {
                return Err(AuthorityError::NotFound(format!(
                    "{identifier} is not a member"
                )));
            }
            tracing::info!(member = %identifier, "member deleted");
            Ok(json!({"deleted": identifier}))
        }
        AuthorityRequest::RelayList => {
            require_admin()?;
            Ok(json!(store.relay_bindings().await?))
        }
        AuthorityRequest::RelayOwner { name } => {
            if me.is_none() {
                return Err(not_member());
            }
            Ok(match store.relay_binding(&name).await? {
                Some(b) => json!({"name": name, "owner": b.owner, "bound_at": b.bound_at}),
                None => json!({"name": name, "owner": null, "bound_at": null}),
            })
        }
        AuthorityRequest::RelayRelease { name } => {
            require_admin()?;
            match store.release_relay(&name).await? {
                Some(b) => {
                    tracing::info!(relay = %name, owner = %b.owner, by = %caller, "relay binding released");
                    Ok(json!({"released": name, "owner": b.owner}))
                }
                None => Err(AuthorityError::NotFound(format!(
                    "relay {name:?} is not bound to anyone"
                ))),
            }
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
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            // Over the cap: nothing was decided, the caller should try again a little later.
            tracing::debug!(caller = %peer.identifier, "authority busy, request refused");
            answer(node, msg.ret, &busy_answer(self.limits.max_in_flight));
            return;
        };
        let body = msg.payload.data().to_vec();
        let (cfg, node, ret) = (self.cfg.clone(), node.clone(), msg.ret);
        let limiter = self.limiter.clone();
        let project = self.cfg.project.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let caller = peer.identifier;
            let answer_v = async {
                let req: AuthorityRequest = serde_json::from_slice(&body)
                    .map_err(|e| AuthorityError::BadRequest(e.to_string()))?;
                let deleting = matches!(req, AuthorityRequest::MemberDelete { .. });
                let v = process(&cfg, Some(&limiter), &caller, req).await?;
                let revoked = if deleting {
                    revoked_set(&cfg.store).await
                } else {
                    None
                };
                Ok::<_, AuthorityError>((v, revoked))
            }
            .await;
            let v = match answer_v {
                Ok((v, revoked)) => {
                    if let Some(set) = revoked {
                        // Cut the deleted member off this node at once: its channels (and with
                        // them its relay registrations and portal paths) close.
                        node.set_revoked(&project, set);
                    }
                    json!({"ok": true, "result": v})
                }
                // A store failure decides nothing: the caller should try again (elsewhere).
                Err(e) if e.is_retryable() => {
                    json!({"ok": false, "error": crate::error_text(&e), "retry": true})
                }
                Err(e) => json!({"ok": false, "error": crate::error_text(&e)}),
            };
            answer(&node, ret, &v);
        });
    }
}

/// The answer to a request over the cap of requests in flight: undecided, try again.
fn busy_answer(max_in_flight: usize) -> Value {
    json!({
        "ok": false,
        "error": format!(
            "the project's authority is busy ({max_in_flight} requests in flight); try again in a moment"
        ),
        "retry": true,
    })
}

/// Sends `v` back along `ret`.
fn answer(node: &Node, ret: Route, v: &Value) {
    node.dispatch(Message::new(
        ret,
        Route::single(Address::new(crate::AUTHORITY_ADDRESS).expect("valid")),
        Packet::copy_from(v.to_string().as_bytes()),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AuthorityConfig {
        AuthorityConfig {
            project: "p".into(),
            identity: IdentitySecret::create(unix_now()),
            credential_ttl: 600,
            store: Arc::new(AuthorityStore::in_memory().unwrap()),
        }
    }

    /// Adds a member with a fresh identity; returns its identifier.
    async fn add(cfg: &AuthorityConfig, f: impl FnOnce(&mut Member)) -> Identifier {
        let id = IdentitySecret::create(unix_now()).identifier();
        let mut m = Member {
            identifier: id.to_string(),
            attributes: Default::default(),
            relay: None,
            enroller: false,
            admin: false,
            added_at: unix_now(),
        };
        f(&mut m);
        cfg.store.put_member(&m).await.unwrap();
        id
    }

    fn ticket(f: impl FnOnce(&mut TicketRequest)) -> AuthorityRequest {
        let mut t = TicketRequest {
            usage_count: 1,
            expires_in_secs: 600,
            attributes: Default::default(),
            relay: None,
            enroller: false,
        };
        f(&mut t);
        AuthorityRequest::CreateTicket { ticket: t }
    }

    fn attrs(pairs: &[(&str, &str)]) -> airlock_authority::Attributes {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    async fn refusal(cfg: &AuthorityConfig, caller: &Identifier, req: AuthorityRequest) -> String {
        match process(cfg, None, caller, req).await {
            Ok(v) => panic!("accepted: {v}"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[tokio::test]
    async fn deleting_an_enroller_voids_its_tickets() {
        let cfg = config();
        let admin = add(&cfg, |m| m.admin = true).await;
        let enroller = add(&cfg, |m| m.enroller = true).await;
        let v = process(&cfg, None, &enroller, ticket(|t| t.usage_count = 5))
            .await
            .unwrap();
        let secret = v["secret"].as_str().unwrap().to_string();
        let newcomer = IdentitySecret::create(unix_now()).identifier();
        process(
            &cfg,
            None,
            &newcomer,
            AuthorityRequest::Enroll {
                secret: secret.clone(),
            },
        )
        .await
        .unwrap();
        process(
            &cfg,
            None,
            &admin,
            AuthorityRequest::MemberDelete {
                identifier: enroller.to_string(),
            },
        )
        .await
        .unwrap();
        let late = IdentitySecret::create(unix_now()).identifier();
        let e = refusal(&cfg, &late, AuthorityRequest::Enroll { secret }).await;
        assert!(e.contains("the member who created it was removed"), "{e}");
        // Whom it admitted before stays a member.
        assert!(cfg
            .store
            .member(&newcomer.to_string())
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test]
    async fn relay_bindings_are_listed_and_released_by_administrators_only() {
        let cfg = config();
        let admin = add(&cfg, |m| m.admin = true).await;
        let owner = add(&cfg, |m| m.relay = Some("*".into())).await;
        let member = add(&cfg, |_| {}).await;
        let outsider = IdentitySecret::create(unix_now()).identifier();
        cfg.store
            .bind_relay("db", &owner.to_string())
            .await
            .unwrap();

        // Members learn who holds a name; others do not.
        let owner_of = |caller: Identifier, name: &str| {
            let (cfg, name) = (&cfg, name.to_string());
            async move { process(cfg, None, &caller, AuthorityRequest::RelayOwner { name }).await }
        };
        assert_eq!(
            owner_of(member, "db").await.unwrap()["owner"],
            owner.to_string()
        );
        assert!(owner_of(member, "free").await.unwrap()["owner"].is_null());
        let e = format!("{:#}", owner_of(outsider, "db").await.unwrap_err());
        assert!(e.contains("not a member"), "{e}");

        for req in [
            AuthorityRequest::RelayList,
            AuthorityRequest::RelayRelease { name: "db".into() },
        ] {
            let e = refusal(&cfg, &member, req).await;
            assert!(e.contains("only project administrators"), "{e}");
        }
        let list = process(&cfg, None, &admin, AuthorityRequest::RelayList)
            .await
            .unwrap();
        assert_eq!(list[0]["name"], "db");
        assert_eq!(list[0]["owner"], owner.to_string());
        let v = process(
            &cfg,
            None,
            &admin,
            AuthorityRequest::RelayRelease { name: "db".into() },
        )
        .await
        .unwrap();
        assert_eq!(v["owner"], owner.to_string());
        let e = refusal(
            &cfg,
            &admin,
            AuthorityRequest::RelayRelease { name: "db".into() },
        )
        .await;
        assert!(e.contains("not bound"), "{e}");

        // Deleting a member releases its names.
        cfg.store
            .bind_relay("web", &owner.to_string())
            .await
            .unwrap();
        process(
            &cfg,
            None,
            &admin,
            AuthorityRequest::MemberDelete {
                identifier: owner.to_string(),
            },
        )
        .await
        .unwrap();
        assert!(owner_of(member, "web").await.unwrap()["owner"].is_null());
    }

    #[tokio::test]
    async fn enrollers_grant_only_a_subset_of_their_own_grants() {
        let cfg = config();
        let enroller = add(&cfg, |m| {
            m.enroller = true;
            m.relay = Some("r1".into());
            m.attributes = attrs(&[("team", "blue"), ("env", "prod")]);
        })
        .await;

        // What the enroller holds, it may pass on (all or part of it), within the caps.
        process(
            &cfg,
            None,
            &enroller,
            ticket(|t| {
                t.relay = Some("r1".into());
                t.attributes = attrs(&[("team", "blue")]);
                t.usage_count = ENROLLER_MAX_TICKET_USES;
                t.expires_in_secs = ENROLLER_MAX_TICKET_LIFETIME;
            }),
        )
        .await
        .unwrap();
        process(&cfg, None, &enroller, ticket(|_| {}))
            .await
            .unwrap();

        let e = refusal(&cfg, &enroller, ticket(|t| t.enroller = true)).await;
        assert!(
            e.contains("only project administrators may create enroller tickets"),
            "{e}"
        );
        let e = refusal(&cfg, &enroller, ticket(|t| t.relay = Some("r2".into()))).await;
        assert!(e.contains("relay \"r2\"") && e.contains("\"r1\""), "{e}");
        let e = refusal(&cfg, &enroller, ticket(|t| t.relay = Some("*".into()))).await;
        assert!(e.contains("relay \"*\""), "{e}");
        let e = refusal(
            &cfg,
            &enroller,
            ticket(|t| t.attributes = attrs(&[("team", "red")])),
        )
        .await;
        assert!(e.contains("team=red") && e.contains("team=blue"), "{e}");
        let e = refusal(
            &cfg,
            &enroller,
            ticket(|t| t.attributes = attrs(&[("admin-ish", "true")])),
        )
        .await;
        assert!(e.contains("admin-ish=true"), "{e}");
        let e = refusal(
            &cfg,
            &enroller,
            ticket(|t| t.usage_count = ENROLLER_MAX_TICKET_USES + 1),
        )
        .await;
        assert!(e.contains("at most 100 uses"), "{e}");
        let e = refusal(
            &cfg,
            &enroller,
            ticket(|t| t.expires_in_secs = ENROLLER_MAX_TICKET_LIFETIME + 1),
        )
        .await;
        assert!(e.contains("at most 7 days"), "{e}");

        // An enroller that may claim any relay may grant any relay name, or `*`.
        let wide = add(&cfg, |m| {
            m.enroller = true;
            m.relay = Some("*".into());
        })
        .await;
        for r in ["*", "r9"] {
            process(&cfg, None, &wide, ticket(|t| t.relay = Some(r.into())))
                .await
                .unwrap();
        }
        // One without relay permission grants none.
        let none = add(&cfg, |m| m.enroller = true).await;
        let e = refusal(&cfg, &none, ticket(|t| t.relay = Some("r1".into()))).await;
        assert!(e.contains("you hold no relay permission"), "{e}");

        // Administrators keep full power.
        let admin = add(&cfg, |m| m.admin = true).await;
        process(
            &cfg,
            None,
            &admin,
            ticket(|t| {
                t.enroller = true;
                t.relay = Some("*".into());
                t.attributes = attrs(&[("team", "red")]);
                t.usage_count = MAX_TICKET_USES;
                t.expires_in_secs = MAX_TICKET_LIFETIME;
            }),
        )
        .await
        .unwrap();

        // Plain members create no tickets at all.
        let member = add(&cfg, |_| {}).await;
        let e = refusal(&cfg, &member, ticket(|_| {})).await;
        assert!(e.contains("only administrators and enrollers"), "{e}");
    }
}
