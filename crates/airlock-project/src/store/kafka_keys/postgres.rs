//! The Kafka key directory on the PostgreSQL backend (shared by the project nodes of one
//! database: a key id taken through one node is taken at all of them).

use super::{StoredConsumerKey, StoredGrant, StoredKeyRecord};
use crate::store::postgres_backend::PgBackend;
use crate::store::Result;
use tokio_postgres::Row;

fn record_from_row(r: &Row) -> Result<StoredKeyRecord> {
    let key_id: Vec<u8> = r.try_get(0)?;
    Ok(StoredKeyRecord {
        key_id: key_id.try_into().unwrap_or_default(),
        producer: r.try_get(1)?,
        topic: r.try_get(2)?,
        created: r.try_get::<_, i64>(3)? as u64,
        header: r.try_get(4)?,
        producer_history: r.try_get(5)?,
    })
}

fn consumer_key_from_row(r: &Row) -> Result<StoredConsumerKey> {
    Ok(StoredConsumerKey {
        identifier: r.try_get(0)?,
        history: r.try_get(1)?,
        attestation: r.try_get(2)?,
        expires_at: r.try_get::<_, i64>(3)? as u64,
    })
}

const UPSERT_GRANT: &str =
    "INSERT INTO airlock_kafka_key_grants(key_id, recipient, signed_grant) VALUES ($1, $2, $3)
     ON CONFLICT (key_id, recipient) DO UPDATE SET signed_grant = excluded.signed_grant";

impl PgBackend {
    pub(in crate::store) async fn put_consumer_key(
        &self,
        k: &StoredConsumerKey,
        now: u64,
    ) -> Result<()> {
        let c = self.pool.get().await?;
        c.execute(
            "INSERT INTO airlock_kafka_consumer_keys(identifier, history, attestation, expires_at, published_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (identifier) DO UPDATE SET history = excluded.history,
               attestation = excluded.attestation, expires_at = excluded.expires_at,
               published_at = excluded.published_at",
            &[&k.identifier, &k.history, &k.attestation, &(k.expires_at as i64), &(now as i64)],
        )
        .await?;
        Ok(())
    }

    pub(in crate::store) async fn consumer_keys(
        &self,
        after: &str,
        now: u64,
        limit: u32,
    ) -> Result<Vec<StoredConsumerKey>> {
        self.all(
            "SELECT k.identifier, k.history, k.attestation, k.expires_at
             FROM airlock_kafka_consumer_keys k
             JOIN airlock_members m ON m.identifier = k.identifier
             WHERE k.identifier > $1 AND k.expires_at >= $2
             ORDER BY k.identifier LIMIT $3",
            &[&after, &(now as i64), &(limit as i64)],
            consumer_key_from_row,
        )
        .await
    }

    pub(in crate::store) async fn put_key_record(
        &self,
        rec: &StoredKeyRecord,
        grants: &[StoredGrant],
        now: u64,
    ) -> Result<bool> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // ON CONFLICT DO NOTHING: of two concurrent puts of one key id (from any project
        // node), exactly one inserts.
        let n = tx
            .execute(
                "INSERT INTO airlock_kafka_key_records(key_id, producer, topic, created, header, producer_history, stored_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key_id) DO NOTHING",
                &[
                    &&rec.key_id[..],
                    &rec.producer,
                    &rec.topic,
                    &(rec.created as i64),
                    &rec.header,
                    &rec.producer_history,
                    &(now as i64),
                ],
            )
            .await?;
        if n == 0 {
            return Ok(false);
        }
        for g in grants {
            tx.execute(
                UPSERT_GRANT,
                &[&&rec.key_id[..], &g.recipient, &g.signed_grant],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub(in crate::store) async fn key_record(
        &self,
        key_id: [u8; 8],
    ) -> Result<Option<StoredKeyRecord>> {
        self.one(
            "SELECT key_id, producer, topic, created, header, producer_history
             FROM airlock_kafka_key_records WHERE key_id = $1",
            &[&&key_id[..]],
            record_from_row,
        )
        .await
    }

    pub(in crate::store) async fn key_grant(
        &self,
        key_id: [u8; 8],
        recipient: &str,
    ) -> Result<Option<Vec<u8>>> {
        self.one(
            "SELECT signed_grant FROM airlock_kafka_key_grants WHERE key_id = $1 AND recipient = $2",
            &[&&key_id[..], &recipient],
            |r| Ok(r.try_get(0)?),
        )
        .await
    }

    pub(in crate::store) async fn producer_key_records(
        &self,
        producer: &str,
        since: u64,
        after: [u8; 8],
        limit: u32,
    ) -> Result<Vec<StoredKeyRecord>> {
        self.all(
            "SELECT key_id, producer, topic, created, header, producer_history
             FROM airlock_kafka_key_records WHERE producer = $1 AND created >= $2 AND key_id > $3
             ORDER BY key_id LIMIT $4",
            &[&producer, &(since as i64), &&after[..], &(limit as i64)],
            record_from_row,
        )
        .await
    }

    pub(in crate::store) async fn key_grant_recipients(
        &self,
        key_id: [u8; 8],
    ) -> Result<Vec<String>> {
        self.all(
            "SELECT recipient FROM airlock_kafka_key_grants WHERE key_id = $1 ORDER BY recipient",
            &[&&key_id[..]],
            |r| Ok(r.try_get(0)?),
        )
        .await
    }

    pub(in crate::store) async fn key_grant_count(&self, key_id: [u8; 8]) -> Result<u64> {
        let n = self
            .one(
                "SELECT COUNT(*) FROM airlock_kafka_key_grants WHERE key_id = $1",
                &[&&key_id[..]],
                |r| Ok(r.try_get::<_, i64>(0)?),
            )
            .await?;
        Ok(n.unwrap_or(0) as u64)
    }

    pub(in crate::store) async fn add_key_grants(
        &self,
        key_id: [u8; 8],
        grants: &[StoredGrant],
    ) -> Result<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        for g in grants {
            tx.execute(UPSERT_GRANT, &[&&key_id[..], &g.recipient, &g.signed_grant])
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
