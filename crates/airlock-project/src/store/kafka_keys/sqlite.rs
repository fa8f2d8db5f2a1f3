//! The Kafka key directory on the SQLite backend.

use super::{StoredConsumerKey, StoredGrant, StoredKeyRecord};
use crate::store::sqlite_backend::SqliteBackend;
use crate::store::Result;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

fn record_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredKeyRecord> {
    let key_id: Vec<u8> = r.get(0)?;
    Ok(StoredKeyRecord {
        key_id: key_id.try_into().unwrap_or_default(),
        producer: r.get(1)?,
        topic: r.get(2)?,
        created: r.get::<_, i64>(3)? as u64,
        header: r.get(4)?,
        producer_history: r.get(5)?,
    })
}

impl SqliteBackend {
    pub(in crate::store) fn put_consumer_key(&self, k: &StoredConsumerKey, now: u64) -> Result<()> {
        self.db.lock().expect("db").execute(
            "INSERT INTO kafka_consumer_keys(identifier, history, attestation, expires_at, published_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(identifier) DO UPDATE SET history = excluded.history,
               attestation = excluded.attestation, expires_at = excluded.expires_at,
               published_at = excluded.published_at",
            params![k.identifier, k.history, k.attestation, k.expires_at as i64, now as i64],
        )?;
        Ok(())
    }

    pub(in crate::store) fn consumer_keys(
        &self,
        after: &str,
        now: u64,
        limit: u32,
    ) -> Result<Vec<StoredConsumerKey>> {
        let db = self.db.lock().expect("db");
        let mut st = db.prepare(
            "SELECT k.identifier, k.history, k.attestation, k.expires_at
             FROM kafka_consumer_keys k JOIN members m ON m.identifier = k.identifier
             WHERE k.identifier > ?1 AND k.expires_at >= ?2
             ORDER BY k.identifier LIMIT ?3",
        )?;
        let rows = st.query_map(params![after, now as i64, limit as i64], |r| {
            Ok(StoredConsumerKey {
                identifier: r.get(0)?,
                history: r.get(1)?,
                attestation: r.get(2)?,
                expires_at: r.get::<_, i64>(3)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(in crate::store) fn put_key_record(
        &self,
        rec: &StoredKeyRecord,
        grants: &[StoredGrant],
        now: u64,
    ) -> Result<bool> {
        let mut db = self.db.lock().expect("db");
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "INSERT OR IGNORE INTO kafka_key_records(key_id, producer, topic, created, header, producer_history, stored_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                &rec.key_id[..],
                rec.producer,
                rec.topic,
                rec.created as i64,
                rec.header,
                rec.producer_history,
                now as i64
            ],
        )?;
        if n == 0 {
            return Ok(false);
        }
        insert_grants(&tx, rec.key_id, grants)?;
        tx.commit()?;
        Ok(true)
    }

    pub(in crate::store) fn key_record(&self, key_id: [u8; 8]) -> Result<Option<StoredKeyRecord>> {
        Ok(self
            .db
            .lock()
            .expect("db")
            .query_row(
                "SELECT key_id, producer, topic, created, header, producer_history
                 FROM kafka_key_records WHERE key_id = ?1",
                [&key_id[..]],
                record_from_row,
            )
            .optional()?)
    }

    pub(in crate::store) fn key_grant(
        &self,
        key_id: [u8; 8],
        recipient: &str,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self
            .db
            .lock()
            .expect("db")
            .query_row(
                "SELECT signed_grant FROM kafka_key_grants WHERE key_id = ?1 AND recipient = ?2",
                params![&key_id[..], recipient],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub(in crate::store) fn producer_key_records(
        &self,
        producer: &str,
        since: u64,
        after: [u8; 8],
        limit: u32,
    ) -> Result<Vec<StoredKeyRecord>> {
        let db = self.db.lock().expect("db");
        let mut st = db.prepare(
            "SELECT key_id, producer, topic, created, header, producer_history
             FROM kafka_key_records WHERE producer = ?1 AND created >= ?2 AND key_id > ?3
             ORDER BY key_id LIMIT ?4",
        )?;
        let rows = st.query_map(
            params![producer, since as i64, &after[..], limit as i64],
            record_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(in crate::store) fn key_grant_recipients(&self, key_id: [u8; 8]) -> Result<Vec<String>> {
        let db = self.db.lock().expect("db");
        let mut st = db.prepare(
            "SELECT recipient FROM kafka_key_grants WHERE key_id = ?1 ORDER BY recipient",
        )?;
        let rows = st.query_map([&key_id[..]], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(in crate::store) fn key_grant_count(&self, key_id: [u8; 8]) -> Result<u64> {
        let n: i64 = self.db.lock().expect("db").query_row(
            "SELECT COUNT(*) FROM kafka_key_grants WHERE key_id = ?1",
            [&key_id[..]],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    pub(in crate::store) fn add_key_grants(
        &self,
        key_id: [u8; 8],
        grants: &[StoredGrant],
    ) -> Result<()> {
        let mut db = self.db.lock().expect("db");
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_grants(&tx, key_id, grants)?;
        tx.commit()?;
        Ok(())
    }
}

fn insert_grants(
    tx: &rusqlite::Transaction<'_>,
    key_id: [u8; 8],
    grants: &[StoredGrant],
) -> Result<()> {
    let mut st = tx.prepare(
        "INSERT INTO kafka_key_grants(key_id, recipient, signed_grant) VALUES (?1, ?2, ?3)
         ON CONFLICT(key_id, recipient) DO UPDATE SET signed_grant = excluded.signed_grant",
    )?;
    for g in grants {
        st.execute(params![&key_id[..], g.recipient, g.signed_grant])?;
    }
    Ok(())
}
