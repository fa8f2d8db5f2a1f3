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
//!
//! A consumer that joins later reads older records too (§4.3): the keyring retains the data
//! keys it made, per topic, in memory, for [`KEY_RETENTION`] after they stopped encrypting new
//! records (at most [`MAX_RETAINED_PER_TOPIC`] per topic), and the membership check has the
//! source add a grant for each newly admitted consumer to every retained key of the topic
//! ([`KeySource::grant`]). The producer grants every key it makes to itself as well, so after
//! a restart of its node the keyring gets them back from the directory ([`KeySource::own_keys`],
//! asked until it answers) and goes on granting them: a consumer admitted after the restart
//! still reads the records made before it.

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
/// How long the producer keeps a data key after it stopped encrypting new records, to grant it
/// to consumers admitted later: Kafka's default retention (`retention.ms`, 7 days).
pub const KEY_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most data keys retained per topic (the oldest go first): a week of hourly rotations is 168.
pub const MAX_RETAINED_PER_TOPIC: usize = 1024;

/// A boxed future of the key source.
pub type KeyFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// A new data key and the consumers it was granted to.
pub struct TopicKey {
    /// The key (its id names it in every record).
    pub key: DataKey,
    /// The consumers given a grant.
    pub recipients: BTreeSet<Identifier>,
}

/// A data key this node made before it (re)started, as the directory gives it back.
pub struct RestoredKey {
    /// The topic it encrypted.
    pub topic: String,
    /// The key.
    pub key: DataKey,
    /// Who holds a grant for it.
    pub recipients: BTreeSet<Identifier>,
    /// When it was made (Unix seconds).
    pub created: u64,
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
    /// Grants `keys` (id and secret, keys this node made for `topic`) to the consumers
    /// `newcomers`, which the policy admits now; returns those given a grant (a newcomer no
    /// longer listed or admitted is left out). Adding a grant a consumer already has replaces
    /// it, so a retry after a partial failure is harmless.
    fn grant(
        &self,
        topic: &str,
        keys: &[(KeyId, [u8; 32])],
        newcomers: &BTreeSet<Identifier>,
    ) -> KeyFuture<'_, BTreeSet<Identifier>>;
    /// The keys this node made at or after `since` (Unix seconds) that it can still open,
    /// to retain them again after a restart. None by default.
    fn own_keys(&self, since: u64) -> KeyFuture<'_, Vec<RestoredKey>> {
        let _ = since;
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// A data key this node made, kept to grant it to consumers admitted later.
struct Retained {
    key: DataKey,
    /// The consumers with a grant for it.
    recipients: BTreeSet<Identifier>,
    made: Instant,
    /// When it stopped encrypting new records, once it did.
    ended: Option<Instant>,
}

impl Retained {
    fn expired(&self) -> bool {
        self.ended.is_some_and(|t| t.elapsed() > KEY_RETENTION)
            // An epoch lasts at most ROTATE_AFTER, noticed or not.
            || self.made.elapsed() > KEY_RETENTION + ROTATE_AFTER
    }
}

/// Which retained keys to grant to whom: the keys grouped by the admitted consumers they lack
/// (usually one group: the newcomers, for every key). Consumers with a grant that are no longer
/// admitted are nobody's business here (revocation is not retroactive; the epoch rotates).
fn regrant_plan<'a>(
    retained: impl IntoIterator<Item = (KeyId, &'a BTreeSet<Identifier>)>,
    admitted: &BTreeSet<Identifier>,
) -> Vec<(BTreeSet<Identifier>, Vec<KeyId>)> {
    let mut plan: Vec<(BTreeSet<Identifier>, Vec<KeyId>)> = Vec::new();
    for (id, recipients) in retained {
        let lacking: BTreeSet<Identifier> = admitted.difference(recipients).copied().collect();
        if lacking.is_empty() {
            continue;
        }
        match plan.iter_mut().find(|(who, _)| *who == lacking) {
            Some((_, ids)) => ids.push(id),
            None => plan.push((lacking, vec![id])),
        }
    }
    plan
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
    /// The keys this node made, by topic, oldest first.
    retained: Mutex<HashMap<String, Vec<Retained>>>,
    /// One key is made per topic at a time.
    making: tokio::sync::Mutex<()>,
    /// The keys made before this keyring existed are back (or there were none).
    restored: std::sync::atomic::AtomicBool,
    /// An encrypting inlet uses the keyring (until then it asks the source nothing).
    in_use: std::sync::atomic::AtomicBool,
}

impl Keyring {
    /// A keyring over `source`, with its membership check running in the background for as long
    /// as the keyring lives.
    pub fn new(source: Arc<dyn KeySource>) -> Arc<Keyring> {
        let ring = Arc::new(Keyring {
            source,
            epochs: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
            retained: Mutex::new(HashMap::new()),
            making: tokio::sync::Mutex::new(()),
            restored: std::sync::atomic::AtomicBool::new(false),
            in_use: std::sync::atomic::AtomicBool::new(false),
        });
        tokio::spawn(membership_check(Arc::downgrade(&ring)));
        ring
    }

    /// Publishes this node's consumer key (see [`KeySource::prepare`]) and gets back the keys
    /// it made before this start ([`Keyring::restore`]; retried by the membership check when
    /// that fails). Called when an encrypting inlet is created.
    pub async fn prepare(&self) -> Result<(), String> {
        self.in_use
            .store(true, std::sync::atomic::Ordering::Release);
        self.source.prepare().await?;
        self.restore().await;
        Ok(())
    }

    /// The Produce side, for one request.
    pub fn encryptor(&self) -> Encryptor<'_> {
        Encryptor(self.epochs.lock().expect("epochs"), &[])
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
        {
            let mut retained = self.retained.lock().expect("retained");
            let kept = retained.entry(topic.to_string()).or_default();
            let now = Instant::now();
            for r in kept.iter_mut() {
                r.ended.get_or_insert(now);
            }
            kept.retain(|r| !r.expired());
            if kept.len() >= MAX_RETAINED_PER_TOPIC {
                let drop = kept.len() + 1 - MAX_RETAINED_PER_TOPIC;
                tracing::warn!(%topic, dropped = drop, "too many data keys retained for the topic: the oldest will not be granted to consumers admitted later");
                kept.drain(..drop);
            }
            kept.push(Retained {
                key: DataKey::new(made.key.id(), *made.key.secret()).with_limit(made.key.limit()),
                recipients: made.recipients.clone(),
                made: now,
                ended: None,
            });
        }
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

    /// The ids of the keys retained for `topic` and who has a grant for each (oldest first).
    pub fn retained(&self, topic: &str) -> Vec<(KeyId, BTreeSet<Identifier>)> {
        self.retained
            .lock()
            .expect("retained")
            .get(topic)
            .map(|v| {
                v.iter()
                    .map(|r| (r.key.id(), r.recipients.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One membership check (run every [`MEMBERSHIP_CHECK`]): for each topic this node produced
    /// to, asks who is admitted now; grants every retained key to the admitted consumers it
    /// lacks, and marks the current epoch stale when its consumers changed.
    pub async fn check_membership(&self) {
        let topics: Vec<String> = {
            let retained = self.retained.lock().expect("retained");
            let epochs = self.epochs.lock().expect("epochs");
            let mut t: BTreeSet<String> = epochs.keys().cloned().collect();
            t.extend(retained.keys().cloned());
            t.into_iter().collect()
        };
        for topic in topics {
            let now = match self.source.admitted(&topic).await {
                Ok(now) => now,
                Err(e) => {
                    tracing::debug!(%topic, "membership check failed: {e}");
                    continue;
                }
            };
            self.regrant(&topic, &now).await;
            let had = {
                let epochs = self.epochs.lock().expect("epochs");
                match epochs.get(&topic) {
                    Some(e) if !e.stale => e.recipients.clone(),
                    _ => continue,
                }
            };
            if now != had {
                let left = had.difference(&now).count();
                let joined = now.difference(&had).count();
                tracing::info!(%topic, left, joined, "the topic's consumers changed: its next records use a new data key");
                if let Some(e) = self.epochs.lock().expect("epochs").get_mut(&topic) {
                    e.stale = true;
                }
                if let Some(kept) = self.retained.lock().expect("retained").get_mut(&topic) {
                    if let Some(last) = kept.last_mut() {
                        last.ended.get_or_insert(Instant::now());
                    }
                }
            }
        }
    }

    /// Grants the retained keys of `topic` to the consumers of `admitted` they lack.
    async fn regrant(&self, topic: &str, admitted: &BTreeSet<Identifier>) {
        let plan = {
            let mut retained = self.retained.lock().expect("retained");
            let Some(kept) = retained.get_mut(topic) else {
                return;
            };
            kept.retain(|r| !r.expired());
            let plan = regrant_plan(kept.iter().map(|r| (r.key.id(), &r.recipients)), admitted);
            plan.into_iter()
                .map(|(who, ids)| {
                    let keys: Vec<(KeyId, [u8; 32])> = kept
                        .iter()
                        .filter(|r| ids.contains(&r.key.id()))
                        .map(|r| (r.key.id(), *r.key.secret()))
                        .collect();
                    (who, keys)
                })
                .collect::<Vec<_>>()
        };
        for (newcomers, keys) in plan {
            match self.source.grant(topic, &keys, &newcomers).await {
                Ok(granted) => {
                    tracing::info!(%topic, keys = keys.len(), consumers = granted.len(), "retained data keys granted to consumers admitted since they were made");
                    let mut retained = self.retained.lock().expect("retained");
                    for r in retained.get_mut(topic).into_iter().flatten() {
                        if keys.iter().any(|(id, _)| *id == r.key.id()) {
                            r.recipients.extend(granted.iter().copied());
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(%topic, keys = keys.len(), consumers = newcomers.len(), "cannot grant retained data keys to newly admitted consumers (retried at the next check): {e}")
                }
            }
        }
    }

    /// Gets back the keys this node made in the last [`KEY_RETENTION`] (before a restart), once:
    /// they are retained again, oldest first, behind any made since, and this node reads its own
    /// records with them. Returns whether that is done (false: the source failed, try again).
    pub async fn restore(&self) -> bool {
        use std::sync::atomic::Ordering;
        if self.restored.load(Ordering::Acquire) {
            return true;
        }
        let now = crate::unix_now();
        let since = now.saturating_sub(KEY_RETENTION.as_secs());
        let mut back = match self.source.own_keys(since).await {
            Ok(back) => back,
            Err(e) => {
                tracing::debug!("cannot get back the data keys made before this start (retried at the next check): {e}");
                return false;
            }
        };
        back.sort_by_key(|k| k.created);
        let count = back.len();
        {
            let mut retained = self.retained.lock().expect("retained");
            let mut keys = self.keys.lock().expect("keys");
            for k in back {
                let id = k.key.id();
                let kept = retained.entry(k.topic.clone()).or_default();
                if kept.iter().any(|r| r.key.id() == id) {
                    continue;
                }
                // It stopped encrypting when the node stopped; date it from its making (an
                // Instant cannot go back before the machine's start: then from now).
                let age = Duration::from_secs(now.saturating_sub(k.created));
                let then = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
                let at = kept.partition_point(|r| r.made <= then);
                kept.insert(
                    at,
                    Retained {
                        key: DataKey::new(id, *k.key.secret()),
                        recipients: k.recipients,
                        made: then,
                        ended: Some(then),
                    },
                );
                if kept.len() > MAX_RETAINED_PER_TOPIC {
                    let drop = kept.len() - MAX_RETAINED_PER_TOPIC;
                    kept.drain(..drop);
                }
                keys.entry(id.0).or_insert(Known::Key(Box::new(k.key)));
            }
        }
        if count > 0 {
            tracing::info!(
                keys = count,
                "data keys made before this start are retained again"
            );
        }
        self.restored.store(true, Ordering::Release);
        true
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

/// Runs [`Keyring::check_membership`] every [`MEMBERSHIP_CHECK`] while the keyring lives.
/// Also gets back the keys made before this start ([`Keyring::restore`]) once an encrypting
/// inlet uses the keyring, if [`Keyring::prepare`] could not.
async fn membership_check(ring: Weak<Keyring>) {
    loop {
        tokio::time::sleep(MEMBERSHIP_CHECK).await;
        let Some(ring) = ring.upgrade() else { return };
        if ring.in_use.load(std::sync::atomic::Ordering::Acquire) {
            ring.restore().await;
        }
        ring.check_membership().await;
    }
}

/// The Produce side of one request (holds the keyring's sealers while it lives).
pub struct Encryptor<'a>(MutexGuard<'a, HashMap<String, Epoch>>, &'a [String]);

impl<'a> Encryptor<'a> {
    /// Seals only these top-level fields of JSON object values (`--encrypted-field`); none:
    /// whole values.
    pub fn with_fields(self, fields: &'a [String]) -> Self {
        Encryptor(self.0, fields)
    }
}

impl ProduceEncryptor for Encryptor<'_> {
    fn encrypted_fields(&self) -> &[String] {
        self.1
    }

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

#[cfg(test)]
mod tests;
