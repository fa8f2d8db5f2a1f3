//! The authority's storage (SQLite, WAL).
//!
//! Tickets are stored by the SHA-256 of their secret; redeeming one is a single immediate
//! transaction that checks expiry and remaining uses, decrements (or deletes) the ticket and
//! upserts the member, so concurrent redemptions never admit more members than the usage count.

use airlock_authority::Attributes;
use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Mutex;

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
}

/// Authority state.
pub struct AuthorityStore {
    db: Mutex<Connection>,
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
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS revoked (
    identifier TEXT PRIMARY KEY,
    revoked_at INTEGER NOT NULL
);";

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

impl AuthorityStore {
    /// Opens (creating) the store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let db =
            Connection::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        db.busy_timeout(std::time::Duration::from_secs(10))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.execute_batch(SCHEMA)?;
        Ok(AuthorityStore { db: Mutex::new(db) })
    }

    /// An in-memory store (tests).
    pub fn in_memory() -> Result<Self> {
        let db = Connection::open_in_memory()?;
        db.execute_batch(SCHEMA)?;
        Ok(AuthorityStore { db: Mutex::new(db) })
    }

    /// Adds or replaces a member.
    pub fn put_member(&self, m: &Member) -> Result<()> {
        let db = self.db.lock().expect("db");
        db.execute("DELETE FROM revoked WHERE identifier = ?1", [&m.identifier])?;
        db.execute(
            "INSERT INTO members(identifier, attributes, relay, enroller, admin, added_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(identifier) DO UPDATE SET attributes = excluded.attributes, relay = excluded.relay,
               enroller = excluded.enroller, admin = excluded.admin",
            params![m.identifier, serde_json::to_string(&m.attributes)?, m.relay, m.enroller as i64, m.admin as i64, m.added_at as i64],
        )?;
        Ok(())
    }

    /// One member.
    pub fn member(&self, identifier: &str) -> Result<Option<Member>> {
        Ok(self
            .db
            .lock()
            .expect("db")
            .query_row(
                "SELECT identifier, attributes, relay, enroller, admin, added_at FROM members WHERE identifier = ?1",
                [identifier],
                member_from_row,
            )
            .optional()?)
    }

    /// All members.
    pub fn members(&self) -> Result<Vec<Member>> {
        let db = self.db.lock().expect("db");
        let mut st = db.prepare("SELECT identifier, attributes, relay, enroller, admin, added_at FROM members ORDER BY added_at, identifier")?;
        let rows = st.query_map([], member_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Removes a member and records the revocation; returns whether it existed.
    pub fn delete_member(&self, identifier: &str) -> Result<bool> {
        let mut db = self.db.lock().expect("db");
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute("DELETE FROM members WHERE identifier = ?1", [identifier])?;
        if n > 0 {
            tx.execute(
                "INSERT OR REPLACE INTO revoked(identifier, revoked_at) VALUES (?1, strftime('%s','now'))",
                [identifier],
            )?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    /// Identifiers of deleted members (not re-admitted since).
    pub fn revoked(&self) -> Result<Vec<String>> {
        let db = self.db.lock().expect("db");
        let mut st =
            db.prepare("SELECT identifier FROM revoked ORDER BY revoked_at DESC LIMIT 10000")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores a ticket.
    pub fn create_ticket(
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

    /// Redeems a ticket for `identifier` atomically; returns the member record.
    pub fn redeem(
        &self,
        secret_hash: &[u8; 32],
        identifier: &str,
        now: u64,
    ) -> Result<std::result::Result<Member, RedeemError>> {
        let mut db = self.db.lock().expect("db");
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(i64, i64, String, Option<String>, i64)> = tx
            .query_row(
                "SELECT remaining, expires_at, attributes, relay, enroller FROM tickets WHERE secret_hash = ?1",
                [&secret_hash[..]],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((remaining, expires_at, attrs, relay, enroller)) = row else {
            return Ok(Err(RedeemError::Unknown));
        };
        if (expires_at as u64) < now {
            return Ok(Err(RedeemError::Expired));
        }
        if remaining <= 0 {
            return Ok(Err(RedeemError::UsedUp));
        }
        tx.execute(
            "UPDATE tickets SET remaining = remaining - 1 WHERE secret_hash = ?1",
            [&secret_hash[..]],
        )?;
        let member = Member {
            identifier: identifier.to_string(),
            attributes: serde_json::from_str(&attrs).unwrap_or_default(),
            relay,
            enroller: enroller != 0,
            admin: false,
            added_at: now,
        };
        tx.execute(
            "INSERT INTO members(identifier, attributes, relay, enroller, admin, added_at) VALUES (?1, ?2, ?3, ?4, 0, ?5)
             ON CONFLICT(identifier) DO UPDATE SET attributes = excluded.attributes, relay = excluded.relay, enroller = excluded.enroller",
            params![identifier, attrs, member.relay, enroller, now as i64],
        )?;
        tx.execute("DELETE FROM revoked WHERE identifier = ?1", [identifier])?;
        tx.commit()?;
        Ok(Ok(member))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn spec(n: u32, expires_at: u64) -> TicketSpec {
        TicketSpec {
            usage_count: n,
            expires_at,
            attributes: [("mongodb-inlet".to_string(), "true".to_string())].into(),
            relay: None,
            enroller: false,
        }
    }

    #[test]
    fn redeem_rules() {
        let s = AuthorityStore::in_memory().unwrap();
        let h = [1u8; 32];
        s.create_ticket(&h, &spec(1, 1000), "Iadmin", 0).unwrap();
        assert_eq!(
            s.redeem(&[2u8; 32], "Ia", 10).unwrap(),
            Err(RedeemError::Unknown)
        );
        let m = s.redeem(&h, "Ia", 10).unwrap().unwrap();
        assert_eq!(m.attributes["mongodb-inlet"], "true");
        assert_eq!(s.redeem(&h, "Ib", 10).unwrap(), Err(RedeemError::UsedUp));
        s.create_ticket(&[3u8; 32], &spec(5, 100), "Iadmin", 0)
            .unwrap();
        assert_eq!(
            s.redeem(&[3u8; 32], "Ic", 101).unwrap(),
            Err(RedeemError::Expired)
        );
        assert_eq!(s.members().unwrap().len(), 1);
        assert!(s.delete_member("Ia").unwrap());
        assert!(s.member("Ia").unwrap().is_none());
        assert_eq!(s.revoked().unwrap(), vec!["Ia".to_string()]);
    }

    #[test]
    fn fifty_concurrent_redemptions_of_a_one_use_ticket_admit_exactly_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authority.sqlite");
        let s = AuthorityStore::open(&path).unwrap();
        let h = [9u8; 32];
        s.create_ticket(&h, &spec(1, u64::MAX / 2), "Iadmin", 0)
            .unwrap();
        drop(s);
        // Separate connections, as separate project node processes sharing one database would.
        let barrier = Arc::new(std::sync::Barrier::new(50));
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let s = AuthorityStore::open(&path).unwrap();
                    barrier.wait();
                    s.redeem(&h, &format!("I{i}"), 10).unwrap().is_ok()
                })
            })
            .collect();
        let admitted = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(admitted, 1);
        assert_eq!(
            AuthorityStore::open(&path)
                .unwrap()
                .members()
                .unwrap()
                .len(),
            1
        );
    }
}
