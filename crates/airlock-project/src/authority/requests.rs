//! Deciding one request of an authenticated caller: who may do what, tickets, members, relay
//! bindings and credentials.

use super::grants::{check_enroller_grant, check_ticket};
use super::{AuthorityConfig, AuthorityError, Limiter};
use crate::api::{AuthorityRequest, TicketRequest};
use crate::store::{Member, StoreError, TicketSpec};
use crate::{ENROLLER_ATTRIBUTE, RELAY_ATTRIBUTE};
use airlock_credential::{Credential, Ticket};
use airlock_identity::Identifier;
use airlock_node::unix_now;
use serde_json::{json, Value};
use std::time::Instant;

type Result<T, E = AuthorityError> = std::result::Result<T, E>;

/// A member's credential as the authority issues it now: `{"credential": hex, "expires_at",
/// "attributes"}` (the authority's `credential` answer, and the key directory's consumer list).
pub(crate) fn credential_for(cfg: &AuthorityConfig, m: &Member) -> Result<Value> {
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
pub(super) async fn process(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::grants::*;
    use crate::store::AuthorityStore;
    use airlock_identity::IdentitySecret;
    use std::sync::Arc;

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

    fn attrs(pairs: &[(&str, &str)]) -> airlock_credential::Attributes {
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
