//! A small bounded pool of `tokio-postgres` connections for the PostgreSQL backend.
//!
//! Hand-rolled rather than `deadpool-postgres` or `bb8`: it is ~100 lines, adds no dependency,
//! and connects through [`Target::connect`], which keeps our TLS modes and turns a failed
//! connection into [`StoreError::Connect`] with its hint, where a generic pool would wrap it in
//! its own error type. At most [`POOL_SIZE`] connections exist; they are opened when first
//! needed, on the runtime of the request that needs them, and a connection the server closed is
//! dropped instead of being handed out again. A request waits at most [`CHECKOUT_WAIT`] for a
//! connection; after a failed connection attempt, requests fail fast for [`RETRY_PACE`] instead
//! of each waiting for the connect timeout of a database that is down.

use super::pg_tls::{self, TlsSettings};
use super::StoreError;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::{Client, NoTls};

/// Most connections one store holds.
pub(super) const POOL_SIZE: usize = 8;
/// Longest wait for a connection before a request fails with [`StoreError::Unavailable`].
pub(super) const CHECKOUT_WAIT: Duration = Duration::from_secs(10);
/// After a failed connection attempt, how long requests fail at once rather than try again.
const RETRY_PACE: Duration = Duration::from_secs(1);

/// Where and how to connect: the parsed URL and its TLS settings.
#[derive(Clone)]
pub(super) struct Target {
    config: tokio_postgres::Config,
    tls: TlsSettings,
    connector: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    /// The URL, password removed.
    pub(super) shown: String,
}

impl Target {
    /// Parses `url` (with `sslmode` and `sslrootcert`) and prepares its TLS connector.
    pub(super) fn parse(url: &str) -> Result<Self, StoreError> {
        let shown = super::redact_url(url);
        let (rest, mode, root) = pg_tls::split_url(url);
        let invalid = |source: super::BoxError| StoreError::InvalidUrl {
            url: shown.clone(),
            source,
        };
        let mut config: tokio_postgres::Config = rest.parse().map_err(|e| invalid(Box::new(e)))?;
        let tls = pg_tls::settings(&mut config, mode.as_deref(), root.as_deref())
            .map_err(|e| invalid(Box::new(e)))?;
        let connector = pg_tls::connector(&tls).map_err(|source| StoreError::TlsSetup {
            url: shown.clone(),
            tls: tls.describe(),
            source,
        })?;
        // A database that does not answer must not hold authority requests for minutes.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        Ok(Target {
            config,
            tls,
            connector,
            shown,
        })
    }

    /// Opens one connection; its I/O task runs on the current runtime until the client is
    /// dropped or the server closes it.
    pub(super) async fn connect(&self) -> Result<Client, StoreError> {
        let connected = match &self.connector {
            Some(tls) => self.config.connect(tls.clone()).await.map(|(client, io)| {
                tokio::spawn(drive(io));
                client
            }),
            None => self.config.connect(NoTls).await.map(|(client, io)| {
                tokio::spawn(drive(io));
                client
            }),
        };
        connected.map_err(|e| StoreError::Connect {
            url: self.shown.clone(),
            tls: self.tls.describe(),
            hint: pg_tls::hint(&e, &self.tls),
            source: Box::new(e),
        })
    }
}

/// Runs a connection's I/O until it ends.
async fn drive<F: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(io: F) {
    if let Err(e) = io.await {
        tracing::warn!("database connection lost: {e}");
    }
}

/// The pool.
pub(super) struct Pool {
    target: Target,
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
    /// When the last connection attempt failed.
    failed: Mutex<Option<Instant>>,
}

/// A connection lent by the pool; it goes back when dropped (unless the server closed it).
pub(super) struct Pooled<'a> {
    client: Option<Client>,
    pool: &'a Pool,
    _permit: SemaphorePermit<'a>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("lent")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("lent")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.client.take().filter(|c| !c.is_closed()) {
            self.pool.idle.lock().expect("idle").push(c);
        }
    }
}

impl Pool {
    /// A pool that connects to `target` when first asked (it holds no connection yet).
    pub(super) fn new(target: Target) -> Self {
        Pool {
            target,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(POOL_SIZE),
            failed: Mutex::new(None),
        }
    }

    /// The URL, password removed.
    pub(super) fn shown(&self) -> &str {
        &self.target.shown
    }

    /// A connection: an idle one that is still open, else a new one.
    pub(super) async fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let unavailable = |waited| StoreError::Unavailable {
            url: self.target.shown.clone(),
            waited,
        };
        let permit = tokio::time::timeout(CHECKOUT_WAIT, self.permits.acquire())
            .await
            .map_err(|_| unavailable(CHECKOUT_WAIT))?
            .expect("the pool's semaphore is never closed");
        let idle = {
            let mut idle = self.idle.lock().expect("idle");
            idle.retain(|c| !c.is_closed());
            idle.pop()
        };
        let client = match idle {
            Some(c) => c,
            None => {
                if let Some(at) = *self.failed.lock().expect("failed") {
                    if at.elapsed() < RETRY_PACE {
                        return Err(unavailable(Duration::ZERO));
                    }
                }
                match self.target.connect().await {
                    Ok(c) => {
                        if self.failed.lock().expect("failed").take().is_some() {
                            tracing::info!(database = %self.target.shown, "reconnected to the database");
                        }
                        c
                    }
                    Err(e) => {
                        tracing::warn!("database unavailable: {}", crate::error_text(&e));
                        *self.failed.lock().expect("failed") = Some(Instant::now());
                        return Err(e);
                    }
                }
            }
        };
        Ok(Pooled {
            client: Some(client),
            pool: self,
            _permit: permit,
        })
    }
}
