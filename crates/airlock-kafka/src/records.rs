//! Kafka record batches (format v2, "magic 2"), read and written again with only the values
//! changed.
//!
//! [`map_values`] splits a `records` field (of a Produce request or a Fetch response) into its
//! batches, decompresses each (with a size cap), hands every record value to a function and
//! writes the batch again. Everything but the values is kept as it was: the batch header (base
//! offset, partition leader epoch, producer id and epoch, base sequence, transactional flag,
//! timestamps and timestamp type, last offset delta, record count) is copied, and each record's
//! attributes, timestamp and offset deltas, key and headers are copied as bytes. Only the codec
//! bits, the batch length and the CRC are recomputed. Control batches (transaction markers),
//! empty batches and batches whose values did not change are copied byte for byte, in their own
//! codec.
//!
//! kafka-protocol's `RecordBatchDecoder` is not used: it reserves memory from the untrusted
//! record and header counts, inflates without a cap and cannot write a batch back with its
//! timestamp type and offsets as they were. The walk here checks every length against the bytes
//! present before it takes anything.

use bytes::Bytes;
pub use kafka_protocol::records::Compression;

use crate::codec;

/// The default cap on a batch's decompressed records.
pub const DEFAULT_MAX_BATCH_BYTES: usize = 64 << 20;

const HEADER_LEN: usize = 61;
const LOG_OVERHEAD: usize = 12;
const CRC_START: usize = 21;
const CONTROL: i16 = 1 << 5;
const TRANSACTIONAL: i16 = 1 << 4;
const LOG_APPEND_TIME: i16 = 1 << 3;

/// Why a `records` field could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordsError {
    /// The bytes end inside a batch or record.
    #[error("record batch is truncated: {what}")]
    Truncated {
        /// What was being read.
        what: &'static str,
    },
    /// A batch is not in format v2 (v0/v1 message sets are not read).
    #[error("record batch has magic {magic}; only format v2 (Kafka 0.11+) is read")]
    UnsupportedMagic {
        /// The batch's magic byte.
        magic: i8,
    },
    /// A batch's CRC does not match its content.
    #[error("record batch at offset {base_offset} fails its CRC check")]
    CrcMismatch {
        /// The batch's base offset.
        base_offset: i64,
    },
    /// The attributes name a codec Kafka does not define.
    #[error("record batch uses unknown compression codec {code}")]
    UnknownCodec {
        /// The attributes' codec bits.
        code: i16,
    },
    /// A batch decompresses to more than the cap.
    #[error("record batch decompresses to more than {limit} bytes; refused (raise the cap if such batches are legitimate)")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// Decompression failed.
    #[error("cannot decompress {codec:?} record batch: {reason}")]
    Decompress {
        /// The codec.
        codec: Compression,
        /// What the codec said.
        reason: String,
    },
    /// Compression failed.
    #[error("cannot compress {codec:?} record batch: {reason}")]
    Compress {
        /// The codec.
        codec: Compression,
        /// What the codec said.
        reason: String,
    },
    /// A batch or record is not laid out as the format says.
    #[error("malformed record batch: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The value function turned a null value (tombstone) into a value or the reverse.
    #[error(
        "record at offset {offset}: a null value must stay null and a value must stay a value"
    )]
    NullnessChanged {
        /// The record's offset.
        offset: i64,
    },
}

/// Which codec rewritten batches use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recompress {
    /// The codec each batch came with (the producer's choice, on the produce path).
    Keep,
    /// This codec for every rewritten batch (none, on the fetch path).
    Use(Compression),
}

/// What to do with a batch cut short at the end of the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartialTail {
    /// An error: a Produce request carries whole batches only.
    Refuse,
    /// Leave it out: a broker may cut the last batch of a Fetch response at the size limit, and
    /// clients ignore such a tail (and fetch it again from its offset).
    Drop,
}

/// How [`map_values`] reads and writes batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapOptions {
    /// The codec of rewritten batches (batches whose values did not change keep theirs).
    pub recompress: Recompress,
    /// The cap on a batch's decompressed records, in bytes.
    pub max_batch_bytes: usize,
    /// What to do with a batch cut short at the end.
    pub partial_tail: PartialTail,
}

impl MapOptions {
    /// For a Produce request: keep the producer's codec, refuse partial batches.
    pub fn produce() -> Self {
        Self {
            recompress: Recompress::Keep,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            partial_tail: PartialTail::Refuse,
        }
    }

    /// For a Fetch response: write uncompressed, drop a cut-off last batch.
    pub fn fetch() -> Self {
        Self {
            recompress: Recompress::Use(Compression::None),
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            partial_tail: PartialTail::Drop,
        }
    }
}

/// The header fields of a batch (format v2), as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Leader epoch stamped by the broker.
    pub partition_leader_epoch: i32,
    /// The attributes (codec, timestamp type, transactional, control, delete horizon).
    pub attributes: i16,
    /// Offset of the last record, relative to the base offset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record (or the delete horizon).
    pub base_timestamp: i64,
    /// Largest timestamp in the batch (or the log append time).
    pub max_timestamp: i64,
    /// Idempotent/transactional producer id, -1 if none.
    pub producer_id: i64,
    /// Producer epoch, -1 if none.
    pub producer_epoch: i16,
    /// Sequence number of the first record, -1 if none.
    pub base_sequence: i32,
    /// Records in the batch.
    pub record_count: i32,
}

impl BatchHeader {
    fn parse(b: &[u8]) -> Self {
        let i16_at = |i: usize| i16::from_be_bytes([b[i], b[i + 1]]);
        let i32_at = |i: usize| i32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let i64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            i64::from_be_bytes(a)
        };
        Self {
            base_offset: i64_at(0),
            partition_leader_epoch: i32_at(12),
            attributes: i16_at(21),
            last_offset_delta: i32_at(23),
            base_timestamp: i64_at(27),
            max_timestamp: i64_at(35),
            producer_id: i64_at(43),
            producer_epoch: i16_at(51),
            base_sequence: i32_at(53),
            record_count: i32_at(57),
        }
    }

    /// Whether the batch holds control records (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL != 0
    }

    /// Whether the batch is part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL != 0
    }

    /// Whether timestamps are the broker's log append time.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & LOG_APPEND_TIME != 0
    }
}

/// What a value function knows about the record whose value it is given.
#[derive(Debug, Clone, Copy)]
pub struct RecordCtx<'a> {
    /// The header of the record's batch.
    pub batch: &'a BatchHeader,
    /// The record's offset (base offset + offset delta).
    pub offset: i64,
    /// The record's key; None for a record without key.
    pub key: Option<&'a [u8]>,
}

/// Rewrites the values of every record in `records` with `f`, keeping everything else (module
/// docs). `f` gets None for a null value (tombstone) and must return None for it; it must return
/// a value for a value. Errors of the format become `E` through `From`.
pub fn map_values<E, F>(records: &Bytes, options: &MapOptions, mut f: F) -> Result<Bytes, E>
where
    E: From<RecordsError>,
    F: FnMut(&RecordCtx<'_>, Option<Bytes>) -> Result<Option<Bytes>, E>,
{
    let mut out = Vec::with_capacity(records.len());
    for batch in split_batches(records, options.partial_tail)? {
        map_batch(records, batch, options, &mut f, &mut out)?;
    }
    Ok(Bytes::from(out))
}

/// The byte ranges of the batches in `records`.
fn split_batches(
    records: &[u8],
    tail: PartialTail,
) -> Result<Vec<std::ops::Range<usize>>, RecordsError> {
    let mut batches = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let rest = &records[at..];
        let len = (rest.len() >= LOG_OVERHEAD)
            .then(|| i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]));
        let whole = match len {
            Some(n) if n < 0 => return Err(malformed("negative batch length")),
            Some(n) => (n as usize)
                .checked_add(LOG_OVERHEAD)
                .filter(|&w| w <= rest.len()),
            None => None,
        };
        let Some(whole) = whole else {
            return match tail {
                PartialTail::Drop => Ok(batches),
                PartialTail::Refuse => Err(RecordsError::Truncated { what: "batch" }),
            };
        };
        if rest.len() > 16 && rest[16] != 2 {
            return Err(RecordsError::UnsupportedMagic {
                magic: rest[16] as i8,
            });
        }
        if whole < HEADER_LEN {
            return Err(malformed("batch shorter than its header"));
        }
        batches.push(at..at + whole);
        at += whole;
    }
    Ok(batches)
}

fn map_batch<E, F>(
    records: &Bytes,
    range: std::ops::Range<usize>,
    options: &MapOptions,
    f: &mut F,
    out: &mut Vec<u8>,
) -> Result<(), E>
where
    E: From<RecordsError>,
    F: FnMut(&RecordCtx<'_>, Option<Bytes>) -> Result<Option<Bytes>, E>,
{
    let bytes = &records[range.clone()];
    let header = BatchHeader::parse(bytes);
    if header.is_control() || header.record_count == 0 {
        out.extend_from_slice(bytes);
        return Ok(());
    }
    let crc = u32::from_be_bytes([bytes[17], bytes[18], bytes[19], bytes[20]]);
    if crc32c::crc32c(&bytes[CRC_START..]) != crc {
        return Err(RecordsError::CrcMismatch {
            base_offset: header.base_offset,
        }
        .into());
    }
    if header.record_count < 0 {
        return Err(malformed("negative record count").into());
    }
    let codec_in = codec::from_attributes(header.attributes)?;
    let area = &bytes[HEADER_LEN..];
    let plain = match codec_in {
        Compression::None => records.slice(range.start + HEADER_LEN..range.end),
        _ => Bytes::from(codec::decompress(codec_in, area, options.max_batch_bytes)?),
    };
    if plain.len() > options.max_batch_bytes {
        return Err(RecordsError::TooLarge {
            limit: options.max_batch_bytes,
        }
        .into());
    }
    let parsed = parse_records(&plain, header.record_count as usize)?;
    let mut changed = false;
    let mut written = Vec::with_capacity(plain.len());
    for r in &parsed {
        let ctx = RecordCtx {
            batch: &header,
            offset: header.base_offset.wrapping_add(r.offset_delta as i64),
            key: r.key.clone().map(|k| &plain[k]),
        };
        let value = r.value.clone().map(|v| plain.slice(v));
        let new = f(&ctx, value.clone())?;
        if new.is_some() != value.is_some() {
            return Err(RecordsError::NullnessChanged { offset: ctx.offset }.into());
        }
        changed |= new != value;
        write_record(
            &mut written,
            &plain[r.prefix.clone()],
            new.as_deref(),
            &plain[r.suffix.clone()],
        )?;
    }
    let codec_out = match options.recompress {
        Recompress::Keep => codec_in,
        Recompress::Use(c) => c,
    };
    // Nothing to write: the batch as it came, in its own codec (no CPU spent recompressing, and
    // the client gets the broker's bytes).
    if !changed {
        out.extend_from_slice(bytes);
        return Ok(());
    }
    let packed = codec::compress(codec_out, &written)?;
    let start = out.len();
    out.extend_from_slice(&bytes[..HEADER_LEN]);
    let attributes = (header.attributes & !0x7) | codec_out as i16;
    out[start + 21..start + 23].copy_from_slice(&attributes.to_be_bytes());
    out.extend_from_slice(&packed);
    let batch_len = i32::try_from(out.len() - start - LOG_OVERHEAD)
        .map_err(|_| malformed("rewritten batch exceeds 2 GiB"))?;
    out[start + 8..start + 12].copy_from_slice(&batch_len.to_be_bytes());
    let crc = crc32c::crc32c(&out[start + CRC_START..]);
    out[start + 17..start + 21].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// One record of a decompressed records area, as byte ranges into it.
struct RawRecord {
    offset_delta: i32,
    /// Attributes, timestamp delta, offset delta, key length and key.
    prefix: std::ops::Range<usize>,
    key: Option<std::ops::Range<usize>>,
    value: Option<std::ops::Range<usize>>,
    /// Header count and headers.
    suffix: std::ops::Range<usize>,
}

fn parse_records(area: &[u8], count: usize) -> Result<Vec<RawRecord>, RecordsError> {
    // Every record takes at least 7 bytes, so the capacity is backed by bytes present.
    let mut records = Vec::with_capacity(count.min(area.len() / 7));
    let mut c = Cursor { buf: area, at: 0 };
    for _ in 0..count {
        let len = c.varint()?;
        let len = usize::try_from(len).map_err(|_| malformed("negative record length"))?;
        let end = c.at.checked_add(len).filter(|&e| e <= area.len());
        let end = end.ok_or(RecordsError::Truncated { what: "record" })?;
        let mut r = Cursor {
            buf: &area[..end],
            at: c.at,
        };
        let prefix_start = r.at;
        r.take(1)?; // attributes
        r.varlong()?; // timestamp delta
        let offset_delta = r.varint()?;
        let key = r.nullable_bytes()?;
        let prefix = prefix_start..r.at;
        let value = r.nullable_bytes()?;
        let suffix_start = r.at;
        let headers = r.varint()?;
        if headers < 0 {
            return Err(malformed("negative header count"));
        }
        for _ in 0..headers {
            if r.nullable_bytes()?.is_none() {
                return Err(malformed("null header key"));
            }
            r.nullable_bytes()?;
        }
        if r.at != end {
            return Err(malformed("bytes trail a record"));
        }
        records.push(RawRecord {
            offset_delta,
            prefix,
            key,
            value,
            suffix: suffix_start..end,
        });
        c.at = end;
    }
    if c.at != area.len() {
        return Err(malformed("bytes trail the batch's records"));
    }
    Ok(records)
}

fn write_record(
    out: &mut Vec<u8>,
    prefix: &[u8],
    value: Option<&[u8]>,
    suffix: &[u8],
) -> Result<(), RecordsError> {
    let too_big = || malformed("record exceeds 2 GiB");
    let value_len = match value {
        None => -1,
        Some(v) => i32::try_from(v.len()).map_err(|_| too_big())?,
    };
    let mut value_prefix = Vec::with_capacity(5);
    put_varint(&mut value_prefix, value_len as i64);
    let body = prefix.len() + value_prefix.len() + value.map_or(0, <[u8]>::len) + suffix.len();
    put_varint(out, i32::try_from(body).map_err(|_| too_big())? as i64);
    out.extend_from_slice(prefix);
    out.extend_from_slice(&value_prefix);
    out.extend_from_slice(value.unwrap_or_default());
    out.extend_from_slice(suffix);
    Ok(())
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn malformed(reason: &'static str) -> RecordsError {
    RecordsError::Malformed { reason }
}

struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<std::ops::Range<usize>, RecordsError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(RecordsError::Truncated { what: "record" })?;
        let range = self.at..end;
        self.at = end;
        Ok(range)
    }

    /// A zigzag varint of at most `max_bytes` bytes.
    fn zigzag(&mut self, max_bytes: usize) -> Result<i64, RecordsError> {
        let mut z = 0u64;
        for i in 0..max_bytes {
            let b = *self
                .buf
                .get(self.at)
                .ok_or(RecordsError::Truncated { what: "varint" })?;
            self.at += 1;
            z |= ((b & 0x7f) as u64) << (7 * i);
            if b < 0x80 {
                return Ok((z >> 1) as i64 ^ -((z & 1) as i64));
            }
        }
        Err(malformed("varint too long"))
    }

    fn varint(&mut self) -> Result<i32, RecordsError> {
        i32::try_from(self.zigzag(5)?).map_err(|_| malformed("varint out of range"))
    }

    fn varlong(&mut self) -> Result<i64, RecordsError> {
        self.zigzag(10)
    }

    /// A varint length (-1 for null) and that many bytes.
    fn nullable_bytes(&mut self) -> Result<Option<std::ops::Range<usize>>, RecordsError> {
        match self.varint()? {
            -1 => Ok(None),
            n if n < 0 => Err(malformed("negative length")),
            n => self.take(n as usize).map(Some),
        }
    }
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
