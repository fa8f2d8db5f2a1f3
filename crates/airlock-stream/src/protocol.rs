//! Requests to a hub's stream services and their responses.
//!
//! Every message is `version(1) = 1 ‖ kind(1) ‖ request id(u64) ‖ body`; a response carries the
//! id of its request. Integers are big-endian; `bytes8`/`bytes16`/`bytes32` are byte strings with
//! a length prefix of that many bits (docs/protocol.md §1).
//!
//! | kind | message | body |
//! |---|---|---|
//! | `0x01` | Create | `name bytes8` (empty: the hub picks one) |
//! | `0x02` | Push | `stream bytes8 ‖ count u16 ‖ count × record bytes32` |
//! | `0x03` | Pull | `stream bytes8 ‖ from u64 ‖ limit u16 ‖ wait_ms u32` |
//! | `0x04` | IndexGet | `client bytes8 ‖ stream bytes8` |
//! | `0x05` | IndexSave | `client bytes8 ‖ stream bytes8 ‖ index u64` |
//! | `0x81` | Created | `stream bytes8` |
//! | `0x82` | Pushed | `first_index u64 ‖ count u16` |
//! | `0x83` | Pulled | `next u64 ‖ count u16 ‖ count × (index u64 ‖ record bytes32)` |
//! | `0x84` | Index | `present u8 ‖ index u64 if present = 1` |
//! | `0x85` | Saved | (empty) |
//! | `0xFF` | Error | `code u8 ‖ reason bytes16 (UTF-8)` |

use crate::names::{check_client_id, check_stream_name};
use airlock_wire::codec::{put_bytes16, put_bytes32, put_bytes8};
use airlock_wire::{DecodeError, Reader};

/// Version byte of every request and response.
pub const PROTOCOL_VERSION: u8 = 1;
/// Most records in one push or one pull answer.
pub const MAX_RECORDS: usize = 256;
/// Largest record (a stored routed message: a transport frame's body at most).
pub const MAX_RECORD: usize = 1_052_672;
/// Largest sum of record sizes in one push or pull answer: it must fit one routed message.
pub const MAX_BATCH_BYTES: usize = 1_000_000;
/// Longest a pull may wait for new records, in milliseconds.
pub const MAX_WAIT_MS: u32 = 30_000;
/// `from` of a pull that asks for the end of the stream: the answer holds no records and its
/// `next` is the index the next pushed record will get.
pub const FROM_END: u64 = u64::MAX;

/// A request to `stream_kafka` or `stream_kafka_index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Create a stream (idempotent: creating an existing stream answers with its name).
    Create {
        /// Request id.
        id: u64,
        /// The name, or `None` for one the hub picks.
        name: Option<String>,
    },
    /// Append records to a stream, in order.
    Push {
        /// Request id.
        id: u64,
        /// The stream.
        stream: String,
        /// The records (1..=[`MAX_RECORDS`], at most [`MAX_BATCH_BYTES`] in all).
        records: Vec<Vec<u8>>,
    },
    /// Read records from index `from` on (or learn the end, with [`FROM_END`]), waiting up to
    /// `wait_ms` for the first one.
    Pull {
        /// Request id.
        id: u64,
        /// The stream.
        stream: String,
        /// First index wanted, or [`FROM_END`].
        from: u64,
        /// Most records wanted (0..=[`MAX_RECORDS`]).
        limit: u16,
        /// How long to wait when nothing is there yet (≤ [`MAX_WAIT_MS`]).
        wait_ms: u32,
    },
    /// Where this client has read `stream` up to.
    IndexGet {
        /// Request id.
        id: u64,
        /// The client's name for itself (scoped by its identity at the hub).
        client: String,
        /// The stream.
        stream: String,
    },
    /// Remember where this client has read `stream` up to.
    IndexSave {
        /// Request id.
        id: u64,
        /// The client's name for itself.
        client: String,
        /// The stream.
        stream: String,
        /// The index of the next record the client wants.
        index: u64,
    },
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ErrorCode {
    /// The request is malformed or breaks a limit: retrying it unchanged will fail again.
    Invalid = 1,
    /// No such stream.
    UnknownStream = 2,
    /// The hub cannot reach its storage now: retry later.
    Unavailable = 3,
    /// The caller may not do this.
    Denied = 4,
}

impl ErrorCode {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => ErrorCode::Invalid,
            2 => ErrorCode::UnknownStream,
            3 => ErrorCode::Unavailable,
            4 => ErrorCode::Denied,
            _ => return None,
        })
    }

    /// True when the same request may succeed later.
    pub fn is_transient(self) -> bool {
        self == ErrorCode::Unavailable
    }
}

/// An answer of a stream service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The stream exists.
    Created {
        /// Request id.
        id: u64,
        /// Its name.
        stream: String,
    },
    /// The records were stored durably.
    Pushed {
        /// Request id.
        id: u64,
        /// Index of the first record.
        first_index: u64,
        /// Number of records.
        count: u16,
    },
    /// Records read.
    Pulled {
        /// Request id.
        id: u64,
        /// Index to pull from next.
        next: u64,
        /// `(index, record)` in index order.
        records: Vec<(u64, Vec<u8>)>,
    },
    /// A client's saved index.
    Index {
        /// Request id.
        id: u64,
        /// The index, if one was saved.
        index: Option<u64>,
    },
    /// The index was saved durably.
    Saved {
        /// Request id.
        id: u64,
    },
    /// The request failed.
    Error {
        /// Request id (0 when the request could not be read far enough to know it).
        id: u64,
        /// What kind of failure.
        code: ErrorCode,
        /// Why, for people.
        reason: String,
    },
}

fn header(kind: u8, id: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(PROTOCOL_VERSION);
    out.push(kind);
    out.extend_from_slice(&id.to_be_bytes());
    out
}

fn read_header(r: &mut Reader<'_>) -> Result<(u8, u64), DecodeError> {
    let v = r.u8("stream protocol version")?;
    if v != PROTOCOL_VERSION {
        return Err(DecodeError::invalid(
            "stream protocol version",
            format!("{v} (this node speaks version {PROTOCOL_VERSION})"),
        ));
    }
    let kind = r.u8("stream message kind")?;
    let id = r.u64("request id")?;
    Ok((kind, id))
}

fn string8(r: &mut Reader<'_>, what: &'static str) -> Result<String, DecodeError> {
    let b = r.bytes8(what)?;
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError::invalid(what, "not UTF-8"))
}

fn stream_name(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let s = string8(r, "stream name")?;
    check_stream_name(&s).map_err(|e| DecodeError::invalid("stream name", e))?;
    Ok(s)
}

fn client_id(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let s = string8(r, "client id")?;
    check_client_id(&s).map_err(|e| DecodeError::invalid("client id", e))?;
    Ok(s)
}

/// Reads `count u16 ‖ records`, each optionally preceded by its index.
fn records(r: &mut Reader<'_>, with_index: bool) -> Result<Vec<(u64, Vec<u8>)>, DecodeError> {
    let count = r.u16("record count")? as usize;
    if count > MAX_RECORDS {
        return Err(DecodeError::invalid(
            "record count",
            format!("{count} exceeds the maximum of {MAX_RECORDS}"),
        ));
    }
    let mut out = Vec::with_capacity(count);
    let mut total = 0usize;
    let mut last: Option<u64> = None;
    for _ in 0..count {
        let index = if with_index {
            let i = r.u64("record index")?;
            if last.is_some_and(|l| i <= l) {
                return Err(DecodeError::invalid(
                    "record index",
                    format!("{i} does not follow {}", last.unwrap_or_default()),
                ));
            }
            last = Some(i);
            i
        } else {
            0
        };
        let rec = r.bytes32("record", MAX_RECORD)?;
        total += rec.len();
        if total > MAX_BATCH_BYTES {
            return Err(DecodeError::invalid(
                "records",
                format!("more than {MAX_BATCH_BYTES} bytes in one batch"),
            ));
        }
        out.push((index, rec.to_vec()));
    }
    Ok(out)
}

impl Request {
    /// The request id.
    pub fn id(&self) -> u64 {
        match self {
            Request::Create { id, .. }
            | Request::Push { id, .. }
            | Request::Pull { id, .. }
            | Request::IndexGet { id, .. }
            | Request::IndexSave { id, .. } => *id,
        }
    }

    /// The encoding. Callers keep to the limits (names checked, batch sizes); the decoder
    /// enforces them.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Request::Create { id, name } => {
                let mut out = header(0x01, *id);
                put_bytes8(&mut out, name.as_deref().unwrap_or("").as_bytes());
                out
            }
            Request::Push {
                id,
                stream,
                records,
            } => {
                let mut out = header(0x02, *id);
                put_bytes8(&mut out, stream.as_bytes());
                out.extend_from_slice(&(records.len() as u16).to_be_bytes());
                for rec in records {
                    put_bytes32(&mut out, rec);
                }
                out
            }
            Request::Pull {
                id,
                stream,
                from,
                limit,
                wait_ms,
            } => {
                let mut out = header(0x03, *id);
                put_bytes8(&mut out, stream.as_bytes());
                out.extend_from_slice(&from.to_be_bytes());
                out.extend_from_slice(&limit.to_be_bytes());
                out.extend_from_slice(&wait_ms.to_be_bytes());
                out
            }
            Request::IndexGet { id, client, stream } => {
                let mut out = header(0x04, *id);
                put_bytes8(&mut out, client.as_bytes());
                put_bytes8(&mut out, stream.as_bytes());
                out
            }
            Request::IndexSave {
                id,
                client,
                stream,
                index,
            } => {
                let mut out = header(0x05, *id);
                put_bytes8(&mut out, client.as_bytes());
                put_bytes8(&mut out, stream.as_bytes());
                out.extend_from_slice(&index.to_be_bytes());
                out
            }
        }
    }

    /// Decodes a request. On error, also returns the request id when it could be read (so the
    /// service can answer with [`Response::Error`] for that request).
    pub fn decode(bytes: &[u8]) -> Result<Self, (Option<u64>, DecodeError)> {
        let mut r = Reader::new(bytes);
        let (kind, id) = read_header(&mut r).map_err(|e| (None, e))?;
        Self::decode_body(kind, id, &mut r).map_err(|e| (Some(id), e))
    }

    fn decode_body(kind: u8, id: u64, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let req = match kind {
            0x01 => {
                let name = string8(r, "stream name")?;
                let name = if name.is_empty() {
                    None
                } else {
                    check_stream_name(&name).map_err(|e| DecodeError::invalid("stream name", e))?;
                    Some(name)
                };
                Request::Create { id, name }
            }
            0x02 => {
                let stream = stream_name(r)?;
                let records: Vec<Vec<u8>> =
                    records(r, false)?.into_iter().map(|(_, v)| v).collect();
                if records.is_empty() {
                    return Err(DecodeError::invalid("push", "no records"));
                }
                Request::Push {
                    id,
                    stream,
                    records,
                }
            }
            0x03 => {
                let stream = stream_name(r)?;
                let from = r.u64("from")?;
                let limit = r.u16("limit")?;
                if limit as usize > MAX_RECORDS {
                    return Err(DecodeError::invalid(
                        "limit",
                        format!("{limit} exceeds the maximum of {MAX_RECORDS}"),
                    ));
                }
                let wait_ms = r.u32("wait")?;
                if wait_ms > MAX_WAIT_MS {
                    return Err(DecodeError::invalid(
                        "wait",
                        format!("{wait_ms} ms exceeds the maximum of {MAX_WAIT_MS} ms"),
                    ));
                }
                Request::Pull {
                    id,
                    stream,
                    from,
                    limit,
                    wait_ms,
                }
            }
            0x04 => Request::IndexGet {
                id,
                client: client_id(r)?,
                stream: stream_name(r)?,
            },
            0x05 => Request::IndexSave {
                id,
                client: client_id(r)?,
                stream: stream_name(r)?,
                index: r.u64("index")?,
            },
            k => {
                return Err(DecodeError::invalid(
                    "stream request kind",
                    format!("0x{k:02x} is not a request"),
                ))
            }
        };
        r.finish("stream request")?;
        Ok(req)
    }
}

impl Response {
    /// The id of the request answered.
    pub fn id(&self) -> u64 {
        match self {
            Response::Created { id, .. }
            | Response::Pushed { id, .. }
            | Response::Pulled { id, .. }
            | Response::Index { id, .. }
            | Response::Saved { id }
            | Response::Error { id, .. } => *id,
        }
    }

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Response::Created { id, stream } => {
                let mut out = header(0x81, *id);
                put_bytes8(&mut out, stream.as_bytes());
                out
            }
            Response::Pushed {
                id,
                first_index,
                count,
            } => {
                let mut out = header(0x82, *id);
                out.extend_from_slice(&first_index.to_be_bytes());
                out.extend_from_slice(&count.to_be_bytes());
                out
            }
            Response::Pulled { id, next, records } => {
                let size: usize = records.iter().map(|(_, r)| 12 + r.len()).sum();
                let mut out = header(0x83, *id);
                out.reserve(10 + size);
                out.extend_from_slice(&next.to_be_bytes());
                out.extend_from_slice(&(records.len() as u16).to_be_bytes());
                for (i, rec) in records {
                    out.extend_from_slice(&i.to_be_bytes());
                    put_bytes32(&mut out, rec);
                }
                out
            }
            Response::Index { id, index } => {
                let mut out = header(0x84, *id);
                match index {
                    Some(i) => {
                        out.push(1);
                        out.extend_from_slice(&i.to_be_bytes());
                    }
                    None => out.push(0),
                }
                out
            }
            Response::Saved { id } => header(0x85, *id),
            Response::Error { id, code, reason } => {
                let mut out = header(0xFF, *id);
                out.push(*code as u8);
                // A reason is for people: cut it to what a bytes16 holds, at a char boundary.
                let mut end = reason.len().min(u16::MAX as usize);
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                put_bytes16(&mut out, &reason.as_bytes()[..end]);
                out
            }
        }
    }

    /// Decodes a response.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let (kind, id) = read_header(&mut r)?;
        let resp = match kind {
            0x81 => Response::Created {
                id,
                stream: stream_name(&mut r)?,
            },
            0x82 => Response::Pushed {
                id,
                first_index: r.u64("first index")?,
                count: r.u16("count")?,
            },
            0x83 => {
                let next = r.u64("next index")?;
                let records = records(&mut r, true)?;
                if let Some((last, _)) = records.last() {
                    if next <= *last {
                        return Err(DecodeError::invalid(
                            "next index",
                            format!("{next} is not after the last record's index {last}"),
                        ));
                    }
                }
                Response::Pulled { id, next, records }
            }
            0x84 => {
                let index = match r.u8("index present")? {
                    0 => None,
                    1 => Some(r.u64("index")?),
                    v => return Err(DecodeError::invalid("index present", format!("{v}"))),
                };
                Response::Index { id, index }
            }
            0x85 => Response::Saved { id },
            0xFF => {
                let c = r.u8("error code")?;
                let code = ErrorCode::from_u8(c)
                    .ok_or_else(|| DecodeError::invalid("error code", format!("{c}")))?;
                let reason = String::from_utf8_lossy(r.bytes16("error reason")?).into_owned();
                Response::Error { id, code, reason }
            }
            k => {
                return Err(DecodeError::invalid(
                    "stream response kind",
                    format!("0x{k:02x} is not a response"),
                ))
            }
        };
        r.finish("stream response")?;
        Ok(resp)
    }
}
