//! Streams kept in memory: the hub's store for tests and demos without Kafka. Same semantics as
//! [`super::store::KafkaStreams`] (indexes from 0, waiting pulls, positions), nothing survives
//! the process.

use super::store::{Pulled, StoreError};
use airlock_stream::protocol::{ErrorCode, FROM_END, MAX_BATCH_BYTES, MAX_RECORDS};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

/// Streams and positions in memory.
#[derive(Default)]
pub struct MemoryStreams {
    streams: Mutex<HashMap<String, Vec<Vec<u8>>>>,
    index: Mutex<HashMap<String, u64>>,
    pushed: Notify,
}

impl MemoryStreams {
    /// Creates a stream (an existing one is fine).
    pub fn create(&self, stream: &str) {
        self.streams
            .lock()
            .expect("streams")
            .entry(stream.to_string())
            .or_default();
    }

    fn unknown(stream: &str) -> StoreError {
        StoreError {
            code: ErrorCode::UnknownStream,
            reason: format!("no stream {stream} on this hub (create it first)"),
        }
    }

    /// Appends records; returns the index of the first.
    pub fn push(&self, stream: &str, records: Vec<Vec<u8>>) -> Result<u64, StoreError> {
        let mut map = self.streams.lock().expect("streams");
        let s = map.get_mut(stream).ok_or_else(|| Self::unknown(stream))?;
        let first = s.len() as u64;
        s.extend(records);
        drop(map);
        self.pushed.notify_waiters();
        Ok(first)
    }

    fn read(&self, stream: &str, from: u64, limit: u16) -> Result<Pulled, StoreError> {
        let map = self.streams.lock().expect("streams");
        let s = map.get(stream).ok_or_else(|| Self::unknown(stream))?;
        let end = s.len() as u64;
        if from == FROM_END {
            return Ok((Vec::new(), end));
        }
        if from > end {
            return Err(StoreError {
                code: ErrorCode::Invalid,
                reason: format!("index {from} is past the end of stream {stream}"),
            });
        }
        let (mut out, mut bytes) = (Vec::new(), 0usize);
        for (i, r) in s.iter().enumerate().skip(from as usize) {
            if out.len() >= usize::from(limit).min(MAX_RECORDS)
                || (!out.is_empty() && bytes + r.len() > MAX_BATCH_BYTES)
            {
                break;
            }
            bytes += r.len();
            out.push((i as u64, r.clone()));
        }
        let next = out.last().map(|(i, _)| i + 1).unwrap_or(from);
        Ok((out, next))
    }

    /// Reads up to `limit` records from `from`, waiting up to `wait` for the first.
    pub async fn pull(
        &self,
        stream: &str,
        from: u64,
        limit: u16,
        wait: Duration,
    ) -> Result<Pulled, StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before reading, so a push in between is not missed.
            let pushed = self.pushed.notified();
            let (records, next) = self.read(stream, from, limit)?;
            if !records.is_empty() || limit == 0 || from == FROM_END {
                return Ok((records, next));
            }
            if tokio::time::timeout_at(deadline, pushed).await.is_err() {
                return Ok((records, next));
            }
        }
    }

    /// A saved position.
    pub fn index_get(&self, key: &str) -> Option<u64> {
        self.index.lock().expect("index").get(key).copied()
    }

    /// Saves a position.
    pub fn index_save(&self, key: &str, index: u64) {
        self.index
            .lock()
            .expect("index")
            .insert(key.to_string(), index);
    }
}
