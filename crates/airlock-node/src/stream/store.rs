//! Where a hub keeps streams: one Kafka topic per stream (one partition), and every client's
//! position in a compacted index topic that is read back in full when the hub starts — so the
//! hub holds nothing of its own and restarting it loses nothing (docs/protocol.md §12).

use airlock_stream::protocol::{ErrorCode, FROM_END, MAX_BATCH_BYTES, MAX_RECORDS};
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Prefix of the Kafka topic of each stream.
pub const TOPIC_PREFIX: &str = "airlock.stream.";
/// The compacted topic of client positions.
pub const INDEX_TOPIC: &str = "airlock.stream-index";
/// How long one Kafka operation may retry before the hub answers "unavailable".
pub const KAFKA_DEADLINE: Duration = Duration::from_secs(10);

/// Records read (`(index, record)` in order) and the index to read next.
pub type Pulled = (Vec<(u64, Vec<u8>)>, u64);

/// A failed store operation, as the protocol reports it.
#[derive(Debug, Clone)]
pub struct StoreError {
    /// The protocol's error code.
    pub code: ErrorCode,
    /// Why, for people.
    pub reason: String,
}

impl StoreError {
    fn unavailable(what: &str, e: impl std::fmt::Display) -> Self {
        StoreError {
            code: ErrorCode::Unavailable,
            reason: format!("{what}: {e}"),
        }
    }
}

/// How the hub reaches Kafka.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// Bootstrap brokers (`host:port`, plaintext).
    pub bootstrap: Vec<String>,
    /// Copies of each topic the hub creates.
    pub replication: i16,
}

/// Streams and client positions backed by Kafka.
pub struct KafkaStreams {
    client: Client,
    settings: KafkaSettings,
    /// Partition clients by purpose: Kafka answers the requests of one connection in order,
    /// so a pull waiting for records would hold up every push behind it. Pushes to a stream
    /// share one client (`Purpose::Push`); each caller pulls on a client of its own.
    partitions: tokio::sync::Mutex<HashMap<(String, Purpose), Arc<PartitionClient>>>,
    index: Mutex<HashMap<String, u64>>,
    index_partition: PartitionClient,
}

/// What a partition client is used for (see [`KafkaStreams`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Creating topics and pushing.
    Push,
    /// Pulls of one caller (its identifier).
    Pull(String),
}

fn backoff() -> rskafka::BackoffConfig {
    rskafka::BackoffConfig {
        init_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline: Some(KAFKA_DEADLINE),
    }
}

/// The time now as a Kafka record timestamp.
fn now() -> rskafka::chrono::DateTime<rskafka::chrono::Utc> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    rskafka::chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn topic(stream: &str) -> String {
    format!("{TOPIC_PREFIX}{stream}")
}

impl KafkaStreams {
    /// Connects to Kafka, creates the index topic if needed and reads every saved position.
    pub async fn connect(settings: KafkaSettings) -> Result<Self, String> {
        let first = settings
            .bootstrap
            .first()
            .cloned()
            .ok_or("no Kafka bootstrap server given")?;
        let client = ClientBuilder::new(settings.bootstrap.clone())
            .client_id("airlock-stream-hub")
            .backoff_config(backoff())
            .build()
            .await
            .map_err(|e| format!("cannot reach Kafka at {first}: {e}"))?;
        super::admin::create_compacted_topic(
            &first,
            INDEX_TOPIC,
            settings.replication,
            KAFKA_DEADLINE,
        )
        .await?;
        let index_partition = client
            .partition_client(INDEX_TOPIC, 0, UnknownTopicHandling::Retry)
            .await
            .map_err(|e| format!("cannot open the index topic {INDEX_TOPIC}: {e}"))?;
        let index = read_index(&index_partition).await?;
        tracing::info!(
            positions = index.len(),
            "stream hub connected to Kafka at {first}"
        );
        Ok(KafkaStreams {
            client,
            settings,
            partitions: Default::default(),
            index: Mutex::new(index),
            index_partition,
        })
    }

    /// Creates a stream's topic (an existing one is fine).
    pub async fn create(&self, stream: &str) -> Result<(), StoreError> {
        let controller = self
            .client
            .controller_client()
            .map_err(|e| StoreError::unavailable("Kafka controller", e))?;
        match controller
            .create_topic(topic(stream), 1, self.settings.replication, 10_000)
            .await
        {
            Ok(()) => Ok(()),
            Err(KafkaError::ServerError {
                protocol_error: ProtocolError::TopicAlreadyExists,
                ..
            }) => Ok(()),
            Err(e) => Err(StoreError::unavailable("creating the stream's topic", e)),
        }
    }

    async fn partition(
        &self,
        stream: &str,
        purpose: Purpose,
    ) -> Result<Arc<PartitionClient>, StoreError> {
        let key = (stream.to_string(), purpose);
        let mut map = self.partitions.lock().await;
        if let Some(p) = map.get(&key) {
            return Ok(p.clone());
        }
        let p = match self
            .client
            .partition_client(topic(stream), 0, UnknownTopicHandling::Error)
            .await
        {
            Ok(p) => Arc::new(p),
            Err(KafkaError::ServerError {
                protocol_error: ProtocolError::UnknownTopicOrPartition,
                ..
            }) => {
                return Err(StoreError {
                    code: ErrorCode::UnknownStream,
                    reason: format!("no stream {stream} on this hub (create it first)"),
                })
            }
            Err(e) => return Err(StoreError::unavailable("opening the stream's topic", e)),
        };
        map.insert(key, p.clone());
        Ok(p)
    }

    /// Appends records in order; returns the index of the first.
    pub async fn push(&self, stream: &str, records: Vec<Vec<u8>>) -> Result<u64, StoreError> {
        let p = self.partition(stream, Purpose::Push).await?;
        let now = now();
        let records = records
            .into_iter()
            .map(|v| Record {
                key: None,
                value: Some(v),
                headers: BTreeMap::new(),
                timestamp: now,
            })
            .collect();
        let offsets = p
            .produce(records, Compression::NoCompression)
            .await
            .map_err(|e| StoreError::unavailable("appending to the stream", e))?;
        Ok(offsets.first().copied().unwrap_or_default().max(0) as u64)
    }

    /// Reads up to `limit` records from index `from` (or learns the end with [`FROM_END`]),
    /// waiting up to `wait` for the first; returns them and the index to read next. Records
    /// that retention already removed are skipped, with a warning.
    pub async fn pull(
        &self,
        caller: &str,
        stream: &str,
        from: u64,
        limit: u16,
        wait: Duration,
    ) -> Result<Pulled, StoreError> {
        let p = self.partition(stream, Purpose::Pull(caller.into())).await?;
        if from == FROM_END || limit == 0 {
            let end = p
                .get_offset(OffsetAt::Latest)
                .await
                .map_err(|e| StoreError::unavailable("reading the stream's end", e))?;
            let next = if from == FROM_END {
                end.max(0) as u64
            } else {
                from
            };
            return Ok((Vec::new(), next));
        }
        let Ok(offset) = i64::try_from(from) else {
            return Err(StoreError {
                code: ErrorCode::Invalid,
                reason: format!("index {from} is beyond any stream"),
            });
        };
        let wait_ms = wait.as_millis().min(i32::MAX as u128) as i32;
        let fetched = match p
            .fetch_records(offset, 1..MAX_BATCH_BYTES as i32, wait_ms)
            .await
        {
            Ok((records, _high)) => records,
            Err(KafkaError::ServerError {
                protocol_error: ProtocolError::OffsetOutOfRange,
                ..
            }) => {
                let earliest = p
                    .get_offset(OffsetAt::Earliest)
                    .await
                    .map_err(|e| StoreError::unavailable("reading the stream's start", e))?;
                if offset < earliest {
                    tracing::warn!(
                        stream,
                        from,
                        earliest,
                        "records before {earliest} were removed by Kafka's retention; skipping them"
                    );
                    return Ok((Vec::new(), earliest as u64));
                }
                return Err(StoreError {
                    code: ErrorCode::Invalid,
                    reason: format!("index {from} is past the end of stream {stream}"),
                });
            }
            Err(e) => return Err(StoreError::unavailable("reading the stream", e)),
        };
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut next = from;
        for r in fetched {
            if r.offset < offset {
                continue;
            }
            let value = r.record.value.unwrap_or_default();
            if out.len() >= usize::from(limit).min(MAX_RECORDS)
                || (!out.is_empty() && bytes + value.len() > MAX_BATCH_BYTES)
            {
                break;
            }
            bytes += value.len();
            next = r.offset as u64 + 1;
            out.push((r.offset as u64, value));
        }
        Ok((out, next))
    }

    /// A client's saved position.
    pub fn index_get(&self, key: &str) -> Option<u64> {
        self.index.lock().expect("index").get(key).copied()
    }

    /// Saves a client's position durably (in the compacted index topic), then remembers it.
    pub async fn index_save(&self, key: &str, index: u64) -> Result<(), StoreError> {
        let record = Record {
            key: Some(key.as_bytes().to_vec()),
            value: Some(index.to_be_bytes().to_vec()),
            headers: BTreeMap::new(),
            timestamp: now(),
        };
        self.index_partition
            .produce(vec![record], Compression::NoCompression)
            .await
            .map_err(|e| StoreError::unavailable("saving the position", e))?;
        self.index
            .lock()
            .expect("index")
            .insert(key.to_string(), index);
        Ok(())
    }
}

/// Reads the whole index topic: the last value of each key wins.
async fn read_index(p: &PartitionClient) -> Result<HashMap<String, u64>, String> {
    let end = p
        .get_offset(OffsetAt::Latest)
        .await
        .map_err(|e| format!("reading the end of {INDEX_TOPIC}: {e}"))?;
    let mut offset = p
        .get_offset(OffsetAt::Earliest)
        .await
        .map_err(|e| format!("reading the start of {INDEX_TOPIC}: {e}"))?;
    let mut map = HashMap::new();
    while offset < end {
        let (records, _) = p
            .fetch_records(offset, 1..MAX_BATCH_BYTES as i32, 1_000)
            .await
            .map_err(|e| format!("reading {INDEX_TOPIC}: {e}"))?;
        if records.is_empty() {
            break;
        }
        for r in records {
            offset = offset.max(r.offset + 1);
            let (Some(k), Some(v)) = (r.record.key, r.record.value) else {
                continue;
            };
            let (Ok(k), Ok(v)) = (String::from_utf8(k), <[u8; 8]>::try_from(v.as_slice())) else {
                tracing::warn!(
                    offset = r.offset,
                    "skipping a malformed record of {INDEX_TOPIC}"
                );
                continue;
            };
            map.insert(k, u64::from_be_bytes(v));
        }
    }
    Ok(map)
}
