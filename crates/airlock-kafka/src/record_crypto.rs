//! The encrypted record value ("blob") of `docs/kafka-encryption.md` §4.1 step 2.
//!
//! A record value `v` becomes
//!
//! ```text
//! 0xA1 ‖ key_id(8) ‖ counter(8, big-endian) ‖ AES-256-GCM(DEK, nonce, aad, v) ‖ tag(16)
//! nonce = 0x00000000 ‖ counter
//! aad   = "airlock kafka record v1" ‖ u16 len ‖ topic ‖ key_id ‖ counter
//!         ‖ record key (i32 length, -1 for none, then the bytes)
//! ```
//!
//! so a blob is 33 bytes longer than its value. A blob of one JSON field (`--encrypted-field`,
//! [`Sealer::seal_field`]) has the label `"airlock kafka field v1"` instead and the field name
//! (u16 len ‖ name) appended to the AAD. The AAD binds the topic, the record key and the
//! key id: a blob copied to another topic or under another record key does not open.
//!
//! A [`Sealer`] owns one data key and its counter: the counter only moves forward and is never
//! resumed (a restarted producer draws a new key), so a nonce is never used twice under one key.
//! [`open`] is stateless: a consumer can read from offset 0 with nothing but the key.

use std::fmt;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use zeroize::Zeroizing;

/// The first byte of every blob.
pub const BLOB_MAGIC: u8 = 0xA1;
/// Bytes a blob adds to the value it seals: magic, key id, counter and tag.
pub const BLOB_OVERHEAD: usize = 1 + 8 + 8 + TAG_LEN;
/// The most records one data key may seal (the design's hard limit).
pub const MAX_RECORDS_PER_KEY: u64 = 1 << 32;
/// The default number of records after which a producer rotates its data key.
pub const DEFAULT_RECORDS_PER_KEY: u64 = 1 << 24;

const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 8 + 8;
const AAD_LABEL: &[u8] = b"airlock kafka record v1";
const FIELD_AAD_LABEL: &[u8] = b"airlock kafka field v1";

/// Eight bytes naming one data key, unique in the project's key directory.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Why a value could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The value does not start with the blob magic byte: it is not an encrypted record.
    #[error("record value is not an Airlock encrypted record (no 0xA1 magic byte)")]
    NotEncrypted,
    /// The value starts like a blob but is shorter than a blob's header and tag.
    #[error(
        "encrypted record of {len} bytes is truncated (a blob has at least {BLOB_OVERHEAD} bytes)"
    )]
    Truncated {
        /// The value's length.
        len: usize,
    },
    /// The blob names another key than the one given.
    #[error("encrypted record uses key {found}, not the given key {expected}")]
    WrongKey {
        /// The id of the key given to [`open`].
        expected: KeyId,
        /// The id the blob names.
        found: KeyId,
    },
    /// The blob's counter is at or beyond the key's record limit: no producer sealed it.
    #[error(
        "encrypted record counter {counter} is beyond key {key_id}'s limit of {limit} records"
    )]
    CounterBeyondLimit {
        /// The key.
        key_id: KeyId,
        /// The blob's counter.
        counter: u64,
        /// The key's record limit.
        limit: u64,
    },
    /// Authentication failed: the blob was altered, or moved to another topic or record key.
    #[error(
        "encrypted record fails authentication: altered, or moved to another topic or record key"
    )]
    TagMismatch,
    /// The sealer's key has sealed all the records it may: the producer must rotate.
    #[error("data key {key_id} has sealed its limit of {limit} records; rotate to a new key")]
    KeyExhausted {
        /// The exhausted key.
        key_id: KeyId,
        /// Its record limit.
        limit: u64,
    },
    /// The topic name is longer than the AAD's 16-bit length field (Kafka allows 249 bytes).
    #[error("topic name of {len} bytes is too long to encrypt records for")]
    TopicTooLong {
        /// The name's length.
        len: usize,
    },
    /// A field name is longer than the AAD's 16-bit length field.
    #[error("field name of {len} bytes is too long to encrypt")]
    FieldTooLong {
        /// The name's length.
        len: usize,
    },
    /// The record key or value is too large for Kafka's 32-bit length fields.
    #[error("record of {len} bytes is too large to encrypt")]
    RecordTooLarge {
        /// The offending length.
        len: usize,
    },
}

/// An AES-256-GCM data key (DEK) with its id and record limit. The key bytes are wiped from
/// memory when it is dropped.
pub struct DataKey {
    id: KeyId,
    limit: u64,
    bytes: Zeroizing<[u8; 32]>,
    aead: LessSafeKey,
}

impl DataKey {
    /// A data key from its 32 secret bytes, allowed the hard limit of records
    /// ([`MAX_RECORDS_PER_KEY`]).
    pub fn new(id: KeyId, key: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(key);
        let unbound = match UnboundKey::new(&AES_256_GCM, &bytes[..]) {
            Ok(k) => k,
            // ring refuses only a key of the wrong length; ours is 32 bytes by type.
            Err(_) => unreachable!("AES-256-GCM takes 32-byte keys"),
        };
        Self {
            id,
            limit: MAX_RECORDS_PER_KEY,
            bytes,
            aead: LessSafeKey::new(unbound),
        }
    }

    /// The same key allowed at most `limit` records (clamped to [`MAX_RECORDS_PER_KEY`]): the
    /// epoch limit of its key record.
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = limit.min(MAX_RECORDS_PER_KEY);
        self
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// How many records the key may seal.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The secret key bytes (for wrapping the key to consumers).
    pub fn secret(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// Seals record values under one data key, numbering them with a counter that only moves forward.
#[derive(Debug)]
pub struct Sealer {
    key: DataKey,
    next: u64,
}

impl Sealer {
    /// A sealer for a freshly drawn key; its first record gets counter 0.
    pub fn new(key: DataKey) -> Self {
        Self { key, next: 0 }
    }

    /// The key this sealer uses.
    pub fn key(&self) -> &DataKey {
        &self.key
    }

    /// The counter the next record gets (= the records sealed so far).
    pub fn sealed(&self) -> u64 {
        self.next
    }

    /// How many more records this key may seal.
    pub fn remaining(&self) -> u64 {
        self.key.limit.saturating_sub(self.next)
    }

    /// Seals `value`, a record of `topic` with `record_key` (None for a record without key),
    /// into a blob. Refused with [`CryptoError::KeyExhausted`] once the key's limit is reached.
    pub fn seal(
        &mut self,
        topic: &str,
        record_key: Option<&[u8]>,
        value: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.seal_blob(topic, record_key, None, value)
    }

    /// Seals the JSON text `value` of top-level field `field` of a record value (the field
    /// name is bound in the AAD: a blob moved to another field does not open).
    pub fn seal_field(
        &mut self,
        topic: &str,
        record_key: Option<&[u8]>,
        field: &str,
        value: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.seal_blob(topic, record_key, Some(field), value)
    }

    fn seal_blob(
        &mut self,
        topic: &str,
        record_key: Option<&[u8]>,
        field: Option<&str>,
        value: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let counter = self.next;
        if counter >= self.key.limit {
            return Err(CryptoError::KeyExhausted {
                key_id: self.key.id,
                limit: self.key.limit,
            });
        }
        if value.len() > i32::MAX as usize - BLOB_OVERHEAD {
            return Err(CryptoError::RecordTooLarge { len: value.len() });
        }
        let aad = aad(topic, self.key.id, counter, record_key, field)?;
        let mut blob = Vec::with_capacity(value.len() + BLOB_OVERHEAD);
        blob.push(BLOB_MAGIC);
        blob.extend_from_slice(&self.key.id.0);
        blob.extend_from_slice(&counter.to_be_bytes());
        let mut body = value.to_vec();
        self.key
            .aead
            .seal_in_place_append_tag(nonce(counter), Aad::from(&aad), &mut body)
            .map_err(|_| CryptoError::RecordTooLarge { len: value.len() })?;
        blob.extend_from_slice(&body);
        self.next = counter + 1;
        Ok(blob)
    }
}

/// The key id a value names, or None when the value is not a blob (no magic byte, or too short).
pub fn peek_key_id(blob: &[u8]) -> Option<KeyId> {
    if blob.len() < BLOB_OVERHEAD || blob[0] != BLOB_MAGIC {
        return None;
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&blob[1..9]);
    Some(KeyId(id))
}

/// Opens a blob sealed with `key` for a record of `topic` with `record_key`.
pub fn open(
    key: &DataKey,
    topic: &str,
    record_key: Option<&[u8]>,
    blob: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    open_blob(key, topic, record_key, None, blob)
}

/// Opens a blob [`Sealer::seal_field`] made for field `field` of a record of `topic` with
/// `record_key`.
pub fn open_field(
    key: &DataKey,
    topic: &str,
    record_key: Option<&[u8]>,
    field: &str,
    blob: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    open_blob(key, topic, record_key, Some(field), blob)
}

fn open_blob(
    key: &DataKey,
    topic: &str,
    record_key: Option<&[u8]>,
    field: Option<&str>,
    blob: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if blob.first() != Some(&BLOB_MAGIC) {
        return Err(CryptoError::NotEncrypted);
    }
    let found = peek_key_id(blob).ok_or(CryptoError::Truncated { len: blob.len() })?;
    if found != key.id {
        return Err(CryptoError::WrongKey {
            expected: key.id,
            found,
        });
    }
    let mut counter = [0u8; 8];
    counter.copy_from_slice(&blob[9..HEADER_LEN]);
    let counter = u64::from_be_bytes(counter);
    if counter >= key.limit {
        return Err(CryptoError::CounterBeyondLimit {
            key_id: key.id,
            counter,
            limit: key.limit,
        });
    }
    let aad = aad(topic, key.id, counter, record_key, field)?;
    let mut body = blob[HEADER_LEN..].to_vec();
    let plain_len = key
        .aead
        .open_in_place(nonce(counter), Aad::from(&aad), &mut body)
        .map_err(|_| CryptoError::TagMismatch)?
        .len();
    body.truncate(plain_len);
    Ok(body)
}

fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

fn aad(
    topic: &str,
    key_id: KeyId,
    counter: u64,
    record_key: Option<&[u8]>,
    field: Option<&str>,
) -> Result<Vec<u8>, CryptoError> {
    let topic_len =
        u16::try_from(topic.len()).map_err(|_| CryptoError::TopicTooLong { len: topic.len() })?;
    let key_len = match record_key {
        None => -1i32,
        Some(k) => {
            i32::try_from(k.len()).map_err(|_| CryptoError::RecordTooLarge { len: k.len() })?
        }
    };
    let mut aad = Vec::with_capacity(
        AAD_LABEL.len() + 2 + topic.len() + 8 + 8 + 4 + record_key.map_or(0, <[u8]>::len),
    );
    aad.extend_from_slice(if field.is_some() {
        FIELD_AAD_LABEL
    } else {
        AAD_LABEL
    });
    aad.extend_from_slice(&topic_len.to_be_bytes());
    aad.extend_from_slice(topic.as_bytes());
    aad.extend_from_slice(&key_id.0);
    aad.extend_from_slice(&counter.to_be_bytes());
    aad.extend_from_slice(&key_len.to_be_bytes());
    aad.extend_from_slice(record_key.unwrap_or_default());
    if let Some(f) = field {
        let len = u16::try_from(f.len()).map_err(|_| CryptoError::FieldTooLong { len: f.len() })?;
        aad.extend_from_slice(&len.to_be_bytes());
        aad.extend_from_slice(f.as_bytes());
    }
    Ok(aad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: KeyId = KeyId([1, 2, 3, 4, 5, 6, 7, 8]);

    fn key() -> DataKey {
        DataKey::new(ID, [7; 32])
    }

    #[test]
    fn round_trip_and_overhead() {
        let mut sealer = Sealer::new(key());
        for value in [&b""[..], b"x", &[0u8; 1000]] {
            let blob = sealer.seal("orders", Some(b"k"), value).unwrap();
            assert_eq!(blob.len(), value.len() + BLOB_OVERHEAD);
            assert_eq!(peek_key_id(&blob), Some(ID));
            assert_eq!(open(&key(), "orders", Some(b"k"), &blob).unwrap(), value);
        }
        assert_eq!(sealer.sealed(), 3);
    }

    #[test]
    fn counters_are_distinct_so_equal_values_differ() {
        let mut sealer = Sealer::new(key());
        let a = sealer.seal("t", None, b"same").unwrap();
        let b = sealer.seal("t", None, b"same").unwrap();
        assert_ne!(a, b);
        assert_eq!(&a[9..17], &0u64.to_be_bytes());
        assert_eq!(&b[9..17], &1u64.to_be_bytes());
    }

    #[test]
    fn aad_binds_topic_record_key_key_id_and_counter() {
        let blob = Sealer::new(key())
            .seal("orders", Some(b"k1"), b"v")
            .unwrap();
        assert_eq!(
            open(&key(), "orders2", Some(b"k1"), &blob),
            Err(CryptoError::TagMismatch)
        );
        assert_eq!(
            open(&key(), "orders", Some(b"k2"), &blob),
            Err(CryptoError::TagMismatch)
        );
        assert_eq!(
            open(&key(), "orders", None, &blob),
            Err(CryptoError::TagMismatch)
        );
        // Another key id in the blob: refused before decryption with the given key...
        let mut other_id = blob.clone();
        other_id[1] ^= 1;
        assert!(matches!(
            open(&key(), "orders", Some(b"k1"), &other_id),
            Err(CryptoError::WrongKey { .. })
        ));
        // ...and with the same secret under that id, the AAD still refuses it.
        let renamed = DataKey::new(peek_key_id(&other_id).unwrap(), [7; 32]);
        assert_eq!(
            open(&renamed, "orders", Some(b"k1"), &other_id),
            Err(CryptoError::TagMismatch)
        );
        let mut flipped = blob.clone();
        flipped[16] ^= 1;
        assert_eq!(
            open(&key(), "orders", Some(b"k1"), &flipped),
            Err(CryptoError::TagMismatch)
        );
    }

    #[test]
    fn tampering_with_any_byte_fails() {
        let blob = Sealer::new(key()).seal("t", Some(b"k"), b"hello").unwrap();
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x80;
            assert!(open(&key(), "t", Some(b"k"), &bad).is_err(), "byte {i}");
        }
        for len in 0..blob.len() {
            assert!(
                open(&key(), "t", Some(b"k"), &blob[..len]).is_err(),
                "{len}"
            );
        }
    }

    #[test]
    fn null_and_empty_record_keys_differ() {
        let blob = Sealer::new(key()).seal("t", None, b"v").unwrap();
        assert_eq!(
            open(&key(), "t", Some(b""), &blob),
            Err(CryptoError::TagMismatch)
        );
        assert_eq!(open(&key(), "t", None, &blob).unwrap(), b"v");
    }

    #[test]
    fn counter_limit_is_enforced_on_both_sides() {
        let mut sealer = Sealer::new(key().with_limit(2));
        sealer.seal("t", None, b"a").unwrap();
        sealer.seal("t", None, b"b").unwrap();
        assert_eq!(sealer.remaining(), 0);
        assert_eq!(
            sealer.seal("t", None, b"c"),
            Err(CryptoError::KeyExhausted {
                key_id: ID,
                limit: 2
            })
        );
        let blob = Sealer::new(key()).seal("t", None, b"a").unwrap();
        let mut late = blob.clone();
        late[9..17].copy_from_slice(&5u64.to_be_bytes());
        assert!(matches!(
            open(&key().with_limit(5), "t", None, &late),
            Err(CryptoError::CounterBeyondLimit { counter: 5, .. })
        ));
        assert_eq!(
            key().with_limit(u64::MAX).limit(),
            MAX_RECORDS_PER_KEY,
            "clamped to the hard limit"
        );
    }

    #[test]
    fn not_a_blob() {
        assert_eq!(peek_key_id(b""), None);
        assert_eq!(peek_key_id(b"plain text value that is long enough"), None);
        assert_eq!(peek_key_id(&[BLOB_MAGIC; BLOB_OVERHEAD - 1]), None);
        assert_eq!(
            open(&key(), "t", None, b"plain"),
            Err(CryptoError::NotEncrypted)
        );
        assert_eq!(open(&key(), "t", None, b""), Err(CryptoError::NotEncrypted));
        assert_eq!(
            open(&key(), "t", None, &[BLOB_MAGIC, 1]),
            Err(CryptoError::Truncated { len: 2 })
        );
        let long = "x".repeat(70_000);
        assert_eq!(
            Sealer::new(key()).seal(&long, None, b"v"),
            Err(CryptoError::TopicTooLong { len: 70_000 })
        );
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let text = format!("{:?}", Sealer::new(key()));
        assert!(text.contains("0102030405060708"), "{text}");
        assert!(!text.contains("7, 7"), "{text}");
    }
}
