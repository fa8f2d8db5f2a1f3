//! Names of streams and of clients: short, printable, and safe as (part of) a Kafka topic name.

/// Longest stream name, in bytes.
pub const MAX_STREAM_NAME: usize = 100;
/// Longest client id, in bytes.
pub const MAX_CLIENT_ID: usize = 64;

/// Why a name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty.
    #[error("the {what} is empty")]
    Empty {
        /// "stream name" or "client id".
        what: &'static str,
    },
    /// Too long.
    #[error("the {what} is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// "stream name" or "client id".
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A character outside `A–Z a–z 0–9 . _ -`.
    #[error("the {what} {name:?} may hold only letters, digits, '.', '_' and '-'")]
    BadCharacter {
        /// "stream name" or "client id".
        what: &'static str,
        /// The name (printable: it is shown with escapes).
        name: String,
    },
    /// A stream name starting with `.` or `_` (Kafka reserves `__`; `.` and `..` are not topics).
    #[error("the stream name {0:?} may not start with '.' or '_'")]
    BadStart(String),
}

fn check(name: &str, what: &'static str, max: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what });
    }
    if name.len() > max {
        return Err(NameError::TooLong {
            what,
            len: name.len(),
            max,
        });
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(NameError::BadCharacter {
            what,
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Checks a stream name: 1–[`MAX_STREAM_NAME`] bytes of `A–Z a–z 0–9 . _ -`, not starting with
/// `.` or `_`.
pub fn check_stream_name(name: &str) -> Result<(), NameError> {
    check(name, "stream name", MAX_STREAM_NAME)?;
    if name.starts_with(['.', '_']) {
        return Err(NameError::BadStart(name.to_string()));
    }
    Ok(())
}

/// Checks a client id: 1–[`MAX_CLIENT_ID`] bytes of `A–Z a–z 0–9 . _ -`.
pub fn check_client_id(id: &str) -> Result<(), NameError> {
    check(id, "client id", MAX_CLIENT_ID)
}
