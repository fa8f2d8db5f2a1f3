//! Record encryption at the inlet (`docs/kafka-encryption.md` §4.1, §4.2): Produce requests
//! have their record values sealed, Fetch responses have them opened.
//!
//! The key side (key directory, DEK cache, policies) belongs to the runtime; this module asks it
//! through two small traits, [`ProduceEncryptor`] and [`FetchDecryptor`], and never waits: when
//! a key is missing it says which ([`crate::RequestAction::NeedKey`],
//! [`crate::ResponseAction::NeedKeys`]) and the runtime hands the same frame in again once it
//! has the key. A request needs at most one round trip per topic, a response one per key id,
//! never one per record.
//!
//! Fetch failures are per partition: a partition with a record that cannot be opened (or with
//! plaintext on a topic that must be encrypted, or on a topic id we cannot name) loses its
//! records and carries [`DECRYPT_FAILURE_ERROR`]; the runtime gets a [`RecordFailure`] for its
//! logs and metrics. A client never receives ciphertext as data, nor an empty partition as if
//! it were the end.

use std::collections::{BTreeSet, HashMap};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, FetchResponse, ProduceRequest};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::fields::{seal_fields, FieldError, SealedFields};
use crate::record_crypto::{open, open_field, peek_key_id, CryptoError, DataKey, KeyId, Sealer};
use crate::records::{map_values, MapOptions, RecordsError};
use crate::shape::{self, Schema};
use crate::KafkaError;

/// The error code a Fetch partition carries when its records cannot be given to the client:
/// Kafka's CORRUPT_MESSAGE (2).
///
/// Why this one: the Java consumer turns CORRUPT_MESSAGE into a `KafkaException` thrown from
/// `poll()` ("Encountered corrupt message when fetching offset …") without moving the
/// partition's position, so the application sees the failure, and polling again fetches the same
/// offset (it succeeds once the missing grant arrives). UNKNOWN_SERVER_ERROR would only be logged
/// and retried forever, unseen; the topic-level errors (UNKNOWN_TOPIC_OR_PARTITION,
/// NOT_LEADER_OR_FOLLOWER…) are retried silently after a metadata refresh;
/// TOPIC_AUTHORIZATION_FAILED would claim the broker refused access, which it did not.
pub const DECRYPT_FAILURE_ERROR: i16 = 2;

/// The runtime could not hand out a data key for a topic yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no data key is ready for this topic yet")]
pub struct KeyNotReady;

/// The producer side of the key management, as the inlet's Produce path sees it.
pub trait ProduceEncryptor {
    /// The sealer of `topic`'s current data key. `Ok(None)`: the topic is not encrypted, its
    /// records pass as they are. `Err(KeyNotReady)`: the runtime must first make a key (the
    /// request is then handed in again).
    fn sealer(&mut self, topic: &str) -> Result<Option<&mut Sealer>, KeyNotReady>;
    /// The top-level fields of JSON object values to seal (`--encrypted-field`); empty (the
    /// default): whole values. See [`crate::fields`].
    fn encrypted_fields(&self) -> &[String] {
        &[]
    }
}

/// What the consumer side knows of a key id.
#[derive(Debug)]
pub enum KeyLookup<'a> {
    /// The key, ready to open records.
    Ready(&'a DataKey),
    /// Not in the cache: ask the directory for it.
    Missing,
    /// Asked already, and not to be had (no grant for us, producer not admitted, unknown key).
    Unavailable,
}

/// The consumer side of the key management, as the inlet's Fetch path sees it.
pub trait FetchDecryptor {
    /// The data key named `id`.
    fn data_key(&mut self, id: KeyId) -> KeyLookup<'_>;
    /// Whether plaintext values on `topic` must be refused.
    fn must_be_encrypted(&self, topic: &str) -> bool;
}

/// Topic id → name, learned from Metadata responses (v10+). Produce v13+ and Fetch v13+ name
/// topics by id, but the AAD binds the topic's name. Shared by all connections of one inlet.
#[derive(Debug, Clone, Default)]
pub struct TopicNames {
    by_id: HashMap<[u8; 16], String>,
}

impl TopicNames {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers that `id` names `name` (the nil id is ignored).
    pub fn learn(&mut self, id: [u8; 16], name: &str) {
        if id != [0; 16] {
            self.by_id.insert(id, name.to_string());
        }
    }

    /// The name of topic `id`, if a Metadata response told it.
    pub fn name(&self, id: &[u8; 16]) -> Option<&str> {
        self.by_id.get(id).map(String::as_str)
    }
}

/// Records per topic, one entry per topic in the order first met; topics with none are left
/// out. The runtime adds them to its per-topic counters (`airlock_kafka_records_*_total`).
pub type TopicCounts = Vec<(String, u64)>;

/// Adds `n` records of `topic` to `counts`.
fn count(counts: &mut TopicCounts, topic: &str, n: u64) {
    if n == 0 {
        return;
    }
    match counts.iter_mut().find(|(t, _)| t == topic) {
        Some((_, c)) => *c += n,
        None => counts.push((topic.to_string(), n)),
    }
}

/// Why a Fetch partition's records were withheld.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    /// The topic id is not in [`TopicNames`]: its records cannot be authenticated.
    UnknownTopicId,
    /// A record's key is unavailable (no grant for us, producer not admitted…).
    KeyUnavailable(KeyId),
    /// A record failed to open.
    Undecryptable(CryptoError),
    /// A plaintext value on a topic that must be encrypted.
    Plaintext,
    /// The record batches could not be read.
    BadBatch(RecordsError),
    /// A JSON value's sealed field could not be read or opened (`--encrypted-field`).
    BadField(FieldError),
}

/// A partition whose records were withheld from the client, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFailure {
    /// The topic's name, or its id in hex when it is unknown.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset of the offending record, when one is to blame.
    pub offset: Option<i64>,
    /// Why.
    pub reason: FailureReason,
}

/// What sealing a Produce request's body gave.
pub(crate) enum Sealed {
    /// The new request frame and the values sealed per topic.
    Body(Bytes, TopicCounts),
    /// No topic of the request is encrypted: send the frame as it came.
    Unchanged,
    /// This topic's key must be made first.
    NeedKey(String),
}

fn decode_checked<M: Decodable>(
    schema: &Schema,
    api_key: ApiKey,
    version: i16,
    body: &Bytes,
    part: &'static str,
) -> Result<M, KafkaError> {
    let err = |reason: String| KafkaError::Decode {
        api_key: api_key as i16,
        version,
        part,
        reason,
    };
    shape::check(schema, version, body).map_err(|r| err(r.to_string()))?;
    M::decode(&mut body.clone(), version).map_err(|e| err(e.to_string()))
}

/// The whole frame of `m` after `header`: the length, the header bytes, then `m` encoded in
/// place — one buffer, sized from `size_hint` (the body it replaces), so a large Fetch
/// response is not copied again to be framed nor regrown while it is written.
fn encode_framed<M: Encodable>(
    api_key: ApiKey,
    version: i16,
    header: &[u8],
    m: &M,
    size_hint: usize,
) -> Result<Bytes, KafkaError> {
    let err = |reason: String| KafkaError::Encode {
        api_key: api_key as i16,
        version,
        reason,
    };
    let mut out = BytesMut::with_capacity(4 + header.len() + size_hint + size_hint / 16 + 64);
    out.put_u32(0);
    out.put_slice(header);
    m.encode(&mut out, version)
        .map_err(|e| err(e.to_string()))?;
    let len = u32::try_from(out.len() - 4).map_err(|_| err("frame exceeds 4 GiB".into()))?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out.freeze())
}

fn topic_name(name: &str, id: &[u8; 16], version: i16, topics: &TopicNames) -> Option<String> {
    if version >= 13 {
        topics.name(id).map(str::to_string)
    } else {
        Some(name.to_string())
    }
}

/// Seals the record values of a Produce request body (after its header).
pub(crate) fn seal_produce(
    version: i16,
    header: &[u8],
    body: &Bytes,
    topics: &TopicNames,
    enc: &mut dyn ProduceEncryptor,
) -> Result<Sealed, KafkaError> {
    let mut request: ProduceRequest = decode_checked(
        &shape::PRODUCE_REQUEST,
        ApiKey::Produce,
        version,
        body,
        "request",
    )?;
    let refuse = |topic: &str, reason: String| KafkaError::Encrypt {
        topic: topic.to_string(),
        reason,
    };
    // Every topic's key is asked for before anything is sealed, so a request that must wait
    // for a key spends no counter values.
    let mut names = Vec::with_capacity(request.topic_data.len());
    for t in &request.topic_data {
        let name =
            topic_name(&t.name, t.topic_id.as_bytes(), version, topics).ok_or_else(|| {
                refuse(
                    &hex_id(t.topic_id.as_bytes()),
                    "unknown topic id: no Metadata response named it on this inlet".into(),
                )
            })?;
        if enc.sealer(&name).is_err() {
            return Ok(Sealed::NeedKey(name));
        }
        names.push(name);
    }
    let mut changed = false;
    let mut encrypted = TopicCounts::new();
    let fields = enc.encrypted_fields().to_vec();
    for (t, name) in request.topic_data.iter_mut().zip(&names) {
        let Ok(Some(sealer)) = enc.sealer(name) else {
            continue;
        };
        for p in &mut t.partition_data {
            let Some(records) = &p.records else { continue };
            let mut n = 0u64;
            let sealed = map_values(records, &MapOptions::produce(), |ctx, v| {
                n += u64::from(v.is_some());
                let Some(v) = v else { return Ok(None) };
                if fields.is_empty() {
                    return sealer
                        .seal(name, ctx.key, &v)
                        .map(|b| Some(Bytes::from(b)))
                        .map_err(SealFailure::Crypto);
                }
                match seal_fields(sealer, name, ctx.key, &fields, &v) {
                    Ok(b) => Ok(Some(Bytes::from(b))),
                    Err(FieldError::Crypto { source, .. }) => Err(SealFailure::Crypto(source)),
                    Err(e) => Err(SealFailure::Field(e)),
                }
            });
            match sealed {
                Ok(r) => {
                    p.records = Some(r);
                    count(&mut encrypted, name, n);
                }
                Err(SealFailure::Crypto(CryptoError::KeyExhausted { .. })) => {
                    return Ok(Sealed::NeedKey(name.clone()))
                }
                Err(SealFailure::Crypto(e)) => return Err(refuse(name, e.to_string())),
                Err(SealFailure::Records(e)) => return Err(refuse(name, e.to_string())),
                Err(SealFailure::Field(e)) => return Err(refuse(name, e.to_string())),
            }
            changed = true;
        }
    }
    if !changed {
        return Ok(Sealed::Unchanged);
    }
    encode_framed(ApiKey::Produce, version, header, &request, body.len())
        .map(|b| Sealed::Body(b, encrypted))
}

enum SealFailure {
    Crypto(CryptoError),
    Records(RecordsError),
    Field(FieldError),
}

impl From<RecordsError> for SealFailure {
    fn from(e: RecordsError) -> Self {
        SealFailure::Records(e)
    }
}

/// What opening a Fetch response gave.
pub(crate) enum Opened {
    /// The new response frame, the partitions withheld and the values opened per topic.
    Body(Bytes, Vec<RecordFailure>, TopicCounts),
    /// No record needed opening and none was refused: send the frame as it came.
    Unchanged,
    /// These keys must be fetched first.
    NeedKeys(Vec<KeyId>),
}

enum OpenFailure {
    Reason(Option<i64>, FailureReason),
}

impl From<RecordsError> for OpenFailure {
    fn from(e: RecordsError) -> Self {
        OpenFailure::Reason(None, FailureReason::BadBatch(e))
    }
}

/// Opens the record values of a Fetch response body (after its header).
pub(crate) fn open_fetch(
    version: i16,
    header: &[u8],
    body: &Bytes,
    topics: &TopicNames,
    dec: &mut dyn FetchDecryptor,
) -> Result<Opened, KafkaError> {
    let mut response: FetchResponse = decode_checked(
        &shape::FETCH_RESPONSE,
        ApiKey::Fetch,
        version,
        body,
        "response",
    )?;
    let mut missing = BTreeSet::new();
    let mut failures = Vec::new();
    let mut decrypted = TopicCounts::new();
    let mut changed = false;
    for t in &mut response.responses {
        let name = topic_name(&t.topic, t.topic_id.as_bytes(), version, topics);
        for p in &mut t.partitions {
            let Some(records) = p.records.as_ref().filter(|r| !r.is_empty()) else {
                continue;
            };
            let mut opened = 0u64;
            let result = match &name {
                None => Err(OpenFailure::Reason(None, FailureReason::UnknownTopicId)),
                Some(name) => map_values(records, &MapOptions::fetch(), |ctx, v| {
                    let Some(v) = v else { return Ok(None) };
                    let fail = |reason| OpenFailure::Reason(Some(ctx.offset), reason);
                    let Some(id) = peek_key_id(&v) else {
                        // Not a whole-value blob: a JSON object with sealed fields, or plaintext.
                        let found = match SealedFields::find(&v) {
                            Ok(Some(found)) => found,
                            Ok(None) => {
                                return match dec.must_be_encrypted(name) {
                                    true => Err(fail(FailureReason::Plaintext)),
                                    false => Ok(Some(v)),
                                }
                            }
                            Err(e) => return Err(fail(FailureReason::BadField(e))),
                        };
                        let mut waiting = false;
                        for id in found.key_ids() {
                            match dec.data_key(id) {
                                KeyLookup::Ready(_) => {}
                                KeyLookup::Missing => {
                                    missing.insert(id);
                                    waiting = true;
                                }
                                KeyLookup::Unavailable => {
                                    return Err(fail(FailureReason::KeyUnavailable(id)))
                                }
                            }
                        }
                        if waiting {
                            return Ok(Some(v));
                        }
                        let plain = found
                            .open(|field, blob| {
                                let id = peek_key_id(blob)
                                    .ok_or(CryptoError::Truncated { len: blob.len() })?;
                                match dec.data_key(id) {
                                    KeyLookup::Ready(key) => {
                                        open_field(key, name, ctx.key, field, blob)
                                    }
                                    _ => Err(CryptoError::NotEncrypted),
                                }
                            })
                            .map_err(|e| fail(FailureReason::BadField(e)))?;
                        opened += 1;
                        return Ok(Some(Bytes::from(plain)));
                    };
                    match dec.data_key(id) {
                        KeyLookup::Ready(key) => open(key, name, ctx.key, &v)
                            .map(|plain| {
                                opened += 1;
                                Some(Bytes::from(plain))
                            })
                            .map_err(|e| fail(FailureReason::Undecryptable(e))),
                        KeyLookup::Missing => {
                            missing.insert(id);
                            Ok(Some(v))
                        }
                        KeyLookup::Unavailable => Err(fail(FailureReason::KeyUnavailable(id))),
                    }
                }),
            };
            match result {
                Ok(r) => {
                    changed |= r != records;
                    p.records = Some(r);
                    if let Some(name) = &name {
                        count(&mut decrypted, name, opened);
                    }
                }
                Err(OpenFailure::Reason(offset, reason)) => {
                    failures.push(RecordFailure {
                        topic: name
                            .clone()
                            .unwrap_or_else(|| hex_id(t.topic_id.as_bytes())),
                        partition: p.partition_index,
                        offset,
                        reason,
                    });
                    p.records = Some(Bytes::new());
                    p.error_code = DECRYPT_FAILURE_ERROR;
                    changed = true;
                }
            }
        }
    }
    if !missing.is_empty() {
        return Ok(Opened::NeedKeys(missing.into_iter().collect()));
    }
    if !changed {
        return Ok(Opened::Unchanged);
    }
    Ok(Opened::Body(
        encode_framed(ApiKey::Fetch, version, header, &response, body.len())?,
        failures,
        decrypted,
    ))
}

/// Records the topic ids of a Metadata response.
pub(crate) fn learn_topics(
    response: &kafka_protocol::messages::MetadataResponse,
    topics: &mut TopicNames,
) {
    for t in &response.topics {
        if let Some(name) = &t.name {
            topics.learn(*t.topic_id.as_bytes(), name);
        }
    }
}

fn hex_id(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[path = "encryption_tests.rs"]
mod tests;
