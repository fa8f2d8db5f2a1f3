//! What can go wrong in the authority store, as values callers can `match`.
//!
//! A [`StoreError`] never means "the answer is no": a refused ticket is a
//! [`RedeemError`](super::RedeemError) inside an `Ok`. Every store error means that the request
//! it served was not decided and may succeed when tried again (or after the operator fixed the
//! database URL or the server).

use std::path::PathBuf;

/// A boxed cause (a driver error).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why the authority store could not do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL cannot be used as given (syntax, `sslmode`, `sslrootcert`).
    #[error("invalid database URL {url}")]
    InvalidUrl {
        /// The URL, password removed.
        url: String,
        /// What is wrong with it.
        #[source]
        source: BoxError,
    },
    /// The TLS settings are valid but cannot be put in place (an unreadable CA file, …).
    #[error("cannot set up TLS for the database {url} ({tls})")]
    TlsSetup {
        /// The URL, password removed.
        url: String,
        /// The TLS settings in use (`sslmode=…, CA file …`).
        tls: String,
        /// What failed.
        #[source]
        source: super::pg_tls::TlsConfigError,
    },
    /// No connection to the database could be made (unreachable, refused, TLS handshake,
    /// authentication).
    #[error("cannot connect to the database {url} ({tls}){}", hint_suffix(.hint))]
    Connect {
        /// The URL, password removed.
        url: String,
        /// The TLS settings in use.
        tls: String,
        /// What to do about it, when the cause is recognised (TLS, mostly).
        hint: Option<String>,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// The database did not hand out a connection in time (down, or every connection busy).
    #[error("the database {url} is unavailable (no connection within {waited:?})")]
    Unavailable {
        /// The URL, password removed.
        url: String,
        /// How long the request waited.
        waited: std::time::Duration,
    },
    /// The authority's tables could not be created or upgraded.
    #[error("cannot create or upgrade the authority tables in {store}")]
    Schema {
        /// Where the state lives (see [`super::AuthorityStore::describe`]).
        store: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// The SQLite file could not be opened.
    #[error("cannot open {}", .path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A statement failed (connection lost, constraint, disk, …).
    #[error("a query on {store} failed")]
    Query {
        /// Where the state lives (see [`super::AuthorityStore::describe`]).
        store: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// A stored value could not be read back (corrupt row).
    #[error("{store} holds a malformed value: {what}")]
    Corrupt {
        /// Where the state lives.
        store: String,
        /// What was wrong.
        what: String,
    },
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_deref()
        .map(|h| format!(" — {h}"))
        .unwrap_or_default()
}

impl StoreError {
    /// Names the store in errors raised without knowing it (driver errors converted by `?`).
    pub(crate) fn at(mut self, described: &str) -> Self {
        if let StoreError::Query { store, .. } | StoreError::Corrupt { store, .. } = &mut self {
            if store.is_empty() {
                *store = described.to_string();
            }
        }
        self
    }

    fn query(e: impl Into<BoxError>) -> Self {
        StoreError::Query {
            store: String::new(),
            source: e.into(),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::query(e)
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::query(e)
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt {
            store: String::new(),
            what: e.to_string(),
        }
    }
}
