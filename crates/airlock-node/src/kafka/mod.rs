//! Kafka portals: a Kafka-protocol-aware portal between Kafka clients and a Kafka cluster in
//! another network.
//!
//! * [`inlet`] — next to the clients: the bootstrap listener and one listener per broker, each
//!   client connection carried over a portal with an interceptor that rewrites broker addresses;
//! * [`outlet`] — next to the cluster: portal outlets for the bootstrap server and each advertised
//!   broker, with an interceptor that learns where the brokers are;
//! * [`keyring`] — the data keys an encrypting inlet seals and opens record values with, and
//!   the [`KeySource`] they come from (the project's key directory);
//! * [`metrics`] — per-topic counters of records encrypted, decrypted, refused and failed;
//! * `pump` — moving frames through an interceptor, used by both;
//! * [`tls`] — the outlet's TLS to the brokers.
//!
//! The protocol work itself (frames, correlation, rewriting, refusing) is the sans-IO core in
//! `airlock-kafka`; this is the runtime around it. See `docs/protocol.md` §11.

pub mod inlet;
pub mod keyring;
pub mod metrics;
pub mod outlet;
mod pump;
#[cfg(test)]
mod tests;
pub mod tls;

pub use inlet::{KafkaInlet, KafkaInletError, KafkaInletInfo, KafkaInletSpec};
pub use keyring::{KeyFuture, KeySource, Keyring, RestoredKey, TopicKey};
pub use metrics::{KafkaMetrics, TopicRecordCounts};
pub use outlet::{KafkaOutlet, KafkaOutletError, KafkaOutletInfo, KafkaOutletSpec};
pub use tls::TlsConfigError;

use crate::portal::PortalContext;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// The node's Kafka inlets and outlets by name.
#[derive(Default)]
pub struct KafkaPortals {
    inlets: tokio::sync::Mutex<HashMap<String, Arc<KafkaInlet>>>,
    outlets: Mutex<HashMap<String, Arc<KafkaOutlet>>>,
    /// The node's data keys, once it knows where they come from (its project).
    keyring: RwLock<Option<Arc<Keyring>>>,
    /// Record counters of the encrypting inlets, by topic.
    metrics: Arc<KafkaMetrics>,
}

impl KafkaPortals {
    /// Sets where encrypting inlets get their data keys (the project's key directory); inlets
    /// created before keep the keys they had.
    pub fn set_key_source(&self, source: Arc<dyn KeySource>) {
        *self.keyring.write().expect("keyring") = Some(Keyring::new(source));
    }

    /// The node's keyring, if it has a key source.
    pub fn keyring(&self) -> Option<Arc<Keyring>> {
        self.keyring.read().expect("keyring").clone()
    }

    /// The record counters of this node's encrypting inlets, by topic (sorted).
    pub fn record_counts(&self) -> Vec<(String, TopicRecordCounts)> {
        self.metrics.snapshot()
    }

    /// Creates a Kafka outlet.
    pub fn create_outlet(
        &self,
        ctx: &PortalContext,
        spec: KafkaOutletSpec,
    ) -> Result<KafkaOutletInfo, KafkaOutletError> {
        let mut outlets = self.outlets.lock().expect("outlets");
        if outlets.contains_key(&spec.name) {
            return Err(KafkaOutletError::Exists {
                name: spec.name,
                node: ctx.node_name().to_string(),
            });
        }
        let outlet = Arc::new(KafkaOutlet::start(ctx, spec.clone())?);
        let info = outlet.info();
        outlets.insert(spec.name, outlet);
        Ok(info)
    }

    /// Kafka outlets, by name.
    pub fn outlets(&self) -> Vec<KafkaOutletInfo> {
        let mut v: Vec<_> = self
            .outlets
            .lock()
            .expect("outlets")
            .values()
            .map(|o| o.info())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Deletes a Kafka outlet; false if none had that name.
    pub async fn delete_outlet(&self, name: &str) -> bool {
        let outlet = self.outlets.lock().expect("outlets").remove(name);
        match outlet {
            Some(o) => {
                o.stop().await;
                true
            }
            None => false,
        }
    }

    /// Creates a Kafka inlet and waits up to `wait` for its bootstrap link; a permanent refusal
    /// removes it again and is the error (as for TCP inlets).
    pub async fn create_inlet(
        &self,
        ctx: &PortalContext,
        spec: KafkaInletSpec,
        wait: Duration,
    ) -> Result<KafkaInletInfo, KafkaInletError> {
        let taken = |inlets: &HashMap<String, Arc<KafkaInlet>>| {
            inlets
                .contains_key(&spec.name)
                .then(|| KafkaInletError::Exists {
                    name: spec.name.clone(),
                    node: ctx.node_name().to_string(),
                })
        };
        if let Some(e) = taken(&*self.inlets.lock().await) {
            return Err(e);
        }
        let inlet = Arc::new(
            KafkaInlet::start(ctx, spec.clone(), self.keyring(), self.metrics.clone()).await?,
        );
        if let Err(e) = inlet.wait_first(wait).await {
            inlet.stop().await;
            return Err(e.into());
        }
        let info = inlet.info().await;
        let mut inlets = self.inlets.lock().await;
        if let Some(e) = taken(&inlets) {
            drop(inlets);
            inlet.stop().await;
            return Err(e);
        }
        inlets.insert(spec.name.clone(), inlet);
        Ok(info)
    }

    /// Kafka inlets, by name.
    pub async fn inlets(&self) -> Vec<KafkaInletInfo> {
        let all: Vec<_> = self.inlets.lock().await.values().cloned().collect();
        let mut v = Vec::with_capacity(all.len());
        for i in all {
            v.push(i.info().await);
        }
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Deletes a Kafka inlet; false if none had that name.
    pub async fn delete_inlet(&self, name: &str) -> bool {
        let inlet = self.inlets.lock().await.remove(name);
        match inlet {
            Some(i) => {
                i.stop().await;
                true
            }
            None => false,
        }
    }

    /// Closes links whose peers are no longer allowed.
    pub async fn recheck(&self) {
        let inlets: Vec<_> = self.inlets.lock().await.values().cloned().collect();
        for i in inlets {
            i.recheck().await;
        }
        let outlets: Vec<_> = self
            .outlets
            .lock()
            .expect("outlets")
            .values()
            .cloned()
            .collect();
        for o in outlets {
            o.recheck();
        }
    }

    /// Stops everything.
    pub async fn stop_all(&self) {
        let inlets: Vec<_> = self.inlets.lock().await.drain().map(|(_, i)| i).collect();
        for i in inlets {
            i.stop().await;
        }
        let outlets: Vec<_> = self
            .outlets
            .lock()
            .expect("outlets")
            .drain()
            .map(|(_, o)| o)
            .collect();
        for o in outlets {
            o.stop().await;
        }
    }
}
