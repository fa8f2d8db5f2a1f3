//! PostgreSQL backend: shared by every project node that serves the project.
//!
//! The synchronous `postgres` client drives its own small runtime, so it must never run on (or
//! be dropped by) an async worker thread. It lives on one dedicated thread; callers send it
//! jobs and block on the answer, exactly as they would on a SQLite mutex. A lost connection is
//! re-established before the next job. Tables are prefixed `airlock_` so the database may hold
//! other things; they are created under an advisory lock so two nodes starting at once do not
//! race.

use super::StoreError;
use super::{
    pg_tls, Backend, Member, ProjectKeys, RedeemError, RelayBinding, TicketRow, TicketSpec,
};
use postgres::{Client, NoTls, Row};
use std::sync::mpsc;
use std::sync::Mutex;

type Result<T, E = StoreError> = std::result::Result<T, E>;
type Job = Box<dyn FnOnce(Option<&mut Client>) + Send>;

pub(super) struct PgBackend {
    jobs: Mutex<mpsc::Sender<Job>>,
    shown: String,
}

const SCHEMA_LOCK: i64 = 0x0061_6972_6c6f_636b; // "airlock"

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS airlock_members (
    identifier TEXT PRIMARY KEY,
    attributes TEXT NOT NULL,
    relay TEXT,
    enroller BOOLEAN NOT NULL DEFAULT FALSE,
    admin BOOLEAN NOT NULL DEFAULT FALSE,
    added_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS airlock_tickets (
    secret_hash BYTEA PRIMARY KEY,
    remaining BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attributes TEXT NOT NULL,
    relay TEXT,
    enroller BOOLEAN NOT NULL DEFAULT FALSE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- Added after the first release: existing tables gain the column (idempotent).
ALTER TABLE airlock_tickets ADD COLUMN IF NOT EXISTS invalidated_at BIGINT;
CREATE INDEX IF NOT EXISTS airlock_tickets_created_by ON airlock_tickets (created_by);
CREATE TABLE IF NOT EXISTS airlock_revoked (
    identifier TEXT PRIMARY KEY,
    revoked_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS airlock_project (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    name TEXT NOT NULL,
    project_identity BYTEA NOT NULL,
    authority_identity BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
-- Added later: created on existing databases too (idempotent).
CREATE TABLE IF NOT EXISTS airlock_relay_bindings (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    bound_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS airlock_relay_bindings_owner ON airlock_relay_bindings (owner);";

fn connect(url: &str) -> Result<Client> {
    let shown = super::redact_url(url);
    let (rest, mode, root) = pg_tls::split_url(url);
    let invalid = |e: super::BoxError| StoreError::InvalidUrl {
        url: shown.clone(),
        source: e,
    };
    let mut config: postgres::Config = rest.parse().map_err(|e| invalid(Box::new(e)))?;
    let tls = pg_tls::settings(&mut config, mode.as_deref(), root.as_deref())
        .map_err(|e| invalid(Box::new(e)))?;
    // A database that does not answer must not hold authority requests for minutes.
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(5));
    }
    config.keepalives(true);
    config.keepalives_idle(std::time::Duration::from_secs(30));
    let connector = pg_tls::connector(&tls).map_err(|source| StoreError::TlsSetup {
        url: shown.clone(),
        tls: tls.describe(),
        source,
    })?;
    let connected = match connector {
        Some(connector) => config.connect(connector),
        None => config.connect(NoTls),
    };
    let mut client = match connected {
        Ok(c) => c,
        Err(e) => {
            return Err(StoreError::Connect {
                url: shown,
                tls: tls.describe(),
                hint: pg_tls::hint(&e, &tls),
                source: Box::new(e),
            })
        }
    };
    let schema = |source: postgres::Error| StoreError::Schema {
        store: shown.clone(),
        source: Box::new(source),
    };
    let mut tx = client.transaction().map_err(schema)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .map_err(schema)?;
    tx.batch_execute(SCHEMA).map_err(schema)?;
    tx.commit().map_err(schema)?;
    Ok(client)
}

impl PgBackend {
    pub(super) fn connect(url: &str) -> Result<Self> {
        let shown = super::redact_url(url);
        // Connect on the database thread itself, so the client never leaves it.
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<()>>(1);
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let url = url.to_string();
        std::thread::Builder::new()
            .name("airlock-postgres".into())
            .spawn(move || {
                let mut client = match connect(&url) {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        Some(c)
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let mut last_attempt = std::time::Instant::now();
                for job in jobs_rx {
                    // Reconnect at most once a second; jobs in between fail fast.
                    if client.as_ref().is_none_or(|c| c.is_closed())
                        && last_attempt.elapsed() >= std::time::Duration::from_secs(1)
                    {
                        last_attempt = std::time::Instant::now();
                        client = match connect(&url) {
                            Ok(c) => {
                                tracing::info!("reconnected to the database");
                                Some(c)
                            }
                            Err(e) => {
                                tracing::warn!("database unavailable: {e:#}");
                                None
                            }
                        };
                    }
                    job(client.as_mut());
                }
            })
            .map_err(|e| StoreError::Query {
                store: shown.clone(),
                source: Box::new(e),
            })?;
        ready_rx.recv().map_err(|_| stopped(&shown))??;
        Ok(PgBackend {
            jobs: Mutex::new(jobs_tx),
            shown,
        })
    }

    /// Runs `f` with the client on the database thread and waits for its answer.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        let url = self.shown.clone();
        let job: Job = Box::new(move |c| {
            let r = match c {
                Some(c) => f(c),
                None => Err(StoreError::Unavailable {
                    url,
                    waited: std::time::Duration::ZERO,
                }),
            };
            let _ = tx.send(r);
        });
        self.jobs
            .lock()
            .expect("jobs")
            .send(job)
            .map_err(|_| stopped(&self.shown))?;
        rx.recv()
            .map_err(|_| stopped(&self.shown))?
            .map_err(|e| e.at(&self.shown))
    }
}

/// The database thread is gone: nothing can be asked of it.
fn stopped(shown: &str) -> StoreError {
    StoreError::Unavailable {
        url: shown.to_string(),
        waited: std::time::Duration::ZERO,
    }
}

fn member_from_row(r: &Row) -> Result<Member> {
    let attrs: String = r.try_get(1)?;
    Ok(Member {
        identifier: r.try_get(0)?,
        attributes: serde_json::from_str(&attrs).unwrap_or_default(),
        relay: r.try_get(2)?,
        enroller: r.try_get(3)?,
        admin: r.try_get(4)?,
        added_at: r.try_get::<_, i64>(5)? as u64,
    })
}

fn binding_from_row(r: &Row) -> Result<RelayBinding> {
    Ok(RelayBinding {
        name: r.try_get(0)?,
        owner: r.try_get(1)?,
        bound_at: r.try_get::<_, i64>(2)? as u64,
    })
}

fn keys_from_row(r: &Row) -> Result<ProjectKeys> {
    Ok(ProjectKeys {
        name: r.try_get(0)?,
        project_identity: r.try_get(1)?,
        authority_identity: r.try_get(2)?,
    })
}

const MEMBER_COLUMNS: &str = "identifier, attributes, relay, enroller, admin, added_at";

impl Backend for PgBackend {
    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn put_member(&self, m: &Member) -> Result<()> {
        let m = m.clone();
        let attrs = serde_json::to_string(&m.attributes)?;
        self.call(move |c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "DELETE FROM airlock_revoked WHERE identifier = $1",
                &[&m.identifier],
            )?;
            tx.execute(
                "INSERT INTO airlock_members(identifier, attributes, relay, enroller, admin, added_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (identifier) DO UPDATE SET attributes = excluded.attributes,
                   relay = excluded.relay, enroller = excluded.enroller, admin = excluded.admin",
                &[&m.identifier, &attrs, &m.relay, &m.enroller, &m.admin, &(m.added_at as i64)],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn member(&self, identifier: &str) -> Result<Option<Member>> {
        let id = identifier.to_string();
        self.call(move |c| {
            c.query_opt(
                &format!("SELECT {MEMBER_COLUMNS} FROM airlock_members WHERE identifier = $1"),
                &[&id],
            )?
            .as_ref()
            .map(member_from_row)
            .transpose()
        })
    }

    fn members(&self) -> Result<Vec<Member>> {
        self.call(|c| {
            c.query(
                &format!(
                    "SELECT {MEMBER_COLUMNS} FROM airlock_members ORDER BY added_at, identifier"
                ),
                &[],
            )?
            .iter()
            .map(member_from_row)
            .collect()
        })
    }

    fn delete_member(&self, identifier: &str, now: u64) -> Result<bool> {
        let id = identifier.to_string();
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let n = tx.execute("DELETE FROM airlock_members WHERE identifier = $1", &[&id])?;
            if n > 0 {
                tx.execute(
                    "INSERT INTO airlock_revoked(identifier, revoked_at) VALUES ($1, $2)
                     ON CONFLICT (identifier) DO UPDATE SET revoked_at = excluded.revoked_at",
                    &[&id, &(now as i64)],
                )?;
                tx.execute(
                    "UPDATE airlock_tickets SET invalidated_at = $2
                     WHERE created_by = $1 AND invalidated_at IS NULL AND remaining > 0",
                    &[&id, &(now as i64)],
                )?;
                tx.execute(
                    "DELETE FROM airlock_relay_bindings WHERE owner = $1",
                    &[&id],
                )?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn revoked(&self) -> Result<Vec<String>> {
        self.call(|c| {
            c.query(
                "SELECT identifier FROM airlock_revoked ORDER BY revoked_at DESC LIMIT 10000",
                &[],
            )?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
        })
    }

    fn create_ticket(
        &self,
        secret_hash: &[u8; 32],
        spec: &TicketSpec,
        created_by: &str,
        now: u64,
    ) -> Result<()> {
        let (hash, spec, by) = (secret_hash.to_vec(), spec.clone(), created_by.to_string());
        let attrs = serde_json::to_string(&spec.attributes)?;
        self.call(move |c| {
            c.execute(
                "INSERT INTO airlock_tickets(secret_hash, remaining, expires_at, attributes, relay, enroller, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &hash,
                    &(spec.usage_count as i64),
                    &(spec.expires_at as i64),
                    &attrs,
                    &spec.relay,
                    &spec.enroller,
                    &by,
                    &(now as i64),
                ],
            )?;
            Ok(())
        })
    }

    fn redeem(
        &self,
        secret_hash: &[u8; 32],
        identifier: &str,
        now: u64,
    ) -> Result<std::result::Result<Member, RedeemError>> {
        let (hash, id) = (secret_hash.to_vec(), identifier.to_string());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            // FOR UPDATE: a concurrent redemption (from this or another project node) waits
            // here and then reads the decremented count.
            let row = tx.query_opt(
                "SELECT t.remaining, t.expires_at, t.attributes, t.relay, t.enroller,
                   t.invalidated_at IS NOT NULL OR NOT EXISTS
                     (SELECT 1 FROM airlock_members m WHERE m.identifier = t.created_by)
                 FROM airlock_tickets t WHERE t.secret_hash = $1 FOR UPDATE OF t",
                &[&hash],
            )?;
            let Some(row) = row else {
                return Ok(Err(RedeemError::Unknown));
            };
            let row = TicketRow {
                remaining: row.try_get(0)?,
                expires_at: row.try_get(1)?,
                attributes: row.try_get(2)?,
                relay: row.try_get(3)?,
                enroller: row.try_get(4)?,
                creator_removed: row.try_get(5)?,
            };
            let (member, attrs) = match row.admit(&id, now) {
                Ok(m) => m,
                Err(e) => return Ok(Err(e)),
            };
            tx.execute(
                "UPDATE airlock_tickets SET remaining = remaining - 1 WHERE secret_hash = $1",
                &[&hash],
            )?;
            tx.execute(
                "INSERT INTO airlock_members(identifier, attributes, relay, enroller, admin, added_at)
                 VALUES ($1, $2, $3, $4, FALSE, $5)
                 ON CONFLICT (identifier) DO UPDATE SET attributes = excluded.attributes,
                   relay = excluded.relay, enroller = excluded.enroller",
                &[&id, &attrs, &member.relay, &member.enroller, &(now as i64)],
            )?;
            tx.execute("DELETE FROM airlock_revoked WHERE identifier = $1", &[&id])?;
            tx.commit()?;
            Ok(Ok(member))
        })
    }

    fn claim_project(&self, keys: &ProjectKeys, now: u64) -> Result<ProjectKeys> {
        let keys = keys.clone();
        self.call(move |c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "INSERT INTO airlock_project(singleton, name, project_identity, authority_identity, created_at)
                 VALUES (TRUE, $1, $2, $3, $4) ON CONFLICT (singleton) DO NOTHING",
                &[&keys.name, &keys.project_identity, &keys.authority_identity, &(now as i64)],
            )?;
            let held = tx.query_one(
                "SELECT name, project_identity, authority_identity FROM airlock_project",
                &[],
            )?;
            tx.commit()?;
            keys_from_row(&held)
        })
    }

    fn bind_relay(&self, name: &str, owner: &str, now: u64) -> Result<RelayBinding> {
        let (name, owner) = (name.to_string(), owner.to_string());
        self.call(move |c| {
            // Concurrent first registrations (from any project node) insert one row; every
            // one of them then reads the same owner.
            c.execute(
                "INSERT INTO airlock_relay_bindings(name, owner, bound_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &owner, &(now as i64)],
            )?;
            let held = c.query_one(
                "SELECT name, owner, bound_at FROM airlock_relay_bindings WHERE name = $1",
                &[&name],
            )?;
            binding_from_row(&held)
        })
    }

    fn relay_binding(&self, name: &str) -> Result<Option<RelayBinding>> {
        let name = name.to_string();
        self.call(move |c| {
            c.query_opt(
                "SELECT name, owner, bound_at FROM airlock_relay_bindings WHERE name = $1",
                &[&name],
            )?
            .as_ref()
            .map(binding_from_row)
            .transpose()
        })
    }

    fn relay_bindings(&self) -> Result<Vec<RelayBinding>> {
        self.call(|c| {
            c.query(
                "SELECT name, owner, bound_at FROM airlock_relay_bindings ORDER BY name",
                &[],
            )?
            .iter()
            .map(binding_from_row)
            .collect()
        })
    }

    fn release_relay(&self, name: &str) -> Result<Option<RelayBinding>> {
        let name = name.to_string();
        self.call(move |c| {
            c.query_opt(
                "DELETE FROM airlock_relay_bindings WHERE name = $1 RETURNING name, owner, bound_at",
                &[&name],
            )?
            .as_ref()
            .map(binding_from_row)
            .transpose()
        })
    }

    fn project_keys(&self) -> Result<Option<ProjectKeys>> {
        self.call(|c| {
            c.query_opt(
                "SELECT name, project_identity, authority_identity FROM airlock_project",
                &[],
            )?
            .as_ref()
            .map(keys_from_row)
            .transpose()
        })
    }
}
