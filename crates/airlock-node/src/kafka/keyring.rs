//! The data keys a Kafka inlet encrypts and decrypts records with (`docs/kafka-encryption.md`).
//!
//! The [`Keyring`] holds the state the interceptors read without waiting — one sealer per topic
//! produced to, and the keys of records read so far — and goes to a [`KeySource`] (the project's
//! key directory, implemented by `airlock-project`) only when a key is missing: once per topic
//! and epoch on the produce side, once per key id on the fetch side, never per record.
//!
//! Epochs end after [`ROTATE_AFTER`], when a sealer has used up its records, and when the set of
//! consumers the policy admits changes (checked every [`MEMBERSHIP_CHECK`]): a consumer that left
//! gets no grant for anything produced after that.

use airlock_identity::Identifier;
use airlock_kafka::{
    DataKey, FetchDecryptor, KeyId, KeyLookup, KeyNotReady, ProduceEncryptor, Sealer,
};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// How long a data key encrypts new records.
pub const ROTATE_AFTER: Duration = Duration::from_secs(3600);
/// How often the admitted consumers of each topic produced to are compared with its epoch's.
pub const MEMBERSHIP_CHECK: Duration = Duration::from_secs(15);
/// How long a key id that could not be had is not asked for again.
pub const UNAVAILABLE_FOR: Duration = Duration::from_secs(10);

/// A boxed future of the key source.
pub type KeyFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// A new data key and the consumers it was granted to.
pub struct TopicKey {
    /// The key (its id names it in every record).
    pub key: DataKey,
    /// The consumers given a grant.
    pub recipients: BTreeSet<Identifier>,
}

/// Where data keys come from and go to: the project's key directory, with this node's policies
/// deciding who may read (`kafka-consumer`) and whose keys to take (`kafka-producer`).
pub trait KeySource: Send + Sync + 'static {
    /// Gets this node ready to read: publishes its consumer key, so producers grant it the keys
    /// of records produced from now on. Called when an encrypting inlet is created.
    fn prepare(&self) -> KeyFuture<'_, ()>;
    /// Makes a data key for `topic`, grants it to every admitted consumer and stores the record
    /// in the directory (only then may records use it).
    fn new_topic_key(&self, topic: &str) -> KeyFuture<'_, TopicKey>;
    /// The consumers admitted for `topic` now.
    fn admitted(&self, topic: &str) -> KeyFuture<'_, BTreeSet<Identifier>>;
    /// Fetches and opens key `id`; `Ok(None)` when it is not to be had (no grant for this node,
    /// an unknown key, a producer this node's policy does not admit).
    fn fetch_key(&self, id: KeyId) -> KeyFuture<'_, Option<DataKey>>;
}

struct Epoch {
    sealer: Sealer,
    recipients: BTreeSet<Identifier>,
    started: Instant,
    stale: bool,
}

enum Known {
    Key(Box<DataKey>),
    Unavailable(Instant),
}

/// The inlet's keys: sealers by topic, keys by id, and the source of new ones.
pub struct Keyring {
    source: Arc<dyn KeySource>,
    epochs: Mutex<HashMap<String, Epoch>>,
    keys: Mutex<HashMap<[u8; 8], Known>>,
    /// One key is made per topic at a time.
    making: tokio::sync::Mutex<()>,
}

impl Keyring {
    /// A keyring over `source`, with its membership check running in the background for as long
    /// as the keyring lives.
    pub fn new(source: Arc<dyn KeySource>) -> Arc<Keyring> {
        let ring = Arc::new(Keyring {
            source,
            epochs: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
            making: tokio::sync::Mutex::new(()),
        });
        tokio::spawn(membership_check(Arc::downgrade(&ring)));
        ring
    }

    /// Publishes this node's consumer key (see [`KeySource::prepare`]).
    pub async fn prepare(&self) -> Result<(), String> {
        self.source.prepare().await
    }

    /// The Produce side, for one request.
    pub fn encryptor(&self) -> Encryptor<'_> {
        Encryptor(self.epochs.lock().expect("epochs"))
    }

    /// The Fetch side, for one response.
    pub fn decryptor(&self) -> Decryptor<'_> {
        Decryptor(self.keys.lock().expect("keys"))
    }

    /// Makes the data key of `topic` if it has none usable (the Produce path's `NeedKey`).
    pub async fn prepare_topic(&self, topic: &str) -> Result<(), String> {
        let _one = self.making.lock().await;
        if self
            .epochs
            .lock()
            .expect("epochs")
            .get(topic)
            .is_some_and(usable)
        {
            return Ok(());
        }
        let made = self.source.new_topic_key(topic).await?;
        tracing::info!(%topic, key = %hex(&made.key.id().0), consumers = made.recipients.len(), "new data key for the topic");
        let id = made.key.id().0;
        // Our own records are readable by this node too (a producer may also consume).
        self.keys.lock().expect("keys").insert(
            id,
            Known::Key(Box::new(
                DataKey::new(made.key.id(), *made.key.secret()).with_limit(made.key.limit()),
            )),
        );
        self.epochs.lock().expect("epochs").insert(
            topic.to_string(),
            Epoch {
                sealer: Sealer::new(made.key),
                recipients: made.recipients,
                started: Instant::now(),
                stale: false,
            },
        );
        Ok(())
    }

    /// Fetches the keys `ids` not yet known (the Fetch path's `NeedKeys`).
    pub async fn fetch(&self, ids: &[KeyId]) -> Result<(), String> {
        for id in ids {
            let missing = {
                let keys = self.keys.lock().expect("keys");
                !matches!(keys.get(&id.0), Some(Known::Key(_)))
                    && !matches!(keys.get(&id.0), Some(Known::Unavailable(t)) if t.elapsed() < UNAVAILABLE_FOR)
            };
            if !missing {
                continue;
            }
            let known = match self.source.fetch_key(*id).await? {
                Some(k) => Known::Key(Box::new(k)),
                None => {
                    tracing::warn!(key = %hex(&id.0), "a data key is not available to this node");
                    Known::Unavailable(Instant::now())
                }
            };
            self.keys.lock().expect("keys").insert(id.0, known);
        }
        Ok(())
    }
}

fn usable(e: &Epoch) -> bool {
    !e.stale && e.sealer.remaining() > 0 && e.started.elapsed() < ROTATE_AFTER
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Marks an epoch stale when the admitted consumers of its topic changed.
async fn membership_check(ring: Weak<Keyring>) {
    loop {
        tokio::time::sleep(MEMBERSHIP_CHECK).await;
        let Some(ring) = ring.upgrade() else { return };
        let topics: Vec<(String, BTreeSet<Identifier>)> = ring
            .epochs
            .lock()
            .expect("epochs")
            .iter()
            .filter(|(_, e)| !e.stale)
            .map(|(t, e)| (t.clone(), e.recipients.clone()))
            .collect();
        for (topic, had) in topics {
            match ring.source.admitted(&topic).await {
                Ok(now) if now != had => {
                    let left = had.difference(&now).count();
                    let joined = now.difference(&had).count();
                    tracing::info!(%topic, left, joined, "the topic's consumers changed: its next records use a new data key");
                    if let Some(e) = ring.epochs.lock().expect("epochs").get_mut(&topic) {
                        e.stale = true;
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(%topic, "membership check failed: {e}"),
            }
        }
    }
}

/// The Produce side of one request (holds the keyring's sealers while it lives).
pub struct Encryptor<'a>(MutexGuard<'a, HashMap<String, Epoch>>);

impl ProduceEncryptor for Encryptor<'_> {
    fn sealer(&mut self, topic: &str) -> Result<Option<&mut Sealer>, KeyNotReady> {
        match self.0.get_mut(topic) {
            Some(e) if usable(e) => Ok(Some(&mut e.sealer)),
            _ => Err(KeyNotReady),
        }
    }
}

/// The Fetch side of one response (holds the keyring's keys while it lives).
pub struct Decryptor<'a>(MutexGuard<'a, HashMap<[u8; 8], Known>>);

impl FetchDecryptor for Decryptor<'_> {
    fn data_key(&mut self, id: KeyId) -> KeyLookup<'_> {
        match self.0.get(&id.0) {
            Some(Known::Key(k)) => KeyLookup::Ready(k),
            Some(Known::Unavailable(t)) if t.elapsed() < UNAVAILABLE_FOR => KeyLookup::Unavailable,
            _ => KeyLookup::Missing,
        }
    }

    /// Every topic read through an encrypting inlet must hold ciphertext: plaintext is refused.
    fn must_be_encrypted(&self, _topic: &str) -> bool {
        true
    }
}
