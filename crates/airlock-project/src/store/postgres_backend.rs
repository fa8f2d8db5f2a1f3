//! PostgreSQL backend: shared by every project node that serves the project.
//!
//! Async all the way: `tokio-postgres` connections from a small bounded pool ([`super::pg_pool`])
//! on the runtime that serves the request, so a database round trip parks a task, never a
//! thread. Tables are prefixed `airlock_` so the database may hold other things; they are
//! created under an advisory lock so two nodes starting at once do not race.

use super::pg_pool::{Pool, Target};
use super::{Member, ProjectKeys, RedeemError, RelayBinding, StoreError, TicketRow, TicketSpec};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(super) struct PgBackend {
    pub(super) pool: Pool,
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
CREATE INDEX IF NOT EXISTS airlock_relay_bindings_owner ON airlock_relay_bindings (owner);
-- Kafka key directory (issue #12): created on existing databases too (idempotent).
CREATE TABLE IF NOT EXISTS airlock_kafka_consumer_keys (
    identifier TEXT PRIMARY KEY,
    history BYTEA NOT NULL,
    attestation BYTEA NOT NULL,
    expires_at BIGINT NOT NULL,
    published_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS airlock_kafka_key_records (
    key_id BYTEA PRIMARY KEY,
    producer TEXT NOT NULL,
    topic TEXT NOT NULL,
    created BIGINT NOT NULL,
    header BYTEA NOT NULL,
    producer_history BYTEA NOT NULL,
    stored_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS airlock_kafka_key_records_producer ON airlock_kafka_key_records (producer, key_id);
CREATE TABLE IF NOT EXISTS airlock_kafka_key_grants (
    key_id BYTEA NOT NULL,
    recipient TEXT NOT NULL,
    signed_grant BYTEA NOT NULL,
    PRIMARY KEY (key_id, recipient)
);";

/// Creates (or upgrades) the authority tables, under an advisory lock.
async fn create_schema(client: &mut Client, shown: &str) -> Result<()> {
    let schema = |source: tokio_postgres::Error| StoreError::Schema {
        store: shown.to_string(),
        source: Box::new(source),
    };
    let tx = client.transaction().await.map_err(schema)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await
        .map_err(schema)?;
    tx.batch_execute(SCHEMA).await.map_err(schema)?;
    tx.commit().await.map_err(schema)
}

impl PgBackend {
    /// Checks the database at `url` (reachable, TLS as asked, tables created) and returns a
    /// backend whose pool connects on first use.
    ///
    /// The check runs on a thread of its own with a short-lived runtime, so that this works
    /// both outside any runtime (the CLI's `project create`) and on one (a node starting its
    /// project services); the connection it made closes with that runtime, and the pool opens
    /// its own on the runtime of the requests that need them.
    pub(super) fn connect(url: &str) -> Result<Self> {
        let target = Target::parse(url)?;
        std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| StoreError::Query {
                        store: target.shown.clone(),
                        source: Box::new(e),
                    })?;
                rt.block_on(async {
                    let mut client = target.connect().await?;
                    create_schema(&mut client, &target.shown).await
                })
            })
            .join()
            .expect("the database check does not panic")
        })?;
        Ok(PgBackend {
            pool: Pool::new(target),
        })
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

/// Statement parameters.
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl PgBackend {
    pub(super) fn describe(&self) -> String {
        self.pool.shown().to_string()
    }

    /// The row `sql` returns, if any, read by `from_row`.
    pub(super) async fn one<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        from_row: fn(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        let c = self.pool.get().await?;
        c.query_opt(sql, params)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Every row `sql` returns, read by `from_row`.
    pub(super) async fn all<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        from_row: fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let c = self.pool.get().await?;
        c.query(sql, params).await?.iter().map(from_row).collect()
    }

    pub(super) async fn put_member(&self, m: &Member) -> Result<()> {
        let attrs = serde_json::to_string(&m.attributes)?;
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "DELETE FROM airlock_revoked WHERE identifier = $1",
            &[&m.identifier],
        )
        .await?;
        tx.execute(
            "INSERT INTO airlock_members(identifier, attributes, relay, enroller, admin, added_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (identifier) DO UPDATE SET attributes = excluded.attributes,
               relay = excluded.relay, enroller = excluded.enroller, admin = excluded.admin",
            &[
                &m.identifier,
                &attrs,
                &m.relay,
                &m.enroller,
                &m.admin,
                &(m.added_at as i64),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn member(&self, identifier: &str) -> Result<Option<Member>> {
        self.one(
            &format!("SELECT {MEMBER_COLUMNS} FROM airlock_members WHERE identifier = $1"),
            &[&identifier],
            member_from_row,
        )
        .await
    }

    pub(super) async fn members(&self) -> Result<Vec<Member>> {
        self.all(
            &format!("SELECT {MEMBER_COLUMNS} FROM airlock_members ORDER BY added_at, identifier"),
            &[],
            member_from_row,
        )
        .await
    }

    pub(super) async fn delete_member(&self, identifier: &str, now: u64) -> Result<bool> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "DELETE FROM airlock_members WHERE identifier = $1",
                &[&identifier],
            )
            .await?;
        if n > 0 {
            tx.execute(
                "INSERT INTO airlock_revoked(identifier, revoked_at) VALUES ($1, $2)
                 ON CONFLICT (identifier) DO UPDATE SET revoked_at = excluded.revoked_at",
                &[&identifier, &(now as i64)],
            )
            .await?;
            tx.execute(
                "UPDATE airlock_tickets SET invalidated_at = $2
                 WHERE created_by = $1 AND invalidated_at IS NULL AND remaining > 0",
                &[&identifier, &(now as i64)],
            )
            .await?;
            tx.execute(
                "DELETE FROM airlock_relay_bindings WHERE owner = $1",
                &[&identifier],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    pub(super) async fn revoked(&self) -> Result<Vec<String>> {
        self.all(
            "SELECT identifier FROM airlock_revoked ORDER BY revoked_at DESC LIMIT 10000",
            &[],
            |r| Ok(r.try_get(0)?),
        )
        .await
    }

    pub(super) async fn create_ticket(
        &self,
        secret_hash: &[u8; 32],
        spec: &TicketSpec,
        created_by: &str,
        now: u64,
    ) -> Result<()> {
        let attrs = serde_json::to_string(&spec.attributes)?;
        let c = self.pool.get().await?;
        c.execute(
            "INSERT INTO airlock_tickets(secret_hash, remaining, expires_at, attributes, relay, enroller, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &&secret_hash[..],
                &(spec.usage_count as i64),
                &(spec.expires_at as i64),
                &attrs,
                &spec.relay,
                &spec.enroller,
                &created_by,
                &(now as i64),
            ],
        )
        .await?;
        Ok(())
    }

    pub(super) async fn redeem(
        &self,
        secret_hash: &[u8; 32],
        identifier: &str,
        now: u64,
    ) -> Result<std::result::Result<Member, RedeemError>> {
        let hash = &secret_hash[..];
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // FOR UPDATE: a concurrent redemption (from this or another project node) waits
        // here and then reads the decremented count.
        let row = tx
            .query_opt(
                "SELECT t.remaining, t.expires_at, t.attributes, t.relay, t.enroller,
                   t.invalidated_at IS NOT NULL OR NOT EXISTS
                     (SELECT 1 FROM airlock_members m WHERE m.identifier = t.created_by)
                 FROM airlock_tickets t WHERE t.secret_hash = $1 FOR UPDATE OF t",
                &[&hash],
            )
            .await?;
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
        let (member, attrs) = match row.admit(identifier, now) {
            Ok(m) => m,
            Err(e) => return Ok(Err(e)),
        };
        tx.execute(
            "UPDATE airlock_tickets SET remaining = remaining - 1 WHERE secret_hash = $1",
            &[&hash],
        )
        .await?;
        tx.execute(
            "INSERT INTO airlock_members(identifier, attributes, relay, enroller, admin, added_at)
             VALUES ($1, $2, $3, $4, FALSE, $5)
             ON CONFLICT (identifier) DO UPDATE SET attributes = excluded.attributes,
               relay = excluded.relay, enroller = excluded.enroller",
            &[
                &identifier,
                &attrs,
                &member.relay,
                &member.enroller,
                &(now as i64),
            ],
        )
        .await?;
        tx.execute(
            "DELETE FROM airlock_revoked WHERE identifier = $1",
            &[&identifier],
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(member))
    }

    pub(super) async fn claim_project(&self, keys: &ProjectKeys, now: u64) -> Result<ProjectKeys> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "INSERT INTO airlock_project(singleton, name, project_identity, authority_identity, created_at)
             VALUES (TRUE, $1, $2, $3, $4) ON CONFLICT (singleton) DO NOTHING",
            &[&keys.name, &keys.project_identity, &keys.authority_identity, &(now as i64)],
        )
        .await?;
        let held = tx
            .query_one(
                "SELECT name, project_identity, authority_identity FROM airlock_project",
                &[],
            )
            .await?;
        tx.commit().await?;
        keys_from_row(&held)
    }

    pub(super) async fn bind_relay(
        &self,
        name: &str,
        owner: &str,
        now: u64,
    ) -> Result<RelayBinding> {
        let c = self.pool.get().await?;
        // Concurrent first registrations (from any project node) insert one row; every
        // one of them then reads the same owner.
        c.execute(
            "INSERT INTO airlock_relay_bindings(name, owner, bound_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
            &[&name, &owner, &(now as i64)],
        )
        .await?;
        let held = c
            .query_one(
                "SELECT name, owner, bound_at FROM airlock_relay_bindings WHERE name = $1",
                &[&name],
            )
            .await?;
        binding_from_row(&held)
    }

    pub(super) async fn relay_binding(&self, name: &str) -> Result<Option<RelayBinding>> {
        self.one(
            "SELECT name, owner, bound_at FROM airlock_relay_bindings WHERE name = $1",
            &[&name],
            binding_from_row,
        )
        .await
    }

    pub(super) async fn relay_bindings(&self) -> Result<Vec<RelayBinding>> {
        self.all(
            "SELECT name, owner, bound_at FROM airlock_relay_bindings ORDER BY name",
            &[],
            binding_from_row,
        )
        .await
    }

    pub(super) async fn release_relay(&self, name: &str) -> Result<Option<RelayBinding>> {
        self.one(
            "DELETE FROM airlock_relay_bindings WHERE name = $1 RETURNING name, owner, bound_at",
            &[&name],
            binding_from_row,
        )
        .await
    }

    pub(super) async fn project_keys(&self) -> Result<Option<ProjectKeys>> {
        self.one(
            "SELECT name, project_identity, authority_identity FROM airlock_project",
            &[],
            keys_from_row,
        )
        .await
    }
}
