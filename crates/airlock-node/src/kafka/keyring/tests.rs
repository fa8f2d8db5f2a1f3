//! The keyring against a fake key source: grants, re-grants, rotation, restoration.
use super::*;
use airlock_identity::IdentitySecret;

/// A fresh identity's identifier.
fn id() -> Identifier {
    IdentitySecret::create(crate::unix_now()).identifier()
}

/// A key `own_keys` gives back: topic, key id byte, recipients, age in seconds.
type OwnKey = (String, u8, BTreeSet<Identifier>, u64);

/// A grant call: topic, key ids, newcomers.
type GrantCall = (String, Vec<KeyId>, BTreeSet<Identifier>);

/// A key source in memory: who is admitted is set by the test; every call is recorded.
#[derive(Default)]
struct FakeSource {
    admitted: Mutex<BTreeSet<Identifier>>,
    grants: Mutex<Vec<GrantCall>>,
    fail_grants: Mutex<bool>,
    made: Mutex<u8>,
    /// Whether this node has a grant (fetch_key answers the key), and how often it asked.
    granted: Mutex<bool>,
    fetches: Mutex<u32>,
    /// What `own_keys` gives back (topic, key id byte, recipients, age in seconds), and
    /// whether it fails.
    own: Mutex<Vec<OwnKey>>,
    fail_own: Mutex<bool>,
}

impl KeySource for FakeSource {
    fn prepare(&self) -> KeyFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    fn new_topic_key(&self, _topic: &str) -> KeyFuture<'_, TopicKey> {
        Box::pin(async move {
            let n = {
                let mut m = self.made.lock().unwrap();
                *m += 1;
                *m
            };
            Ok(TopicKey {
                key: DataKey::new(KeyId([n; 8]), [n; 32]),
                recipients: self.admitted.lock().unwrap().clone(),
            })
        })
    }

    fn admitted(&self, _topic: &str) -> KeyFuture<'_, BTreeSet<Identifier>> {
        Box::pin(async move { Ok(self.admitted.lock().unwrap().clone()) })
    }

    fn fetch_key(&self, id: KeyId) -> KeyFuture<'_, Option<DataKey>> {
        Box::pin(async move {
            *self.fetches.lock().unwrap() += 1;
            Ok((*self.granted.lock().unwrap()).then(|| DataKey::new(id, [7; 32])))
        })
    }

    fn grant(
        &self,
        topic: &str,
        keys: &[(KeyId, [u8; 32])],
        newcomers: &BTreeSet<Identifier>,
    ) -> KeyFuture<'_, BTreeSet<Identifier>> {
        let topic = topic.to_string();
        let keys: Vec<KeyId> = keys
            .iter()
            .map(|(id, secret)| {
                assert_eq!(secret, &[id.0[0]; 32], "the key's own secret is granted");
                *id
            })
            .collect();
        let newcomers = newcomers.clone();
        Box::pin(async move {
            if *self.fail_grants.lock().unwrap() {
                return Err("directory unreachable".into());
            }
            self.grants
                .lock()
                .unwrap()
                .push((topic, keys, newcomers.clone()));
            Ok(newcomers)
        })
    }

    fn own_keys(&self, since: u64) -> KeyFuture<'_, Vec<RestoredKey>> {
        Box::pin(async move {
            if *self.fail_own.lock().unwrap() {
                return Err("directory unreachable".into());
            }
            let now = crate::unix_now();
            Ok(self
                .own
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, _, _, age)| now - age >= since)
                .map(|(topic, n, recipients, age)| RestoredKey {
                    topic: topic.clone(),
                    key: DataKey::new(KeyId([*n; 8]), [*n; 32]),
                    recipients: recipients.clone(),
                    created: now - age,
                })
                .collect())
        })
    }
}

fn sealing(ring: &Keyring, topic: &str) -> bool {
    ring.encryptor().sealer(topic).is_ok()
}

#[test]
fn the_plan_groups_keys_by_the_consumers_they_lack() {
    let (a, b, c) = (id(), id(), id());
    let k1 = KeyId([1; 8]);
    let k2 = KeyId([2; 8]);
    let k3 = KeyId([3; 8]);
    let only_a: BTreeSet<_> = [a].into();
    let a_b: BTreeSet<_> = [a, b].into();
    let a_c: BTreeSet<_> = [a, c].into();
    let admitted: BTreeSet<_> = [a, b].into();
    // k1 lacks b, k2 has everyone admitted, k3 lacks b and has c, which left: c gets nothing
    // taken away, b gets both.
    let plan = regrant_plan([(k1, &only_a), (k2, &a_b), (k3, &a_c)], &admitted);
    assert_eq!(plan, vec![([b].into(), vec![k1, k3])]);
    // Nobody new: nothing to do; several groups when keys lack different consumers.
    assert!(regrant_plan([(k2, &a_b)], &admitted).is_empty());
    let none = BTreeSet::new();
    let plan = regrant_plan([(k1, &none), (k2, &only_a)], &admitted);
    assert_eq!(
        plan,
        vec![([a, b].into(), vec![k1]), ([b].into(), vec![k2])]
    );
}

#[tokio::test]
async fn a_consumer_admitted_later_is_granted_every_retained_key_and_the_epoch_rotates() {
    let source = Arc::new(FakeSource::default());
    let (a, b) = (id(), id());
    *source.admitted.lock().unwrap() = [a].into();
    let ring = Keyring::new(source.clone());

    // Two epochs of "orders" made for consumer A only (the first marked stale by hand, as a
    // rotation would), one of "logs".
    ring.prepare_topic("orders").await.unwrap();
    ring.epochs.lock().unwrap().get_mut("orders").unwrap().stale = true;
    ring.prepare_topic("orders").await.unwrap();
    ring.prepare_topic("logs").await.unwrap();
    assert_eq!(ring.retained("orders").len(), 2);

    // Nothing changed: no grant, the epochs stay.
    ring.check_membership().await;
    assert!(source.grants.lock().unwrap().is_empty());
    assert!(sealing(&ring, "orders") && sealing(&ring, "logs"));

    // B is admitted: both retained keys of each topic are granted to B, once, and the
    // current epochs end (the next records use a key made for A and B).
    *source.admitted.lock().unwrap() = [a, b].into();
    ring.check_membership().await;
    let mut grants = source.grants.lock().unwrap().clone();
    grants.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        grants,
        vec![
            ("logs".to_string(), vec![KeyId([3; 8])], [b].into()),
            (
                "orders".to_string(),
                vec![KeyId([1; 8]), KeyId([2; 8])],
                [b].into()
            ),
        ]
    );
    for (_, who) in ring.retained("orders") {
        assert_eq!(who, [a, b].into());
    }
    assert!(!sealing(&ring, "orders") && !sealing(&ring, "logs"));

    // The next check grants nothing again.
    ring.check_membership().await;
    assert_eq!(source.grants.lock().unwrap().len(), 2);

    // The new key is made for both and retained with the others.
    ring.prepare_topic("orders").await.unwrap();
    let kept = ring.retained("orders");
    assert_eq!(kept.len(), 3);
    assert_eq!(kept[2].1, [a, b].into());
}

#[tokio::test]
async fn a_failed_grant_is_retried_at_the_next_check_and_a_leaver_gets_nothing() {
    let source = Arc::new(FakeSource::default());
    let (a, b) = (id(), id());
    *source.admitted.lock().unwrap() = [a].into();
    let ring = Keyring::new(source.clone());
    ring.prepare_topic("orders").await.unwrap();

    *source.admitted.lock().unwrap() = [b].into(); // A leaves, B joins
    *source.fail_grants.lock().unwrap() = true;
    ring.check_membership().await;
    assert!(source.grants.lock().unwrap().is_empty());
    assert_eq!(ring.retained("orders")[0].1, [a].into());
    assert!(!sealing(&ring, "orders"), "the epoch rotates all the same");

    *source.fail_grants.lock().unwrap() = false;
    ring.check_membership().await;
    assert_eq!(
        *source.grants.lock().unwrap(),
        vec![("orders".to_string(), vec![KeyId([1; 8])], [b].into())]
    );
    ring.prepare_topic("orders").await.unwrap();
    let kept = ring.retained("orders");
    assert_eq!(kept[1].1, [b].into(), "the new key has no grant for A");
}

/// The consumer side of a late grant: a key refused is not asked for again for
/// UNAVAILABLE_FOR, then it is, and the grant added meanwhile is found.
#[tokio::test]
async fn a_refused_key_is_asked_for_again_after_unavailable_for() {
    let source = Arc::new(FakeSource::default());
    let ring = Keyring::new(source.clone());
    let id = KeyId([9; 8]);
    assert!(matches!(ring.decryptor().data_key(id), KeyLookup::Missing));
    ring.fetch(&[id]).await.unwrap();
    assert!(matches!(
        ring.decryptor().data_key(id),
        KeyLookup::Unavailable
    ));
    // Within UNAVAILABLE_FOR: not asked again (the Fetch fails at once, CORRUPT_MESSAGE).
    *source.granted.lock().unwrap() = true;
    ring.fetch(&[id]).await.unwrap();
    assert_eq!(*source.fetches.lock().unwrap(), 1);
    assert!(matches!(
        ring.decryptor().data_key(id),
        KeyLookup::Unavailable
    ));
    // Once it has passed (the refusal aged by hand), the key is missing again, asked for,
    // and ready.
    let Some(aged) = Instant::now().checked_sub(UNAVAILABLE_FOR) else {
        return;
    };
    ring.keys
        .lock()
        .unwrap()
        .insert(id.0, Known::Unavailable(aged));
    assert!(matches!(ring.decryptor().data_key(id), KeyLookup::Missing));
    ring.fetch(&[id]).await.unwrap();
    assert_eq!(*source.fetches.lock().unwrap(), 2);
    assert!(matches!(ring.decryptor().data_key(id), KeyLookup::Ready(_)));
}

#[test]
fn retained_keys_expire_after_the_retention() {
    let now = Instant::now();
    let Some(long_ago) = now.checked_sub(KEY_RETENTION + Duration::from_secs(1)) else {
        return; // the clock is too young on this machine to express it
    };
    let r = |made, ended| Retained {
        key: DataKey::new(KeyId([1; 8]), [1; 32]),
        recipients: BTreeSet::new(),
        made,
        ended,
    };
    assert!(!r(now, None).expired());
    assert!(
        !r(long_ago, None).expired(),
        "an epoch may last ROTATE_AFTER"
    );
    assert!(r(long_ago, Some(long_ago)).expired());
    assert!(!r(long_ago, Some(now)).expired());
    if let Some(older) = long_ago.checked_sub(ROTATE_AFTER) {
        assert!(r(older, None).expired());
    }
}

/// After a restart the keys made before it come back from the source: retained (oldest
/// first, behind the ones made since), readable by this node, and granted to a consumer
/// admitted later; a failed attempt is retried.
#[tokio::test]
async fn keys_made_before_a_restart_are_retained_again_and_granted_to_newcomers() {
    let source = Arc::new(FakeSource::default());
    let (a, b) = (id(), id());
    *source.admitted.lock().unwrap() = [a].into();
    *source.own.lock().unwrap() = vec![
        ("orders".into(), 200, [a].into(), 7200),
        ("orders".into(), 201, [a].into(), 3600),
        ("logs".into(), 202, BTreeSet::new(), 60),
        // Older than the retention: not asked for.
        (
            "orders".into(),
            203,
            [a].into(),
            KEY_RETENTION.as_secs() + 10,
        ),
    ];
    *source.fail_own.lock().unwrap() = true;
    let ring = Keyring::new(source.clone());
    ring.prepare().await.unwrap();
    assert!(ring.retained("orders").is_empty(), "the source failed");
    *source.fail_own.lock().unwrap() = false;
    ring.prepare_topic("orders").await.unwrap(); // key 1, made since the start
    assert!(ring.restore().await);
    let ids: Vec<u8> = ring
        .retained("orders")
        .iter()
        .map(|(k, _)| k.0[0])
        .collect();
    assert_eq!(ids, [200, 201, 1]);
    assert_eq!(ring.retained("logs").len(), 1);
    assert!(matches!(
        ring.decryptor().data_key(KeyId([201; 8])),
        KeyLookup::Ready(_)
    ));
    assert!(matches!(
        ring.decryptor().data_key(KeyId([203; 8])),
        KeyLookup::Missing
    ));
    // Once back, not asked again.
    source.own.lock().unwrap().clear();
    assert!(ring.restore().await);
    assert_eq!(ring.retained("orders").len(), 3);

    // B is admitted: every retained key of both topics is granted to it.
    *source.admitted.lock().unwrap() = [a, b].into();
    ring.check_membership().await;
    let grants = source.grants.lock().unwrap().clone();
    let mut granted: Vec<(String, Vec<u8>)> = grants
        .iter()
        .filter(|(_, _, who)| who.contains(&b))
        .map(|(t, ids, _)| (t.clone(), ids.iter().map(|k| k.0[0]).collect()))
        .collect();
    granted.sort();
    assert_eq!(
        granted,
        [
            ("logs".to_string(), vec![202]),
            ("orders".to_string(), vec![200, 201, 1])
        ]
    );
}
