//! SQLite backend: one file, WAL, immediate transactions for redemption and deletion.

use super::StoreError;
use super::{Member, ProjectKeys, RedeemError, RelayBinding, TicketRow, TicketSpec};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::Mutex;

type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(super) struct SqliteBackend {
    pub(super) db: Mutex<Connection>,
    path: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS members (
    identifier TEXT PRIMARY KEY,
    attributes TEXT NOT NULL,
    relay TEXT,
    enroller INTEGER NOT NULL DEFAULT 0,
    admin INTEGER NOT NULL DEFAULT 0,
    added_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tickets (
    secret_hash BLOB PRIMARY KEY,
    remaining INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attributes TEXT NOT NULL,
    relay TEXT,
    enroller INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    invalidated_at INTEGER
);
CREATE TABLE IF NOT EXISTS revoked (
    identifier TEXT PRIMARY KEY,
    revoked_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS project (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    name TEXT NOT NULL,
    project_identity BLOB NOT NULL,
    authority_identity BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS relay_bindings (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    bound_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS relay_bindings_owner ON relay_bindings(owner);
-- Kafka key directory (issue #12): created on existing databases too (`IF NOT EXISTS`).
CREATE TABLE IF NOT EXISTS kafka_consumer_keys (
    identifier TEXT PRIMARY KEY,
    history BLOB NOT NULL,
    attestation BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    published_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kafka_key_records (
    key_id BLOB PRIMARY KEY,
    producer TEXT NOT NULL,
    topic TEXT NOT NULL,
    created INTEGER NOT NULL,
    header BLOB NOT NULL,
    producer_history BLOB NOT NULL,
    stored_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS kafka_key_records_producer ON kafka_key_records (producer, key_id);
CREATE TABLE IF NOT EXISTS kafka_key_grants (
    key_id BLOB NOT NULL,
    recipient TEXT NOT NULL,
    signed_grant BLOB NOT NULL,
    PRIMARY KEY (key_id, recipient)
);";

/// Brings a database created by an earlier version up to [`SCHEMA`]; idempotent. Tickets
/// gained `invalidated_at` (set when their creator is deleted) and an index on `created_by`;
/// the `relay_bindings` table is created by [`SCHEMA`] itself (`IF NOT EXISTS`).
fn migrate(db: &mut Connection) -> rusqlite::Result<()> {
    let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let has_column = tx
        .prepare("SELECT 1 FROM pragma_table_info('tickets') WHERE name = 'invalidated_at'")?
        .exists([])?;
    if !has_column {
        tx.execute_batch("ALTER TABLE tickets ADD COLUMN invalidated_at INTEGER")?;
    }
    tx.execute_batch("CREATE INDEX IF NOT EXISTS tickets_created_by ON tickets(created_by)")?;
    tx.commit()?;
    Ok(())
}

fn member_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Member> {
    let attrs: String = r.get(1)?;
    Ok(Member {
        identifier: r.get(0)?,
        attributes: serde_json::from_str(&attrs).unwrap_or_default(),
        relay: r.get(2)?,
        enroller: r.get::<_, i64>(3)? != 0,
        admin: r.get::<_, i64>(4)? != 0,
        added_at: r.get::<_, i64>(5)? as u64,
    })
}

impl SqliteBackend {
    pub(super) fn open(path: &Path) -> Result<Self> {
        let mut db = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        db.busy_timeout(std::time::Duration::from_secs(10))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.execute_batch(SCHEMA)?;
        migrate(&mut db).map_err(|e| StoreError::Schema {
            store: format!("sqlite:{}", path.display()),
            source: Box::new(e),
        })?;
        Ok(SqliteBackend {
            db: Mutex::new(db),
            path: path.display().to_string(),
        })
    }

    pub(super) fn in_memory() -> Result<Self> {
        let mut db = Connection::open_in_memory()?;
        db.execute_batch(SCHEMA)?;
        migrate(&mut db)?;
        Ok(SqliteBackend {
            db: Mutex::new(db),
            path: ":memory:".into(),
        })
    }
}

const MEMBER_COLUMNS: &str = "identifier, attributes, relay, enroller, admin, added_at";

impl SqliteBackend {
    pub(super) fn describe(&self) -> String {
        format!("sqlite:{}", self.path)
    }

    pub(super) fn put_member(&self, m: &Member) -> Result<()> {
        let mut db = self.db.lock().expect("db");
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM revoked WHERE identifier = ?1", [&m.identifier])?;
        tx.execute(
            "INSERT INTO members(identifier, attributes, relay, enroller, admin, added_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(identifier) DO UPDATE SET attributes = excluded.attributes, relay = excluded.relay,
               enroller = excluded.enroller, admin = excluded.admin",
            params![m.identifier, serde_json::to_string(&m.attributes)?, m.relay, m.enroller as i64, m.admin as i64, m.added_at as i64],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub(super) fn member(&self, identifier: &str) -> Result<Option<Member>> {
        Ok(self
            .db
            .lock()
            .expect("db")
            .query_row(
                &format!("SELECT {MEMBER_COLUMNS} FROM members WHERE identifier = ?1"),
                [identifier],
                member_from_row,
            )
            .optional()?)
    }

    pub(super) fn members(&self) -> Result<Vec<Member>> {
        let db = self.db.lock().expect("db");
        let mut st = db.prepare(&format!(
            "SELECT {MEMBER_COLUMNS} FROM members ORDER BY added_at, identifier"
        ))?;
        let rows = st.query_map([], member_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(super) fn delete_member(&self, identifier: &str, now: u64) -> Result<bool> {
        let mut db = self.db.lock().expect("db");
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute("DELETE FROM members WHERE identifier = ?1", [identifier])?;
        if n > 0 {
            tx.execute(
                "INSERT OR REPLACE INTO revoked(identifier, revoked_at) VALUES (?1, ?2)",
                params![identifier, now as i64],
            )?;
            tx.execute(
                "UPDATE tickets SET invalidated_at = ?2
                 WHERE created_by = ?1 AND invalidated_at IS NULL AND remaining > 0",
                params![identifier, now as i64],
            )?;
            tx.execute("DELETE FROM relay_bindings WHERE owner = ?1", [identifier])?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    pub(super) fn revoked(&self) -> Result<Vec<String>> {
        let db = self.db.lock().expect("db");
        let mut st =
            db.prepare("SELECT identifier FROM revoked ORDER BY revoked_at DESC LIMIT 10000")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(super) fn create_ticket(
        &self,
        secret_hash: &[u8; 32],
        spec: &TicketSpec,
        created_by: &str,
        now: u64,
    ) -> Result<()> {
        self.db.lock().expect("db").execute(
            "INSERT INTO tickets(secret_hash, remaining, expires_at, attributes, relay, enroller, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                &secret_hash[..],
                spec.usage_count as i64,
                spec.expires_at as i64,
                serde_json::to_string(&spec.attributes)?,
                spec.relay,
                spec.enroller as i64,
                created_by,
                now as i64
            ],
        )?;
        Ok(())
    }

    pub(super) fn redeem(
        &self,
        secret_hash: &[u8; 32],
        identifier: &str,
        now: u64,
    ) -> Result<std::result::Result<Member, RedeemError>> {
        let mut db = self.db.lock().expect("db");
        // IMMEDIATE takes the write lock up front: concurrent redemptions queue here.
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = tx
            .query_row(
                "SELECT t.remaining, t.expires_at, t.attributes, t.relay, t.enroller,
                   t.invalidated_at IS NOT NULL
                   OR NOT EXISTS (SELECT 1 FROM members m WHERE m.identifier = t.created_by)
                 FROM tickets t WHERE t.secret_hash = ?1",
                [&secret_hash[..]],
                |r| {
                    Ok(TicketRow {
                        remaining: r.get(0)?,
                        expires_at: r.get(1)?,
                        attributes: r.get(2)?,
                        relay: r.get(3)?,
                        enroller: r.get::<_, i64>(4)? != 0,
                        creator_removed: r.get::<_, i64>(5)? != 0,
                    })
                },
            )
            .optional()?;
        let Some(row) = row else {
            return Ok(Err(RedeemError::Unknown));
        };
        let (member, attrs) = match row.admit(identifier, now) {
            Ok(m) => m,
            Err(e) => return Ok(Err(e)),
        };
        tx.execute(
            "UPDATE tickets SET remaining = remaining - 1 WHERE secret_hash = ?1",
            [&secret_hash[..]],
        )?;
        tx.execute(
            "INSERT INTO members(identifier, attributes, relay, enroller, admin, added_at) VALUES (?1, ?2, ?3, ?4, 0, ?5)
             ON CONFLICT(identifier) DO UPDATE SET attributes = excluded.attributes, relay = excluded.relay, enroller = excluded.enroller",
            params![identifier, attrs, member.relay, member.enroller as i64, now as i64],
        )?;
        tx.execute("DELETE FROM revoked WHERE identifier = ?1", [identifier])?;
        tx.commit()?;
        Ok(Ok(member))
    }

    pub(super) fn claim_project(&self, keys: &ProjectKeys, now: u64) -> Result<ProjectKeys> {
        let mut db = self.db.lock().expect("db");
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR IGNORE INTO project(singleton, name, project_identity, authority_identity, created_at) VALUES (1, ?1, ?2, ?3, ?4)",
            params![keys.name, keys.project_identity, keys.authority_identity, now as i64],
        )?;
        let held = tx.query_row(
            "SELECT name, project_identity, authority_identity FROM project WHERE singleton = 1",
            [],
            keys_from_row,
        )?;
        tx.commit()?;
        Ok(held)
    }

    pub(super) fn bind_relay(&self, name: &str, owner: &str, now: u64) -> Result<RelayBinding> {
        let mut db = self.db.lock().expect("db");
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR IGNORE INTO relay_bindings(name, owner, bound_at) VALUES (?1, ?2, ?3)",
            params![name, owner, now as i64],
        )?;
        let held = tx.query_row(
            "SELECT name, owner, bound_at FROM relay_bindings WHERE name = ?1",
            [name],
            binding_from_row,
        )?;
        tx.commit()?;
        Ok(held)
    }

    pub(super) fn relay_binding(&self, name: &str) -> Result<Option<RelayBinding>> {
        Ok(self
            .db
            .lock()
            .expect("db")
            .query_row(
                "SELECT name, owner, bound_at FROM relay_bindings WHERE name = ?1",
                [name],
                binding_from_row,
            )
            .optional()?)
    }

    pub(super) fn relay_bindings(&self) -> Result<Vec<RelayBinding>> {
        let db = self.db.lock().expect("db");
        let mut st =
            db.prepare("SELECT name, owner, bound_at FROM relay_bindings ORDER BY name")?;
        let rows = st.query_map([], binding_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(super) fn release_relay(&self, name: &str) -> Result<Option<RelayBinding>> {
        let mut db = self.db.lock().expect("db");
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held = tx
            .query_row(
                "SELECT name, owner, bound_at FROM relay_bindings WHERE name = ?1",
                [name],
                binding_from_row,
            )
            .optional()?;
        tx.execute("DELETE FROM relay_bindings WHERE name = ?1", [name])?;
        tx.commit()?;
        Ok(held)
    }

    pub(super) fn project_keys(&self) -> Result<Option<ProjectKeys>> {
        Ok(self
            .db
            .lock()
            .expect("db")
            .query_row(
                "SELECT name, project_identity, authority_identity FROM project WHERE singleton = 1",
                [],
                keys_from_row,
            )
            .optional()?)
    }
}

fn binding_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RelayBinding> {
    Ok(RelayBinding {
        name: r.get(0)?,
        owner: r.get(1)?,
        bound_at: r.get::<_, i64>(2)? as u64,
    })
}

fn keys_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProjectKeys> {
    Ok(ProjectKeys {
        name: r.get(0)?,
        project_identity: r.get(1)?,
        authority_identity: r.get(2)?,
    })
}
