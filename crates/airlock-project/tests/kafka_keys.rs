//! The Kafka key directory end to end: a project node serving `authority` and `kafka_keys`,
//! member nodes publishing consumer keys, a producer storing a key record, consumers fetching
//! their own grant — and the refusals (non-members, deleted members, grants to another's record,
//! a taken key id, no grant for the caller).

use airlock_identity::IdentitySecret;
use airlock_kafka_keys::{
    ConsumerKey, Dek, Grant, GrantAddition, KeyId, KeyRecord, DEFAULT_CONSUMER_KEY_TTL,
};
use airlock_node::{unix_now, Node, NodeConfig, ProjectRoute};
use airlock_project::authority::{Authority, AuthorityConfig};
use airlock_project::kafka_keys::{ClientError, KeyDirectory, KeyDirectoryClient, RefusalCode};
use airlock_project::store::{AuthorityStore, Member};
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);
const TOPIC: &str = "orders";

struct Peer {
    node: Node,
    identity: IdentitySecret,
}

async fn node(name: &str) -> Peer {
    let cfg = NodeConfig::loopback(name);
    let identity = cfg.identity.secret.clone();
    Peer {
        node: Node::start(cfg).await.unwrap(),
        identity,
    }
}

/// A project node "p" serving the authority and the key directory over one in-memory store.
async fn project() -> (Node, Arc<AuthorityStore>, IdentitySecret) {
    let n = node("project").await.node;
    let store = Arc::new(AuthorityStore::in_memory().unwrap());
    let authority = IdentitySecret::create(unix_now());
    let cfg = || AuthorityConfig {
        project: "p".into(),
        identity: authority.clone(),
        credential_ttl: 600,
        store: store.clone(),
    };
    Authority::new(cfg()).register(&n);
    KeyDirectory::new(cfg()).register(&n);
    (n, store, authority)
}

async fn admit(store: &AuthorityStore, m: &Peer, team: &str) {
    store
        .put_member(&Member {
            identifier: m.node.identifier().to_string(),
            attributes: [("team".to_string(), team.to_string())].into(),
            relay: None,
            enroller: false,
            admin: false,
            added_at: unix_now(),
        })
        .await
        .unwrap();
}

async fn client(m: &Peer, project: &Node) -> KeyDirectoryClient {
    m.node.set_project(
        "p",
        ProjectRoute {
            route: format!("/ip4/127.0.0.1/tcp/{}", project.listen_addr().port())
                .parse()
                .unwrap(),
            identifier: project.identifier(),
        },
    );
    KeyDirectoryClient::connect(&m.node, "p", TIMEOUT)
        .await
        .unwrap()
}

fn refused(r: Result<impl std::fmt::Debug, ClientError>) -> RefusalCode {
    match r {
        Err(ClientError::Refused { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_publish_list_store_and_fetch_only_their_own_grant() {
    let (project, store, authority) = project().await;
    let alice = node("alice").await; // producer
    let bob = node("bob").await; // consumer
    let carol = node("carol").await; // consumer, deleted later
    let mallory = node("mallory").await; // never a member
    for (m, team) in [(&alice, "prod"), (&bob, "blue"), (&carol, "red")] {
        admit(&store, m, team).await;
    }
    let (ca, cb, cc, cm) = (
        client(&alice, &project).await,
        client(&bob, &project).await,
        client(&carol, &project).await,
        client(&mallory, &project).await,
    );
    let now = unix_now();

    // Consumers publish their keys; nobody can publish a key in another identity's name.
    let kb = ConsumerKey::create(&bob.identity, now, DEFAULT_CONSUMER_KEY_TTL);
    let kc = ConsumerKey::create(&carol.identity, now, DEFAULT_CONSUMER_KEY_TTL);
    cb.publish_consumer_key(bob.identity.history(), &kb.attestation)
        .await
        .unwrap();
    cc.publish_consumer_key(carol.identity.history(), &kc.attestation)
        .await
        .unwrap();
    assert_eq!(
        refused(
            ca.publish_consumer_key(bob.identity.history(), &kb.attestation)
                .await
        ),
        RefusalCode::NotYours
    );
    let ka = ConsumerKey::create(&bob.identity, now, 60); // signed by Bob, sent with Alice's history
    assert_eq!(
        refused(
            ca.publish_consumer_key(alice.identity.history(), &ka.attestation)
                .await
        ),
        RefusalCode::Invalid
    );

    // The producer lists them, with credentials from the project's authority.
    let listed = ca.list_consumers(now).await.unwrap();
    let ids: Vec<_> = listed.iter().map(|c| c.identifier).collect();
    let mut want = vec![bob.node.identifier(), carol.node.identifier()];
    want.sort();
    assert_eq!(ids, want);
    let av = authority.history().verify(now).unwrap();
    for c in &listed {
        let v = c
            .credential
            .verify(std::slice::from_ref(&av), &c.identifier, now)
            .unwrap();
        assert_eq!(v.attributes["team"], c.attributes["team"]);
    }

    // Alice stores a key record with grants for both.
    let dek = Dek([0x5a; 32]);
    let key_id = KeyId([1, 2, 3, 4, 5, 6, 7, 8]);
    let grants = listed
        .iter()
        .map(|c| Grant::seal(c.identifier, &c.attestation.public_key, key_id, TOPIC, &dek).unwrap())
        .collect();
    let record = KeyRecord::sign(&alice.identity, key_id, TOPIC, now, grants).unwrap();
    ca.put_key_record(alice.identity.history(), &record)
        .await
        .unwrap();

    // Each consumer gets the header and its own grant only, and opens it.
    for (c, k) in [(&cb, &kb), (&cc, &kc)] {
        let got = c.get_key(key_id, now).await.unwrap();
        assert_eq!(got.producer.identifier, alice.node.identifier());
        assert_eq!(got.record.grants.len(), 1);
        assert_eq!(got.record.open(k).unwrap(), dek);
    }
    // The producer has no grant for itself: a typed "no grant for you".
    assert_eq!(refused(ca.get_key(key_id, now).await), RefusalCode::NoGrant);
    assert_eq!(
        refused(cb.get_key(KeyId([9; 8]), now).await),
        RefusalCode::UnknownKey
    );

    // A key id is taken once, by anyone.
    let again = KeyRecord::sign(&bob.identity, key_id, TOPIC, now, vec![]).unwrap();
    assert_eq!(
        refused(cb.put_key_record(bob.identity.history(), &again).await),
        RefusalCode::KeyIdTaken
    );
    // A record naming another producer is refused.
    assert_eq!(
        refused(cb.put_key_record(bob.identity.history(), &record).await),
        RefusalCode::NotYours
    );

    // Only the producer adds grants to its record.
    let g = Grant::seal(bob.node.identifier(), &kb.public_key(), key_id, TOPIC, &dek).unwrap();
    let by_bob = GrantAddition::sign(&bob.identity, key_id, g.clone());
    assert_eq!(
        refused(cb.add_grants(key_id, &[by_bob]).await),
        RefusalCode::NotProducer
    );
    // A grant the producer did not sign does not pass either.
    let forged = GrantAddition {
        grant: GrantAddition::sign(&bob.identity, key_id, g.clone()).grant,
        key_id,
    };
    assert_eq!(
        refused(ca.add_grants(key_id, &[forged]).await),
        RefusalCode::Invalid
    );
    let by_alice = GrantAddition::sign(&alice.identity, key_id, g);
    assert_eq!(ca.add_grants(key_id, &[by_alice]).await.unwrap(), 1);
    assert_eq!(
        cb.get_key(key_id, now)
            .await
            .unwrap()
            .record
            .open(&kb)
            .unwrap(),
        dek
    );

    // Not a member: every request is refused.
    assert_eq!(
        refused(cm.list_consumers(now).await),
        RefusalCode::NotMember
    );
    assert_eq!(
        refused(cm.get_key(key_id, now).await),
        RefusalCode::NotMember
    );

    // A deleted member is refused at once — here over the channel it opened while a member
    // (the store is the judge, not the channel) — and is no longer listed.
    assert!(store
        .delete_member(&carol.node.identifier().to_string())
        .await
        .unwrap());
    assert_eq!(
        refused(cc.get_key(key_id, now).await),
        RefusalCode::NotMember
    );
    assert_eq!(
        refused(
            cc.publish_consumer_key(carol.identity.history(), &kc.attestation)
                .await
        ),
        RefusalCode::NotMember
    );
    let ids: Vec<_> = ca
        .list_consumers(now)
        .await
        .unwrap()
        .iter()
        .map(|c| c.identifier)
        .collect();
    assert_eq!(ids, [bob.node.identifier()]);
}

/// Makes `m` a member node of project "p" as enrollment would for the key source: the route to
/// the project and its authority trusted (the default policies then admit any member with a
/// valid credential from it).
fn join(m: &Peer, project: &Node, authority: &IdentitySecret) {
    m.node.set_project(
        "p",
        ProjectRoute {
            route: format!("/ip4/127.0.0.1/tcp/{}", project.listen_addr().port())
                .parse()
                .unwrap(),
            identifier: project.identifier(),
        },
    );
    m.node
        .set_trusted_authorities(vec![authority.history().verify(unix_now()).unwrap()]);
}

/// docs/kafka-encryption.md §4.3 through the real key sources: a producer makes a key while
/// only consumer Bob is listed; Carol publishes her consumer key later and has no grant; the
/// producer's membership check grants her the retained key, and she opens it. Then Bob's
/// membership is deleted: the next check rotates the epoch and the new key has no grant for him.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_joins_later_is_granted_the_retained_keys() {
    use airlock_node::kafka::{KeySource, Keyring};
    use airlock_project::kafka_keys::DirectoryKeySource;

    let (project, store, authority) = project().await;
    let alice = node("alice").await; // producer
    let bob = node("bob").await; // consumer from the start
    let carol = node("carol").await; // consumer that joins later
    for (m, team) in [(&alice, "prod"), (&bob, "blue"), (&carol, "red")] {
        admit(&store, m, team).await;
        join(m, &project, &authority);
    }
    let producer = DirectoryKeySource::new(&alice.node, "p");
    let consumer_b = DirectoryKeySource::new(&bob.node, "p");
    let consumer_c = DirectoryKeySource::new(&carol.node, "p");
    consumer_b.prepare().await.unwrap();

    let ring = Keyring::new(producer.clone());
    ring.prepare_topic(TOPIC).await.unwrap();
    let kept = ring.retained(TOPIC);
    assert_eq!(kept.len(), 1);
    let (old, recipients) = kept[0].clone();
    assert!(recipients.contains(&bob.node.identifier()));
    assert!(!recipients.contains(&carol.node.identifier()));
    let from_bob = consumer_b
        .fetch_key(old)
        .await
        .unwrap()
        .expect("Bob's grant");

    // Carol publishes now (fetch_key publishes first): the old key has no grant for her yet.
    assert!(consumer_c.fetch_key(old).await.unwrap().is_none());

    // The producer's membership check grants it to her.
    ring.check_membership().await;
    let (_, recipients) = ring.retained(TOPIC)[0].clone();
    assert!(
        recipients.contains(&carol.node.identifier()),
        "{recipients:?}"
    );
    let from_carol = consumer_c
        .fetch_key(old)
        .await
        .unwrap()
        .expect("Carol's grant, added after the key was made");
    assert_eq!(from_carol.secret(), from_bob.secret());
    assert_eq!(from_carol.id(), old);

    // The epoch rotated too: the next key is made for Bob and Carol.
    ring.prepare_topic(TOPIC).await.unwrap();
    let kept = ring.retained(TOPIC);
    assert_eq!(kept.len(), 2);
    assert!(kept[1].1.contains(&carol.node.identifier()));
    assert!(kept[1].1.contains(&bob.node.identifier()));

    // Bob leaves: the next check ends the epoch, and the key after it has no grant for him
    // (while Carol still opens it).
    assert!(store
        .delete_member(&bob.node.identifier().to_string())
        .await
        .unwrap());
    ring.check_membership().await;
    ring.prepare_topic(TOPIC).await.unwrap();
    let kept = ring.retained(TOPIC);
    assert_eq!(kept.len(), 3);
    let (newest, recipients) = kept[2].clone();
    assert!(
        !recipients.contains(&bob.node.identifier()),
        "{recipients:?}"
    );
    assert!(consumer_c.fetch_key(newest).await.unwrap().is_some());
    assert!(
        !matches!(consumer_b.fetch_key(newest).await, Ok(Some(_))),
        "a deleted member gets no key"
    );
}

/// docs/kafka-encryption.md §4.3 across a restart of the producer's node: it granted every key
/// to itself, gets them back from the directory (its own records only) and grants them to a
/// consumer admitted after the restart, who then reads records made before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_producer_gets_its_keys_back_and_grants_them_to_newcomers() {
    use airlock_node::kafka::{KeySource, Keyring};
    use airlock_project::kafka_keys::DirectoryKeySource;

    let (project, store, authority) = project().await;
    let alice = node("alice").await; // producer
    let bob = node("bob").await; // consumer from the start, and a producer of his own
    let dave = node("dave").await; // consumer admitted after the restart
    for (m, team) in [(&alice, "prod"), (&bob, "blue")] {
        admit(&store, m, team).await;
        join(m, &project, &authority);
    }
    let consumer_b = DirectoryKeySource::new(&bob.node, "p");
    consumer_b.prepare().await.unwrap();
    let bobs_ring = Keyring::new(consumer_b.clone());
    bobs_ring.prepare_topic("bobs-topic").await.unwrap();

    let made = {
        let ring = Keyring::new(DirectoryKeySource::new(&alice.node, "p"));
        ring.prepare().await.unwrap();
        ring.prepare_topic(TOPIC).await.unwrap();
        ring.prepare_topic("logs").await.unwrap();
        let mut ids: Vec<_> = ring.retained(TOPIC).into_iter().map(|(k, _)| k).collect();
        ids.extend(ring.retained("logs").into_iter().map(|(k, _)| k));
        ids
    }; // the producer's node stops: its keyring is gone
    assert_eq!(made.len(), 2);

    // The same identity starts again: the keys come back, its own only (not Bob's).
    let ring = Keyring::new(DirectoryKeySource::new(&alice.node, "p"));
    ring.prepare().await.unwrap();
    let mut back: Vec<_> = ring.retained(TOPIC).into_iter().map(|(k, _)| k).collect();
    back.extend(ring.retained("logs").into_iter().map(|(k, _)| k));
    assert_eq!(back, made);
    assert!(ring.retained("bobs-topic").is_empty());
    let (_, recipients) = ring.retained(TOPIC)[0].clone();
    assert!(
        recipients.contains(&bob.node.identifier()),
        "{recipients:?}"
    );

    // Dave joins after the restart and is granted the keys made before it.
    admit(&store, &dave, "green").await;
    join(&dave, &project, &authority);
    let consumer_d = DirectoryKeySource::new(&dave.node, "p");
    consumer_d.prepare().await.unwrap();
    assert!(consumer_d.fetch_key(made[0]).await.unwrap().is_none());
    ring.check_membership().await;
    let from_dave = consumer_d
        .fetch_key(made[0])
        .await
        .unwrap()
        .expect("Dave's grant, added by the restarted producer");
    let from_bob = consumer_b
        .fetch_key(made[0])
        .await
        .unwrap()
        .expect("Bob's grant");
    assert_eq!(from_dave.secret(), from_bob.secret());
    assert!(consumer_d.fetch_key(made[1]).await.unwrap().is_some());
}
