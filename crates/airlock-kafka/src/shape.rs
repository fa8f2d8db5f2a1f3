//! A structural pre-check of the responses we decode, so that decoding never over-allocates.
//!
//! kafka-protocol's decoder reserves `Vec::with_capacity(count)` for each array before reading its
//! elements. A 20-byte frame claiming four billion brokers would make it ask the allocator for
//! hundreds of gigabytes, and a failed allocation aborts the process: no error to return. So
//! before kafka-protocol sees a response body, this module walks it against the message's schema
//! (the same fields and version ranges kafka-protocol reads) and checks that every array's
//! elements and every string's bytes are really present and that nothing trails. After that,
//! every allocation the decoder makes is backed by bytes of the frame.

use bytes::Buf;

/// One field of a message schema, read only for versions `min..=max`.
struct Field {
    min: i16,
    max: i16,
    kind: Kind,
}

enum Kind {
    /// A fixed-size value of this many bytes (ints, booleans, uuids).
    Fixed(usize),
    /// A (nullable) string: int16 length, or unsigned varint length+1 in flexible versions.
    Str,
    /// (Nullable) bytes, such as a `records` field: int32 length, or unsigned varint length+1 in
    /// flexible versions.
    Bytes,
    /// An array of int32: int32 count, or unsigned varint count+1 in flexible versions.
    Int32s,
    /// An array of structs with these fields (plus tagged fields in flexible versions).
    Structs(&'static [Field]),
}

const ALL: i16 = i16::MAX;

const fn f(min: i16, max: i16, kind: Kind) -> Field {
    Field { min, max, kind }
}

/// The shape of a response message: its fields, the first flexible version, and the known
/// top-level tagged fields that kafka-protocol decodes from the stream itself.
pub(crate) struct Schema {
    flexible_from: i16,
    fields: &'static [Field],
    tagged: &'static [(u32, Kind)],
}

const I8: Kind = Kind::Fixed(1);
const I16: Kind = Kind::Fixed(2);
const I32: Kind = Kind::Fixed(4);
const BOOL: Kind = Kind::Fixed(1);

/// MetadataResponse v0–13 (flexible from v9).
pub(crate) const METADATA: Schema = Schema {
    flexible_from: 9,
    fields: &[
        f(3, ALL, I32), // throttle_time_ms
        f(
            0,
            ALL,
            Kind::Structs(&[
                f(0, ALL, I32),       // node_id
                f(0, ALL, Kind::Str), // host
                f(0, ALL, I32),       // port
                f(1, ALL, Kind::Str), // rack
            ]),
        ),
        f(2, ALL, Kind::Str), // cluster_id
        f(1, ALL, I32),       // controller_id
        f(
            0,
            ALL,
            Kind::Structs(&[
                f(0, ALL, I16),              // error_code
                f(0, ALL, Kind::Str),        // name
                f(10, ALL, Kind::Fixed(16)), // topic_id
                f(1, ALL, BOOL),             // is_internal
                f(
                    0,
                    ALL,
                    Kind::Structs(&[
                        f(0, ALL, I16),          // error_code
                        f(0, ALL, I32),          // partition_index
                        f(0, ALL, I32),          // leader_id
                        f(7, ALL, I32),          // leader_epoch
                        f(0, ALL, Kind::Int32s), // replica_nodes
                        f(0, ALL, Kind::Int32s), // isr_nodes
                        f(5, ALL, Kind::Int32s), // offline_replicas
                    ]),
                ),
                f(8, ALL, I32), // topic_authorized_operations
            ]),
        ),
        f(8, 10, I32),   // cluster_authorized_operations
        f(13, ALL, I16), // error_code
    ],
    tagged: &[],
};

/// FindCoordinatorResponse v0–6 (flexible from v3; a `coordinators` array from v4).
pub(crate) const FIND_COORDINATOR: Schema = Schema {
    flexible_from: 3,
    fields: &[
        f(1, ALL, I32),     // throttle_time_ms
        f(0, 3, I16),       // error_code
        f(1, 3, Kind::Str), // error_message
        f(0, 3, I32),       // node_id
        f(0, 3, Kind::Str), // host
        f(0, 3, I32),       // port
        f(
            4,
            ALL,
            Kind::Structs(&[
                f(0, ALL, Kind::Str), // key
                f(0, ALL, I32),       // node_id
                f(0, ALL, Kind::Str), // host
                f(0, ALL, I32),       // port
                f(0, ALL, I16),       // error_code
                f(0, ALL, Kind::Str), // error_message
            ]),
        ),
    ],
    tagged: &[],
};

/// DescribeClusterResponse v0–2 (always flexible).
pub(crate) const DESCRIBE_CLUSTER: Schema = Schema {
    flexible_from: 0,
    fields: &[
        f(0, ALL, I32),       // throttle_time_ms
        f(0, ALL, I16),       // error_code
        f(0, ALL, Kind::Str), // error_message
        f(1, ALL, I8),        // endpoint_type
        f(0, ALL, Kind::Str), // cluster_id
        f(0, ALL, I32),       // controller_id
        f(
            0,
            ALL,
            Kind::Structs(&[
                f(0, ALL, I32),       // broker_id
                f(0, ALL, Kind::Str), // host
                f(0, ALL, I32),       // port
                f(0, ALL, Kind::Str), // rack
                f(2, ALL, BOOL),      // is_fenced
            ]),
        ),
        f(0, ALL, I32), // cluster_authorized_operations
    ],
    tagged: &[],
};

/// ApiVersionsResponse v0–4 (flexible from v3, with tagged feature lists).
pub(crate) const API_VERSIONS: Schema = Schema {
    flexible_from: 3,
    fields: &[
        f(0, ALL, I16), // error_code
        f(
            0,
            ALL,
            Kind::Structs(&[f(0, ALL, I16), f(0, ALL, I16), f(0, ALL, I16)]),
        ),
        f(1, ALL, I32), // throttle_time_ms
    ],
    tagged: &[
        // supported_features: name, min_version, max_version
        (
            0,
            Kind::Structs(&[f(0, ALL, Kind::Str), f(0, ALL, I16), f(0, ALL, I16)]),
        ),
        (1, Kind::Fixed(8)), // finalized_features_epoch
        // finalized_features: name, max_version_level, min_version_level
        (
            2,
            Kind::Structs(&[f(0, ALL, Kind::Str), f(0, ALL, I16), f(0, ALL, I16)]),
        ),
        (3, BOOL), // zk_migration_ready
    ],
};

/// ProduceRequest v3–13 (flexible from v9; topics by id from v13). A request body, walked the
/// same way as the responses before the inlet decodes it to encrypt its records.
pub(crate) const PRODUCE_REQUEST: Schema = Schema {
    flexible_from: 9,
    fields: &[
        f(3, ALL, Kind::Str), // transactional_id
        f(0, ALL, I16),       // acks
        f(0, ALL, I32),       // timeout_ms
        f(
            0,
            ALL,
            Kind::Structs(&[
                f(0, 12, Kind::Str),         // name
                f(13, ALL, Kind::Fixed(16)), // topic_id
                f(
                    0,
                    ALL,
                    Kind::Structs(&[
                        f(0, ALL, I32),         // index
                        f(0, ALL, Kind::Bytes), // records
                    ]),
                ),
            ]),
        ),
    ],
    tagged: &[],
};

/// FetchResponse v4–18 (flexible from v12; topics by id from v13). The partitions' tagged
/// fields (diverging epoch, current leader, snapshot id) hold fixed-size values only and are
/// skipped by size; the top-level node endpoints (tag 0, v16+) hold an array and are walked.
pub(crate) const FETCH_RESPONSE: Schema = Schema {
    flexible_from: 12,
    fields: &[
        f(0, ALL, I32), // throttle_time_ms
        f(7, ALL, I16), // error_code
        f(7, ALL, I32), // session_id
        f(
            0,
            ALL,
            Kind::Structs(&[
                f(0, 12, Kind::Str),         // topic
                f(13, ALL, Kind::Fixed(16)), // topic_id
                f(
                    0,
                    ALL,
                    Kind::Structs(&[
                        f(0, ALL, I32),            // partition_index
                        f(0, ALL, I16),            // error_code
                        f(0, ALL, Kind::Fixed(8)), // high_watermark
                        f(0, ALL, Kind::Fixed(8)), // last_stable_offset
                        f(5, ALL, Kind::Fixed(8)), // log_start_offset
                        f(
                            4,
                            ALL,
                            // aborted_transactions: producer_id, first_offset
                            Kind::Structs(&[f(0, ALL, Kind::Fixed(8)), f(0, ALL, Kind::Fixed(8))]),
                        ),
                        f(11, ALL, I32),        // preferred_read_replica
                        f(0, ALL, Kind::Bytes), // records
                    ]),
                ),
            ]),
        ),
    ],
    tagged: &[(
        0,
        // node_endpoints: node_id, host, port, rack
        Kind::Structs(&[
            f(0, ALL, I32),
            f(0, ALL, Kind::Str),
            f(0, ALL, I32),
            f(0, ALL, Kind::Str),
        ]),
    )],
};

/// Why a body does not fit its schema.
pub(crate) type ShapeError = &'static str;

/// Checks that `body` is exactly one `schema` message at `version`.
pub(crate) fn check(schema: &Schema, version: i16, mut body: &[u8]) -> Result<(), ShapeError> {
    let w = Walker {
        version,
        flexible: version >= schema.flexible_from,
    };
    w.fields(&mut body, schema.fields)?;
    if w.flexible {
        w.tagged(&mut body, schema.tagged)?;
    }
    if !body.is_empty() {
        return Err("bytes trail the message");
    }
    Ok(())
}

struct Walker {
    version: i16,
    flexible: bool,
}

impl Walker {
    fn fields(&self, buf: &mut &[u8], fields: &[Field]) -> Result<(), ShapeError> {
        for field in fields {
            if (field.min..=field.max).contains(&self.version) {
                self.kind(buf, &field.kind)?;
            }
        }
        Ok(())
    }

    fn kind(&self, buf: &mut &[u8], kind: &Kind) -> Result<(), ShapeError> {
        match kind {
            Kind::Fixed(n) => skip(buf, *n),
            Kind::Str => {
                let len = if self.flexible {
                    uvarint(buf)?.checked_sub(1)
                } else {
                    match i16_(buf)? {
                        -1 => None,
                        n if n < 0 => return Err("negative string length"),
                        n => Some(n as u32),
                    }
                };
                len.map_or(Ok(()), |n| skip(buf, n as usize))
            }
            Kind::Bytes => {
                let len = if self.flexible {
                    uvarint(buf)?.checked_sub(1)
                } else {
                    match i32_(buf)? {
                        -1 => None,
                        n if n < 0 => return Err("negative bytes length"),
                        n => Some(n as u32),
                    }
                };
                len.map_or(Ok(()), |n| skip(buf, n as usize))
            }
            Kind::Int32s => {
                let n = self.count(buf)?;
                skip(buf, n.checked_mul(4).ok_or("array too long")?)
            }
            Kind::Structs(fields) => {
                let n = self.count(buf)?;
                for _ in 0..n {
                    self.fields(buf, fields)?;
                    if self.flexible {
                        self.tagged(buf, &[])?;
                    }
                }
                Ok(())
            }
        }
    }

    /// An array's element count (0 for null), refused when the elements cannot all be present
    /// (every element takes at least one byte).
    fn count(&self, buf: &mut &[u8]) -> Result<usize, ShapeError> {
        let n = if self.flexible {
            uvarint(buf)?.saturating_sub(1) as usize
        } else {
            match i32_(buf)? {
                -1 => 0,
                n if n < 0 => return Err("negative array length"),
                n => n as usize,
            }
        };
        if n > buf.len() {
            return Err("array longer than the bytes left");
        }
        Ok(n)
    }

    /// A tagged-field section. Known tags are walked from the stream (as kafka-protocol reads
    /// them) and must fill exactly their declared size; unknown ones are skipped by size.
    fn tagged(&self, buf: &mut &[u8], known: &[(u32, Kind)]) -> Result<(), ShapeError> {
        let n = uvarint(buf)?;
        for _ in 0..n {
            let tag = uvarint(buf)?;
            let size = uvarint(buf)? as usize;
            match known.iter().find(|(t, _)| *t == tag) {
                Some((_, kind)) => {
                    let before = buf.len();
                    self.kind(buf, kind)?;
                    if before - buf.len() != size {
                        return Err("tagged field size disagrees with its content");
                    }
                }
                None => skip(buf, size)?,
            }
        }
        Ok(())
    }
}

fn skip(buf: &mut &[u8], n: usize) -> Result<(), ShapeError> {
    if buf.len() < n {
        return Err("message truncated");
    }
    buf.advance(n);
    Ok(())
}

fn i16_(buf: &mut &[u8]) -> Result<i16, ShapeError> {
    if buf.len() < 2 {
        return Err("message truncated");
    }
    Ok(buf.get_i16())
}

fn i32_(buf: &mut &[u8]) -> Result<i32, ShapeError> {
    if buf.len() < 4 {
        return Err("message truncated");
    }
    Ok(buf.get_i32())
}

/// An unsigned varint, read exactly as kafka-protocol reads it (at most five bytes).
fn uvarint(buf: &mut &[u8]) -> Result<u32, ShapeError> {
    let mut value = 0u32;
    for i in 0..5 {
        if buf.is_empty() {
            return Err("message truncated");
        }
        let b = buf.get_u8() as u32;
        value |= (b & 0x7f) << (i * 7);
        if b < 0x80 {
            break;
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_array_count_is_refused_before_decoding() {
        // Metadata v1: throttle absent, brokers count 0x7fffffff, nothing else.
        let body = [0x7f, 0xff, 0xff, 0xff];
        assert_eq!(
            check(&METADATA, 1, &body),
            Err("array longer than the bytes left")
        );
        // Flexible: compact count of u32::MAX.
        let body = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert_eq!(
            check(
                &DESCRIBE_CLUSTER,
                0,
                &[&[0u8; 6][..], &[0, 0], &[0, 0, 0, 0], &body].concat()
            ),
            Err("array longer than the bytes left")
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        // ApiVersions v0: error 0, empty array, then one extra byte.
        assert_eq!(check(&API_VERSIONS, 0, &[0, 0, 0, 0, 0, 0]), Ok(()));
        assert_eq!(
            check(&API_VERSIONS, 0, &[0, 0, 0, 0, 0, 0, 9]),
            Err("bytes trail the message")
        );
    }
}
