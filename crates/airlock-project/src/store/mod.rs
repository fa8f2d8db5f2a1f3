//! The authority's storage: members, enrollment tickets, revocations and (for shared databases)
//! the project's keys.
//!
//! Two backends behind one [`AuthorityStore`]:
//! * SQLite (default; one file beside the node's state, WAL);
//! * PostgreSQL (`project create --database postgres://…`), which lets several project nodes
//!   serve one project: they share members, tickets and revocations, and load the project and
//!   authority identities from the database.
//!
//! Relay bindings (name → owner identifier) keep a relay name with the identity that first
//! registered it, across restarts, until an administrator releases it.
//!
//! Tickets are stored by the SHA-256 of their secret, with their creator: deleting a member
//! makes its unredeemed tickets unusable. Redeeming one is a single transaction that
//! locks the ticket row, checks expiry and remaining uses, decrements it and upserts the member,
//! so concurrent redemptions (from any number of project nodes) never admit more members than
//! the usage count.

mod error;
mod pg_pool;
mod pg_tls;
mod postgres_backend;
mod sqlite_backend;

pub use error::{BoxError, StoreError};
pub use pg_tls::TlsConfigError;

use airlock_credential::Attributes;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// A project member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Identifier.
    pub identifier: String,
    /// Attributes put in its credentials.
    pub attributes: Attributes,
    /// Relay name it may claim (`*` = any).
    pub relay: Option<String>,
    /// May create tickets.
    pub enroller: bool,
    /// Administrator (may manage members).
    pub admin: bool,
    /// Unix seconds.
    pub added_at: u64,
}

/// What a ticket grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketSpec {
    /// Enrollments allowed.
    pub usage_count: u32,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// Attributes of members enrolled with it.
    pub attributes: Attributes,
    /// Relay permission.
    pub relay: Option<String>,
    /// Members enrolled with it may create tickets.
    pub enroller: bool,
}

/// The secrets that make a project node speak for a project: stored in a shared database so
/// that every project node serving the project presents the same identities.
#[derive(Clone, PartialEq, Eq)]
pub struct ProjectKeys {
    /// Project name.
    pub name: String,
    /// Secret bytes of the project node identity (`IdentitySecret::to_secret_bytes`).
    pub project_identity: Vec<u8>,
    /// Secret bytes of the authority identity.
    pub authority_identity: Vec<u8>,
}

impl std::fmt::Debug for ProjectKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectKeys")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A relay name bound to the identity that first registered it at a project node
/// (docs/protocol.md §9.5): nobody else may register the name until an administrator releases it
/// (`airlock project relay release NAME`) or the owner is deleted from the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayBinding {
    /// Relay name.
    pub name: String,
    /// Identifier of the identity that holds it.
    pub owner: String,
    /// When it was bound (Unix seconds).
    pub bound_at: u64,
}

/// Why a redemption failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedeemError {
    /// No such ticket (never issued, or forged).
    #[error("the enrollment ticket is not valid for this project (unknown secret)")]
    Unknown,
    /// Expired.
    #[error("the enrollment ticket has expired; ask the project administrator for a new one")]
    Expired,
    /// Used up.
    #[error(
        "the enrollment ticket has already been used; ask the project administrator for a new one"
    )]
    UsedUp,
    /// The member who created the ticket has been deleted (its unredeemed tickets died with it).
    #[error(
        "the enrollment ticket is no longer valid: the member who created it was removed from the project; ask a project administrator for a new ticket"
    )]
    CreatorRemoved,
}

/// A stored ticket, as read inside a redemption.
struct TicketRow {
    remaining: i64,
    expires_at: i64,
    attributes: String,
    relay: Option<String>,
    enroller: bool,
    /// Its creator was deleted (the ticket was marked unusable then), or is no longer a member.
    creator_removed: bool,
}

impl TicketRow {
    /// Applies the redemption rules; on success, the member the ticket admits.
    fn admit(
        &self,
        identifier: &str,
        now: u64,
    ) -> std::result::Result<(Member, String), RedeemError> {
        if self.creator_removed {
            return Err(RedeemError::CreatorRemoved);
        }
        if (self.expires_at as u64) < now {
            return Err(RedeemError::Expired);
        }
        if self.remaining <= 0 {
            return Err(RedeemError::UsedUp);
        }
        Ok((
            Member {
                identifier: identifier.to_string(),
                attributes: serde_json::from_str(&self.attributes).unwrap_or_default(),
                relay: self.relay.clone(),
                enroller: self.enroller,
                admin: false,
                added_at: now,
            },
            self.attributes.clone(),
        ))
    }
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where the state lives.
enum Backend {
    /// A SQLite file (blocking I/O: run on the blocking thread pool).
    Sqlite(Arc<sqlite_backend::SqliteBackend>),
    /// A PostgreSQL database (async, pooled connections).
    Postgres(Box<postgres_backend::PgBackend>),
}

/// Authority state (SQLite or PostgreSQL). Every operation is async; none blocks a runtime
/// worker.
pub struct AuthorityStore {
    backend: Backend,
}

/// Runs `f` on the SQLite backend off the runtime's workers.
async fn on_sqlite<T: Send + 'static>(
    b: &Arc<sqlite_backend::SqliteBackend>,
    f: impl FnOnce(&sqlite_backend::SqliteBackend) -> Result<T> + Send + 'static,
) -> Result<T> {
    let b = b.clone();
    tokio::task::spawn_blocking(move || f(&b))
        .await
        .map_err(|e| StoreError::Query {
            store: String::new(),
            source: Box::new(e),
        })?
}

/// One store operation on either backend: `$pg` awaited on PostgreSQL, `$sqlite` (with owned
/// copies of its arguments, made by `$own`) on the blocking pool; errors name the store.
macro_rules! dispatch {
    ($self:ident, |$b:ident| $pg:expr, $($own:ident = $val:expr),* ; $sqlite:expr) => {{
        let r = match &$self.backend {
            Backend::Postgres($b) => $pg.await,
            Backend::Sqlite(s) => {
                $(let $own = $val;)*
                on_sqlite(s, move |$b| $sqlite).await
            }
        };
        r.map_err(|e| $self.named(e))
    }};
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// True if `s` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// `url` with any password (`user:password@` or a `password=` parameter) replaced by `***`,
/// for display and logs.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((auth, host)) => match auth.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => base.to_string(),
            },
            None => base.to_string(),
        },
        None => base.to_string(),
    };
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

impl AuthorityStore {
    /// Opens (creating) a SQLite store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(AuthorityStore {
            backend: Backend::Sqlite(Arc::new(sqlite_backend::SqliteBackend::open(path)?)),
        })
    }

    /// An in-memory SQLite store (tests).
    pub fn in_memory() -> Result<Self> {
        Ok(AuthorityStore {
            backend: Backend::Sqlite(Arc::new(sqlite_backend::SqliteBackend::in_memory()?)),
        })
    }

    /// Connects to a PostgreSQL database (`postgres://user[:password]@host[:port]/db`),
    /// creating the tables if needed. TLS (rustls) follows `sslmode` (`disable`, `prefer`,
    /// `require`, `verify-ca`, `verify-full`) and `sslrootcert=PATH` (a PEM CA file; default:
    /// the built-in web PKI roots) in the URL. Without `sslmode` it is `verify-full`, unless
    /// every host is a Unix socket or a loopback address (then `prefer`); see
    /// docs/protocol.md §9.8.
    ///
    /// It connects once to check the database (reachable, TLS as asked, tables created), and
    /// blocks the calling thread meanwhile (at most the connect timeout, 5 s unless the URL
    /// sets `connect_timeout`); later operations are async and use a small pool of connections
    /// opened on the runtime that runs them.
    pub fn postgres(url: &str) -> Result<Self> {
        Ok(AuthorityStore {
            backend: Backend::Postgres(Box::new(postgres_backend::PgBackend::connect(url)?)),
        })
    }

    /// `e`, naming this store if it does not yet.
    fn named(&self, e: StoreError) -> StoreError {
        e.at(&self.describe())
    }

    /// Where the state lives (password removed), for display.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite(b) => b.describe(),
            Backend::Postgres(b) => b.describe(),
        }
    }

    /// Adds or replaces a member (and lifts a revocation of it).
    pub async fn put_member(&self, m: &Member) -> Result<()> {
        dispatch!(self, |b| b.put_member(m), m = m.clone(); b.put_member(&m))
    }

    /// One member.
    pub async fn member(&self, identifier: &str) -> Result<Option<Member>> {
        dispatch!(self, |b| b.member(identifier), id = identifier.to_string(); b.member(&id))
    }

    /// All members, oldest first.
    pub async fn members(&self) -> Result<Vec<Member>> {
        dispatch!(self, |b| b.members(), ; b.members())
    }

    /// Removes a member and records the revocation; in the same transaction, the tickets it
    /// created that still have uses left become unusable ([`RedeemError::CreatorRemoved`], even
    /// if the member is added again later) and the relay names bound to it are released (other
    /// members may claim them; inlets that pinned it keep refusing the new holder). Returns
    /// whether it existed.
    pub async fn delete_member(&self, identifier: &str) -> Result<bool> {
        let now = now();
        dispatch!(self, |b| b.delete_member(identifier, now), id = identifier.to_string(); b.delete_member(&id, now))
    }

    /// Identifiers of deleted members (not re-admitted since), newest first.
    pub async fn revoked(&self) -> Result<Vec<String>> {
        dispatch!(self, |b| b.revoked(), ; b.revoked())
    }

    /// Stores a ticket.
    pub async fn create_ticket(
        &self,
        secret_hash: &[u8; 32],
        spec: &TicketSpec,
        created_by: &str,
        now: u64,
    ) -> Result<()> {
        dispatch!(
            self,
            |b| b.create_ticket(secret_hash, spec, created_by, now),
            hash = *secret_hash, spec = spec.clone(), by = created_by.to_string();
            b.create_ticket(&hash, &spec, &by, now)
        )
    }

    /// Redeems a ticket for `identifier` atomically; returns the member record.
    pub async fn redeem(
        &self,
        secret_hash: &[u8; 32],
        identifier: &str,
        now: u64,
    ) -> Result<std::result::Result<Member, RedeemError>> {
        dispatch!(
            self,
            |b| b.redeem(secret_hash, identifier, now),
            hash = *secret_hash, id = identifier.to_string();
            b.redeem(&hash, &id, now)
        )
    }

    /// Records `keys` as the project this database holds, unless it already holds one; returns
    /// the keys it holds afterwards (the given ones, or those of the project created before).
    pub async fn claim_project(&self, keys: &ProjectKeys) -> Result<ProjectKeys> {
        let now = now();
        dispatch!(self, |b| b.claim_project(keys, now), keys = keys.clone(); b.claim_project(&keys, now))
    }

    /// Binds relay `name` to `owner` unless it is bound already (atomically, also across
    /// project nodes sharing a database); returns the binding held afterwards, whose owner is
    /// `owner` only if the name was free or already `owner`'s.
    pub async fn bind_relay(&self, name: &str, owner: &str) -> Result<RelayBinding> {
        let now = now();
        dispatch!(
            self,
            |b| b.bind_relay(name, owner, now),
            name = name.to_string(), owner = owner.to_string();
            b.bind_relay(&name, &owner, now)
        )
    }

    /// Who relay `name` is bound to, if anyone.
    pub async fn relay_binding(&self, name: &str) -> Result<Option<RelayBinding>> {
        dispatch!(self, |b| b.relay_binding(name), name = name.to_string(); b.relay_binding(&name))
    }

    /// Every relay binding, by name.
    pub async fn relay_bindings(&self) -> Result<Vec<RelayBinding>> {
        dispatch!(self, |b| b.relay_bindings(), ; b.relay_bindings())
    }

    /// Releases relay `name`; returns the binding it had, if any.
    pub async fn release_relay(&self, name: &str) -> Result<Option<RelayBinding>> {
        dispatch!(self, |b| b.release_relay(name), name = name.to_string(); b.release_relay(&name))
    }

    /// The project this database holds, if any.
    pub async fn project_keys(&self) -> Result<Option<ProjectKeys>> {
        dispatch!(self, |b| b.project_keys(), ; b.project_keys())
    }
}

mod kafka_keys;
pub use kafka_keys::{StoredConsumerKey, StoredGrant, StoredKeyRecord};

#[cfg(test)]
mod tests;
