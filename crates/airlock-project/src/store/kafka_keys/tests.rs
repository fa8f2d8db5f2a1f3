//! The Kafka key directory's store on both backends (PostgreSQL as in `store::tests`: run when
//! `AIRLOCK_TEST_POSTGRES` names a database; tests/scenarios/project_postgres.sh counts
//! `^fn postgres_` here too).

use super::*;
use crate::store::tests::{pg_url, run};
use crate::store::Member;
use std::sync::Arc;

async fn member(s: &AuthorityStore, id: &str) {
    s.put_member(&Member {
        identifier: id.into(),
        attributes: Default::default(),
        relay: None,
        enroller: false,
        admin: false,
        added_at: 0,
    })
    .await
    .unwrap();
}

fn consumer_key(id: &str, expires_at: u64) -> StoredConsumerKey {
    StoredConsumerKey {
        identifier: id.into(),
        history: vec![1, 2],
        attestation: id.as_bytes().to_vec(),
        expires_at,
    }
}

fn record(key_id: u8, producer: &str) -> StoredKeyRecord {
    StoredKeyRecord {
        key_id: [key_id; 8],
        producer: producer.into(),
        topic: "orders".into(),
        created: 10,
        header: vec![key_id; 40],
        producer_history: vec![9; 20],
    }
}

fn grant(recipient: &str, b: u8) -> StoredGrant {
    StoredGrant {
        recipient: recipient.into(),
        signed_grant: vec![b; 164],
    }
}

async fn check_consumer_keys(s: &AuthorityStore) {
    for id in ["Ia", "Ib", "Ic"] {
        member(s, id).await;
    }
    s.put_consumer_key(&consumer_key("Ia", 100)).await.unwrap();
    s.put_consumer_key(&consumer_key("Ib", 50)).await.unwrap();
    s.put_consumer_key(&consumer_key("Ic", 100)).await.unwrap();
    // Not a member: published earlier, or never admitted — never listed.
    s.put_consumer_key(&consumer_key("Ioutsider", 100))
        .await
        .unwrap();
    let ids = |v: Vec<StoredConsumerKey>| v.into_iter().map(|k| k.identifier).collect::<Vec<_>>();
    assert_eq!(
        ids(s.consumer_keys("", 60, 10).await.unwrap()),
        ["Ia", "Ic"]
    );
    assert_eq!(
        ids(s.consumer_keys("", 40, 10).await.unwrap()),
        ["Ia", "Ib", "Ic"]
    );
    assert_eq!(ids(s.consumer_keys("", 40, 2).await.unwrap()), ["Ia", "Ib"]);
    assert_eq!(ids(s.consumer_keys("Ib", 40, 2).await.unwrap()), ["Ic"]);
    // A renewal replaces the key; a deleted member's key is no longer listed.
    s.put_consumer_key(&consumer_key("Ib", 200)).await.unwrap();
    assert_eq!(
        s.consumer_keys("Ia", 150, 1).await.unwrap()[0].expires_at,
        200
    );
    assert!(s.delete_member("Ia").await.unwrap());
    assert_eq!(
        ids(s.consumer_keys("", 40, 10).await.unwrap()),
        ["Ib", "Ic"]
    );
}

async fn check_key_records(s: &AuthorityStore) {
    assert!(s
        .put_key_record(&record(1, "Ip"), &[grant("Ia", 1), grant("Ib", 2)])
        .await
        .unwrap());
    // A taken key id is refused, whoever asks, and the stored record is untouched.
    assert!(!s
        .put_key_record(&record(1, "Iq"), &[grant("Ia", 7)])
        .await
        .unwrap());
    assert_eq!(
        s.key_record([1; 8]).await.unwrap().unwrap(),
        record(1, "Ip")
    );
    assert_eq!(s.key_grant([1; 8], "Ia").await.unwrap(), Some(vec![1; 164]));
    assert_eq!(s.key_grant([1; 8], "Ic").await.unwrap(), None);
    assert!(s.key_record([2; 8]).await.unwrap().is_none());
    assert_eq!(s.key_grant_count([1; 8]).await.unwrap(), 2);
    s.add_key_grants([1; 8], &[grant("Ic", 3), grant("Ia", 4)])
        .await
        .unwrap();
    assert_eq!(s.key_grant([1; 8], "Ia").await.unwrap(), Some(vec![4; 164]));
    assert_eq!(s.key_grant([1; 8], "Ic").await.unwrap(), Some(vec![3; 164]));
    assert_eq!(s.key_grant_count([1; 8]).await.unwrap(), 3);
}

/// Concurrent puts of one key id (from several stores on one database) store exactly one.
async fn check_concurrent_key_ids(open: impl Fn() -> AuthorityStore) {
    let stores: Vec<_> = (0..4).map(|_| Arc::new(open())).collect();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let s = stores[i % stores.len()].clone();
            tokio::spawn(async move {
                s.put_key_record(&record(5, &format!("Ip{i}")), &[grant("Ia", i as u8)])
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut stored = 0;
    for t in tasks {
        stored += t.await.unwrap() as usize;
    }
    assert_eq!(stored, 1);
}

#[test]
fn sqlite_kafka_consumer_keys() {
    run(async { check_consumer_keys(&AuthorityStore::in_memory().unwrap()).await });
}

#[test]
fn sqlite_kafka_key_records() {
    run(async { check_key_records(&AuthorityStore::in_memory().unwrap()).await });
}

#[test]
fn sqlite_kafka_key_ids_are_unique_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    run(check_concurrent_key_ids(|| {
        AuthorityStore::open(&path).unwrap()
    }));
}

#[test]
fn postgres_kafka_consumer_keys() {
    run(async {
        let Some(url) = pg_url("kafka_consumer_keys").await else {
            return;
        };
        check_consumer_keys(&AuthorityStore::postgres(&url).unwrap()).await;
    });
}

#[test]
fn postgres_kafka_key_records() {
    run(async {
        let Some(url) = pg_url("kafka_key_records").await else {
            return;
        };
        check_key_records(&AuthorityStore::postgres(&url).unwrap()).await;
    });
}

#[test]
fn postgres_kafka_key_ids_are_unique_under_concurrency() {
    run(async {
        let Some(url) = pg_url("kafka_key_ids").await else {
            return;
        };
        check_concurrent_key_ids(move || AuthorityStore::postgres(&url).unwrap()).await;
    });
}
