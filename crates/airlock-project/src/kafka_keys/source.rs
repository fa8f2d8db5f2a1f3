//! The key source of an encrypting Kafka inlet (`airlock_node::kafka::KeySource`): data keys made,
//! granted and stored through the project's key directory, with this node's policies deciding
//! who may read a topic (`kafka-consumer`, name = topic) and whose keys to take
//! (`kafka-producer`, name = topic) — `docs/kafka-encryption.md` §4.
//!
//! The node's consumer key is derived from its identity key (SHA-256 of the identity's
//! deterministic Ed25519 signature over a fixed context): the same key after every restart, so a
//! restarted consumer opens its old grants, with no new secret to store; it changes when the
//! identity key does. It is published when the source is made and before each use if that failed.

use super::{ClientError, KeyDirectoryClient, ListedConsumer, RefusalCode};
use airlock_identity::Identifier;
use airlock_kafka::{DataKey, KeyId};
use airlock_kafka_keys::{ConsumerKey, Dek, Grant, GrantAddition, KeyRecord};
use airlock_node::flow_control::{Exposure, ExposureCell};
use airlock_node::kafka::{KeyFuture, KeySource, RestoredKey, TopicKey};
use airlock_node::message::ChannelPeer;
use airlock_node::Node;
use airlock_wire::Address;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How long one directory call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Lifetime of a consumer key attestation.
const CONSUMER_KEY_TTL: u64 = 30 * 24 * 3600;
/// The context the consumer key is derived under.
const CONSUMER_KEY_CONTEXT: &[u8] = b"airlock/kafka-consumer-key-seed/v1";

/// Data keys through the key directory of `project`.
pub struct DirectoryKeySource {
    node: Node,
    project: String,
    client: tokio::sync::Mutex<Option<KeyDirectoryClient>>,
    consumer_key: ConsumerKey,
    published: Mutex<bool>,
}

impl DirectoryKeySource {
    /// A source for `node` in `project`. Its consumer key is published by
    /// [`KeySource::prepare`] (when an encrypting inlet is created) and before later use if that
    /// failed.
    pub fn new(node: &Node, project: &str) -> Arc<Self> {
        let secret = node.identity_secret();
        let seed: [u8; 32] = Sha256::digest(secret.sign(CONSUMER_KEY_CONTEXT)).into();
        let consumer_key =
            ConsumerKey::from_secret(&secret, seed, airlock_node::unix_now(), CONSUMER_KEY_TTL);
        Arc::new(DirectoryKeySource {
            node: node.clone(),
            project: project.to_string(),
            client: tokio::sync::Mutex::new(None),
            consumer_key,
            published: Mutex::new(false),
        })
    }

    /// Publishes this node's consumer key to the directory (once).
    pub async fn publish(&self) -> Result<(), String> {
        if *self.published.lock().expect("published") {
            return Ok(());
        }
        let history = self.node.identity_secret().history().clone();
        let mut client = self.client().await?;
        let r = connected(&client)
            .publish_consumer_key(&history, &self.consumer_key.attestation)
            .await;
        settle(&mut client, r).map_err(|e| e.to_string())?;
        *self.published.lock().expect("published") = true;
        tracing::info!(project = %self.project, "kafka consumer key published");
        Ok(())
    }

    /// The client, connected (again, if its channel had closed).
    async fn client(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<KeyDirectoryClient>>, String> {
        let mut client = self.client.lock().await;
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            *client = Some(
                KeyDirectoryClient::connect(&self.node, &self.project, CALL_TIMEOUT)
                    .await
                    .map_err(|e| {
                        format!("cannot reach the key directory of {}: {e}", self.project)
                    })?,
            );
        }
        Ok(client)
    }

    /// Whether `rtype` policy of this node, for resource `topic`, admits `c`.
    fn admits(&self, topic: &str, rtype: &str, c: &ListedConsumer) -> bool {
        let access = self.node.portal_context().access();
        let credential =
            access.verify_credentials(&c.identifier, std::slice::from_ref(&c.credential.encode()));
        let peer = ChannelPeer {
            identifier: c.identifier,
            channel: Address::new("kafka_keys").expect("valid"),
            credential: Arc::new(RwLock::new(credential)),
            exposure: ExposureCell::new(Exposure::Nothing),
        };
        match access.authorize(topic, rtype, &peer) {
            Ok(()) => true,
            Err(why) => {
                tracing::debug!(%topic, member = %c.identifier, "{rtype} policy: {why}");
                false
            }
        }
    }

    /// Every member's consumer key, as the directory lists it (checked by the client).
    async fn list(&self) -> Result<Vec<ListedConsumer>, String> {
        let mut client = self.client().await?;
        let r = connected(&client)
            .list_consumers(airlock_node::unix_now())
            .await;
        settle(&mut client, r).map_err(|e| e.to_string())
    }

    async fn admitted_consumers(&self, topic: &str) -> Result<Vec<ListedConsumer>, String> {
        let _ = self.publish().await;
        let listed = self.list().await?;
        Ok(listed
            .into_iter()
            .filter(|c| self.admits(topic, "kafka-consumer", c))
            .collect())
    }

    async fn make_topic_key(&self, topic: &str) -> Result<TopicKey, String> {
        let consumers = self.admitted_consumers(topic).await?;
        let secret = self.node.identity_secret();
        let history = secret.history().clone();
        for _ in 0..3 {
            let mut dek = [0u8; 32];
            let mut id = [0u8; 8];
            rand::rngs::OsRng.fill_bytes(&mut dek);
            rand::rngs::OsRng.fill_bytes(&mut id);
            let key_id = airlock_kafka_keys::KeyId(id);
            let mut grants = consumers
                .iter()
                .map(|c| {
                    Grant::seal(
                        c.identifier,
                        &c.attestation.public_key,
                        key_id,
                        topic,
                        &Dek(dek),
                    )
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("cannot seal a grant: {e}"))?;
            // This node's own grant: how it gets the key back after a restart (own_keys).
            let me = secret.identifier();
            if !consumers.iter().any(|c| c.identifier == me) {
                grants.push(
                    Grant::seal(
                        me,
                        &self.consumer_key.attestation.public_key,
                        key_id,
                        topic,
                        &Dek(dek),
                    )
                    .map_err(|e| format!("cannot seal this node's own grant: {e}"))?,
                );
            }
            let record = KeyRecord::sign(&secret, key_id, topic, airlock_node::unix_now(), grants)
                .map_err(|e| format!("cannot sign the key record: {e}"))?;
            let stored = {
                let mut client = self.client().await?;
                let r = connected(&client).put_key_record(&history, &record).await;
                settle(&mut client, r)
            };
            match stored {
                Ok(()) => {
                    return Ok(TopicKey {
                        key: DataKey::new(KeyId(id), dek),
                        recipients: consumers.iter().map(|c| c.identifier).collect(),
                    })
                }
                Err(ClientError::Refused {
                    code: RefusalCode::KeyIdTaken,
                    ..
                }) => continue, // drawn twice: draw again
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("three key ids in a row were taken".into())
    }

    /// Adds grants of `keys` (this node's, for `topic`) for those of `newcomers` the directory
    /// lists and this node's `kafka-consumer` policy admits now; returns them.
    async fn grant_keys(
        &self,
        topic: &str,
        keys: &[(KeyId, [u8; 32])],
        newcomers: &BTreeSet<Identifier>,
    ) -> Result<BTreeSet<Identifier>, String> {
        let consumers: Vec<ListedConsumer> = self
            .admitted_consumers(topic)
            .await?
            .into_iter()
            .filter(|c| newcomers.contains(&c.identifier))
            .collect();
        if consumers.is_empty() {
            return Ok(BTreeSet::new());
        }
        let secret = self.node.identity_secret();
        for (id, dek) in keys {
            let key_id = airlock_kafka_keys::KeyId(id.0);
            let additions = consumers
                .iter()
                .map(|c| {
                    Grant::seal(
                        c.identifier,
                        &c.attestation.public_key,
                        key_id,
                        topic,
                        &Dek(*dek),
                    )
                    .map(|g| GrantAddition::sign(&secret, key_id, g))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("cannot seal a grant: {e}"))?;
            for chunk in additions.chunks(airlock_kafka_keys::MAX_GRANTS) {
                let mut client = self.client().await?;
                let r = connected(&client).add_grants(key_id, chunk).await;
                settle(&mut client, r)
                    .map_err(|e| format!("cannot add grants to key {key_id}: {e}"))?;
            }
        }
        Ok(consumers.iter().map(|c| c.identifier).collect())
    }

    async fn open_key(&self, id: KeyId) -> Result<Option<DataKey>, String> {
        let _ = self.publish().await;
        let key_id = airlock_kafka_keys::KeyId(id.0);
        let fetched = {
            let mut client = self.client().await?;
            let r = connected(&client)
                .get_key(key_id, airlock_node::unix_now())
                .await;
            settle(&mut client, r)
        };
        let fetched = match fetched {
            Ok(f) => f,
            Err(ClientError::Refused {
                code: RefusalCode::NoGrant | RefusalCode::UnknownKey,
                reason,
            }) => {
                tracing::warn!(key = %key_id, "data key not available to this node: {reason}");
                return Ok(None);
            }
            Err(e) => return Err(e.to_string()),
        };
        // Whose key is it? This node's kafka-producer policy decides, on the producer's
        // credential as the directory lists it (every encrypting inlet publishes a consumer
        // key, so a producer is listed; one that is not is not taken).
        let topic = fetched.record.topic.clone();
        let producer = fetched.record.producer;
        let listed = self.list().await?;
        let admitted = listed
            .iter()
            .find(|c| c.identifier == producer)
            .is_some_and(|c| self.admits(&topic, "kafka-producer", c));
        if !admitted {
            tracing::warn!(key = %key_id, %producer, %topic, "data key refused: this node's kafka-producer policy does not admit its producer");
            return Ok(None);
        }
        let dek = fetched
            .record
            .open(&self.consumer_key)
            .map_err(|e| format!("cannot open the grant of key {key_id}: {e}"))?;
        Ok(Some(DataKey::new(id, dek.0)))
    }
}

impl DirectoryKeySource {
    /// The keys this node made since `since`, opened with its own grant.
    async fn restore_keys(&self, since: u64) -> Result<Vec<RestoredKey>, String> {
        let me = self
            .node
            .identity_secret()
            .history()
            .verify(airlock_node::unix_now())
            .map_err(|e| format!("this node's own identity does not verify: {e}"))?;
        let own = {
            let mut client = self.client().await?;
            let r = connected(&client).own_keys(&me, since).await;
            settle(&mut client, r).map_err(|e| e.to_string())?
        };
        let mut back = Vec::with_capacity(own.len());
        for k in own {
            let id = k.record.key_id;
            match k.record.open(&self.consumer_key) {
                Ok(dek) => back.push(RestoredKey {
                    topic: k.record.topic.clone(),
                    key: DataKey::new(KeyId(id.0), dek.0),
                    recipients: k.recipients,
                    created: k.record.created,
                }),
                // Sealed to an earlier consumer key (the identity key changed): gone.
                Err(e) => tracing::warn!(key = %id, "cannot open this node's own grant: {e}"),
            }
        }
        Ok(back)
    }
}

fn connected(client: &Option<KeyDirectoryClient>) -> &KeyDirectoryClient {
    client
        .as_ref()
        .expect("connected by DirectoryKeySource::client")
}

/// Forgets the client when the call did not get through (its channel may be dead), so the next
/// call connects again.
fn settle<T>(
    client: &mut Option<KeyDirectoryClient>,
    r: Result<T, ClientError>,
) -> Result<T, ClientError> {
    if matches!(r, Err(ClientError::Request(_))) {
        *client = None;
    }
    r
}

impl KeySource for DirectoryKeySource {
    fn prepare(&self) -> KeyFuture<'_, ()> {
        Box::pin(self.publish())
    }

    fn new_topic_key(&self, topic: &str) -> KeyFuture<'_, TopicKey> {
        let topic = topic.to_string();
        Box::pin(async move { self.make_topic_key(&topic).await })
    }

    fn admitted(&self, topic: &str) -> KeyFuture<'_, BTreeSet<Identifier>> {
        let topic = topic.to_string();
        Box::pin(async move {
            Ok(self
                .admitted_consumers(&topic)
                .await?
                .into_iter()
                .map(|c| c.identifier)
                .collect())
        })
    }

    fn fetch_key(&self, id: KeyId) -> KeyFuture<'_, Option<DataKey>> {
        Box::pin(self.open_key(id))
    }

    fn grant(
        &self,
        topic: &str,
        keys: &[(KeyId, [u8; 32])],
        newcomers: &BTreeSet<Identifier>,
    ) -> KeyFuture<'_, BTreeSet<Identifier>> {
        let (topic, keys, newcomers) = (topic.to_string(), keys.to_vec(), newcomers.clone());
        Box::pin(async move { self.grant_keys(&topic, &keys, &newcomers).await })
    }

    fn own_keys(&self, since: u64) -> KeyFuture<'_, Vec<RestoredKey>> {
        Box::pin(self.restore_keys(since))
    }
}
