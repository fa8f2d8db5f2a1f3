//! The Kafka key directory's state (docs/kafka-encryption.md §7): members' consumer key
//! attestations, producers' key records and their grants, on either backend.
//!
//! The store keeps bytes it was given after the directory service checked them: it decides
//! nothing but key id uniqueness (an insert that fails on a taken key id, atomically, also across
//! project nodes sharing a PostgreSQL database) and which consumer keys are listed (those of
//! current members that have not expired).
//!
//! Tables (SQLite; PostgreSQL prefixes `airlock_`): `kafka_consumer_keys` (one row per member),
//! `kafka_key_records` (one per key id: the record encoded without grants, and the producer's
//! change history it was checked against) and `kafka_key_grants` (one per key id and
//! recipient). They are created when a store opens, on existing databases too.

mod postgres;
mod sqlite;

use super::{on_sqlite, AuthorityStore, Backend, Result};

/// A member's published consumer key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConsumerKey {
    /// The member's identifier (text form).
    pub identifier: String,
    /// The member's change history (encoding), which the attestation verified against.
    pub history: Vec<u8>,
    /// The consumer key attestation (encoding).
    pub attestation: Vec<u8>,
    /// When the attestation expires (Unix seconds): it is not listed after.
    pub expires_at: u64,
}

/// A key record as stored, without its grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKeyRecord {
    /// The key id.
    pub key_id: [u8; 8],
    /// The producer's identifier (text form).
    pub producer: String,
    /// The Kafka topic.
    pub topic: String,
    /// The record's creation time (Unix seconds).
    pub created: u64,
    /// The record encoded with no grants (header, signature, count 0).
    pub header: Vec<u8>,
    /// The producer's change history (encoding) the record verified against.
    pub producer_history: Vec<u8>,
}

/// One recipient's signed grant (encoding) in a key record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGrant {
    /// The recipient's identifier (text form).
    pub recipient: String,
    /// The signed grant (grant ‖ producer signature).
    pub signed_grant: Vec<u8>,
}

impl AuthorityStore {
    /// Records (or replaces) a member's consumer key.
    pub async fn put_consumer_key(&self, key: &StoredConsumerKey) -> Result<()> {
        let now = super::now();
        dispatch!(self, |b| b.put_consumer_key(key, now), key = key.clone(); b.put_consumer_key(&key, now))
    }

    /// Up to `limit` consumer keys of current members whose attestation has not expired at
    /// `now`, with identifiers after `after` (`""`: from the first), by identifier.
    pub async fn consumer_keys(
        &self,
        after: &str,
        now: u64,
        limit: u32,
    ) -> Result<Vec<StoredConsumerKey>> {
        dispatch!(
            self,
            |b| b.consumer_keys(after, now, limit),
            after = after.to_string();
            b.consumer_keys(&after, now, limit)
        )
    }

    /// Stores a key record with its grants, unless its key id is taken; returns whether it
    /// was stored.
    pub async fn put_key_record(
        &self,
        record: &StoredKeyRecord,
        grants: &[StoredGrant],
    ) -> Result<bool> {
        let now = super::now();
        dispatch!(
            self,
            |b| b.put_key_record(record, grants, now),
            record = record.clone(), grants = grants.to_vec();
            b.put_key_record(&record, &grants, now)
        )
    }

    /// The key record `key_id` (without grants), if stored.
    pub async fn key_record(&self, key_id: [u8; 8]) -> Result<Option<StoredKeyRecord>> {
        dispatch!(self, |b| b.key_record(key_id), ; b.key_record(key_id))
    }

    /// `recipient`'s grant in key record `key_id`, if any.
    pub async fn key_grant(&self, key_id: [u8; 8], recipient: &str) -> Result<Option<Vec<u8>>> {
        dispatch!(
            self,
            |b| b.key_grant(key_id, recipient),
            recipient = recipient.to_string();
            b.key_grant(key_id, &recipient)
        )
    }

    /// Up to `limit` key records of `producer` created at or after `since`, with key ids after
    /// `after`, by key id (how a restarted producer finds the keys it made, §4.3).
    pub async fn producer_key_records(
        &self,
        producer: &str,
        since: u64,
        after: [u8; 8],
        limit: u32,
    ) -> Result<Vec<StoredKeyRecord>> {
        dispatch!(
            self,
            |b| b.producer_key_records(producer, since, after, limit),
            producer = producer.to_string();
            b.producer_key_records(&producer, since, after, limit)
        )
    }

    /// The recipients of the grants key record `key_id` holds, by identifier.
    pub async fn key_grant_recipients(&self, key_id: [u8; 8]) -> Result<Vec<String>> {
        dispatch!(self, |b| b.key_grant_recipients(key_id), ; b.key_grant_recipients(key_id))
    }

    /// How many grants key record `key_id` holds.
    pub async fn key_grant_count(&self, key_id: [u8; 8]) -> Result<u64> {
        dispatch!(self, |b| b.key_grant_count(key_id), ; b.key_grant_count(key_id))
    }

    /// Adds grants to key record `key_id` (replacing a recipient's earlier one), in one
    /// transaction.
    pub async fn add_key_grants(&self, key_id: [u8; 8], grants: &[StoredGrant]) -> Result<()> {
        dispatch!(
            self,
            |b| b.add_key_grants(key_id, grants),
            grants = grants.to_vec();
            b.add_key_grants(key_id, &grants)
        )
    }
}

#[cfg(test)]
mod tests;
