//! The Kafka inlet: where Kafka clients connect, on a node next to them.
//!
//! Clients bootstrap at `from`. Each client connection becomes a stream of a portal inlet (no
//! listener of its own; governed by `kafka-inlet` policies) to the Kafka outlet's bootstrap
//! service, with an [`InletInterceptor`] in between. Responses that name brokers are rewritten so
//! that broker `ID` is at `(from's host, a port of the broker range)`; the first time a broker is
//! named, the inlet opens a listener on that port whose connections go to the outlet's
//! `NAME-broker-ID` service — before the client reads the response that names it.

use super::keyring::Keyring;
use super::metrics::KafkaMetrics;
use super::pump::{self, FrameFuture, Interceptor, Outgoing, ResponseFuture};
use crate::portal::inlet::LinkRefused;
use crate::portal::{Inlet, InletError, InletInfo, InletSpec, PortalContext};
use airlock_kafka::{
    BrokerMap, InletInterceptor, MappedBroker, RequestAction, ResponseAction, TopicNames,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The policy resource type of Kafka inlets.
pub const RESOURCE_TYPE: &str = "kafka-inlet";
/// Ports given to brokers when none are configured: this many after the bootstrap port.
pub const DEFAULT_BROKER_PORTS: u16 = 100;

/// What a Kafka inlet is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KafkaInletSpec {
    /// Name.
    pub name: String,
    /// Where clients bootstrap, e.g. `127.0.0.1:9092`.
    pub from: SocketAddr,
    /// Route to the Kafka outlet's node, through a secure channel, e.g.
    /// `/project/default/service/forward_to_kafka/secure/api`.
    pub to: String,
    /// The Kafka outlet's service name at that node (`kafka` by default).
    pub outlet: String,
    /// Local ports for the brokers (default: the [`DEFAULT_BROKER_PORTS`] after `from`'s port).
    pub broker_ports: Option<(u16, u16)>,
    /// Identifiers the outlet node may have; empty = any.
    #[serde(default)]
    pub authorized: Vec<String>,
    /// Encrypt record values on Produce and decrypt them on Fetch (`docs/kafka-encryption.md`);
    /// on by default.
    #[serde(default = "encrypt_by_default")]
    pub encrypt: bool,
    /// With `encrypt`: encrypt only these top-level fields of JSON object values, each value
    /// then being a JSON object (`--encrypted-field`); empty: whole values.
    #[serde(default)]
    pub encrypted_fields: Vec<String>,
}

fn encrypt_by_default() -> bool {
    true
}

impl KafkaInletSpec {
    /// The broker port range this spec gives.
    pub fn broker_range(&self) -> RangeInclusive<u16> {
        match self.broker_ports {
            Some((a, b)) => a..=b,
            None => {
                let first = self.from.port().saturating_add(1);
                first..=first.saturating_add(DEFAULT_BROKER_PORTS - 1)
            }
        }
    }
}

/// Why a Kafka inlet could not be created ([`KafkaInlet::start`],
/// [`KafkaPortals::create_inlet`](super::KafkaPortals::create_inlet)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaInletError {
    /// A Kafka inlet of that name exists on this node.
    #[error("a Kafka inlet named {name:?} already exists on node {node}")]
    Exists {
        /// The name given.
        name: String,
        /// This node's name.
        node: String,
    },
    /// Record encryption is asked for, but this node has no data keys: it is not a member of
    /// a project.
    #[error("record encryption needs this node to be a member of a project (its key directory holds the data keys): enroll it, or create the inlet with --disable-content-encryption")]
    NotProjectMember,
    /// `encrypted_fields` cannot be used: without encryption, or a name empty, too long or
    /// given twice.
    #[error("invalid encrypted fields: {0}")]
    EncryptedFields(String),
    /// The broker port range contains the bootstrap port.
    #[error("the broker port range {first}-{last} must not contain the bootstrap port {port}")]
    BootstrapPortInRange {
        /// First port of the range.
        first: u16,
        /// Last port of the range.
        last: u16,
        /// The bootstrap port.
        port: u16,
    },
    /// The broker port range (or the bootstrap host) cannot be used.
    #[error("invalid broker ports: {0}")]
    BrokerPorts(airlock_kafka::KafkaError),
    /// The bootstrap address is taken by another socket.
    #[error("cannot listen on {addr}: the port is already in use (pick another with --from)")]
    AddressInUse {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The bootstrap address cannot be bound (or its bound address read) for another reason.
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why (part of the message, not a separate cause).
        error: std::io::Error,
    },
    /// The bootstrap portal inlet could not start (its route or authorized identifiers).
    #[error(transparent)]
    Inlet(#[from] InletError),
    /// The bootstrap link was refused for good while the create waited (the inlet was
    /// removed again).
    #[error(transparent)]
    Refused(#[from] LinkRefused),
}

/// A Kafka inlet, for listings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KafkaInletInfo {
    /// Name.
    pub name: String,
    /// Bootstrap address clients use.
    pub from: String,
    /// Route to the outlet's node.
    pub to: String,
    /// The outlet's service name.
    pub outlet: String,
    /// Broker port range, `FIRST-LAST`.
    pub broker_ports: String,
    /// Brokers reached through this inlet: `ID=local address`.
    pub brokers: Vec<String>,
    /// The portal inlets (bootstrap first).
    pub inlets: Vec<InletInfo>,
    /// Whether record values are encrypted.
    #[serde(default)]
    pub encrypt: bool,
    /// The fields of JSON values encrypted; empty: whole values.
    #[serde(default)]
    pub encrypted_fields: Vec<String>,
}

struct BrokerListener {
    inlet: Arc<Inlet>,
    address: SocketAddr,
    task: JoinHandle<()>,
}

struct Shared {
    spec: KafkaInletSpec,
    ctx: PortalContext,
    bootstrap: Arc<Inlet>,
    map: Mutex<BrokerMap>,
    brokers: tokio::sync::Mutex<BTreeMap<i32, BrokerListener>>,
    /// The data keys, when record values are encrypted.
    keyring: Option<Arc<Keyring>>,
    /// Topic ids → names (Produce and Fetch name topics by id from v13).
    topics: Mutex<TopicNames>,
    /// The node's record counters.
    metrics: Arc<KafkaMetrics>,
}

/// A running Kafka inlet.
pub struct KafkaInlet {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
    bound: SocketAddr,
}

/// The node's own check of `spec.encrypted_fields` (the CLI checks them too; a control request
/// may come from elsewhere).
fn check_encrypted_fields(spec: &KafkaInletSpec) -> Result<(), KafkaInletError> {
    let bad = |why: String| Err(KafkaInletError::EncryptedFields(why));
    if !spec.encrypt && !spec.encrypted_fields.is_empty() {
        return bad("fields are encrypted only by an encrypting inlet".into());
    }
    for (i, f) in spec.encrypted_fields.iter().enumerate() {
        if f.is_empty() || f.len() > airlock_kafka::fields::MAX_FIELD_NAME {
            return bad(format!(
                "a field name has 1-{} bytes",
                airlock_kafka::fields::MAX_FIELD_NAME
            ));
        }
        if spec.encrypted_fields[..i].contains(f) {
            return bad(format!("field {f:?} is named twice"));
        }
    }
    Ok(())
}

impl KafkaInlet {
    /// Starts listening at `spec.from` and linking to the outlet in the background; record
    /// values are encrypted with `keyring` (required when `spec.encrypt`) and counted in
    /// `metrics`.
    pub async fn start(
        ctx: &PortalContext,
        spec: KafkaInletSpec,
        keyring: Option<Arc<Keyring>>,
        metrics: Arc<KafkaMetrics>,
    ) -> Result<KafkaInlet, KafkaInletError> {
        check_encrypted_fields(&spec)?;
        let keyring = if spec.encrypt {
            Some(keyring.ok_or(KafkaInletError::NotProjectMember)?)
        } else {
            None
        };
        let range = spec.broker_range();
        if range.contains(&spec.from.port()) {
            return Err(KafkaInletError::BootstrapPortInRange {
                first: *range.start(),
                last: *range.end(),
                port: spec.from.port(),
            });
        }
        let map = BrokerMap::new(spec.from.ip().to_string(), range)
            .map_err(KafkaInletError::BrokerPorts)?;
        let addr = spec.from;
        let listener = crate::listener::bind(addr).map_err(|error| {
            if error.kind() == std::io::ErrorKind::AddrInUse {
                KafkaInletError::AddressInUse { addr }
            } else {
                KafkaInletError::Listen { addr, error }
            }
        })?;
        let bound = listener
            .local_addr()
            .map_err(|error| KafkaInletError::Listen { addr, error })?;
        if let Some(k) = &keyring {
            // Producers grant keys to the consumers listed when they make them: be listed now.
            match tokio::time::timeout(Duration::from_secs(10), k.prepare()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(inlet = %spec.name, "consumer key not published yet: {e}")
                }
                Err(_) => {
                    tracing::warn!(inlet = %spec.name, "consumer key not published within 10 s")
                }
            }
        }
        let bootstrap =
            Inlet::start_local(ctx, portal_spec(&spec, None, bound), RESOURCE_TYPE).await?;
        let shared = Arc::new(Shared {
            spec,
            ctx: ctx.clone(),
            bootstrap: bootstrap.clone(),
            map: Mutex::new(map),
            brokers: tokio::sync::Mutex::new(BTreeMap::new()),
            keyring,
            topics: Mutex::new(TopicNames::new()),
            metrics,
        });
        let task = tokio::spawn(accept_loop(
            listener,
            Arc::downgrade(&shared),
            bootstrap,
            "bootstrap".into(),
        ));
        Ok(KafkaInlet {
            shared,
            task: Mutex::new(Some(task)),
            bound,
        })
    }

    /// Waits up to `wait` for the bootstrap link (see [`Inlet::wait_first`]).
    pub async fn wait_first(&self, wait: Duration) -> Result<bool, LinkRefused> {
        self.shared.bootstrap.wait_first(wait).await
    }

    /// The spec.
    pub fn spec(&self) -> &KafkaInletSpec {
        &self.shared.spec
    }

    /// Status.
    pub async fn info(&self) -> KafkaInletInfo {
        let s = &self.shared;
        let brokers = s.brokers.lock().await;
        let range = s.spec.broker_range();
        let mut inlets = vec![s.bootstrap.info()];
        inlets.extend(brokers.values().map(|b| b.inlet.info()));
        KafkaInletInfo {
            name: s.spec.name.clone(),
            from: self.bound.to_string(),
            to: s.spec.to.clone(),
            outlet: s.spec.outlet.clone(),
            broker_ports: format!("{}-{}", range.start(), range.end()),
            brokers: brokers
                .iter()
                .map(|(id, b)| format!("{id}={}", b.address))
                .collect(),
            inlets,
            encrypt: s.keyring.is_some(),
            encrypted_fields: s.spec.encrypted_fields.clone(),
        }
    }

    /// Closes links whose outlet node is no longer allowed.
    pub async fn recheck(&self) {
        let s = &self.shared;
        s.bootstrap.recheck(&s.ctx);
        for b in s.brokers.lock().await.values() {
            b.inlet.recheck(&s.ctx);
        }
    }

    /// Stops listening and closes every link.
    pub async fn stop(&self) {
        let task = self.task.lock().expect("task").take();
        if let Some(t) = task {
            t.abort();
        }
        let s = &self.shared;
        s.bootstrap.stop(&s.ctx).await;
        let brokers = std::mem::take(&mut *s.brokers.lock().await);
        for b in brokers.into_values() {
            b.task.abort();
            b.inlet.stop(&s.ctx).await;
        }
    }
}

/// The portal inlet spec for the bootstrap (`broker` none) or a broker.
fn portal_spec(spec: &KafkaInletSpec, broker: Option<i32>, from: SocketAddr) -> InletSpec {
    let (name, service) = match broker {
        None => (spec.name.clone(), spec.outlet.clone()),
        Some(id) => (
            format!("{}-broker-{id}", spec.name),
            format!("{}-broker-{id}", spec.outlet),
        ),
    };
    InletSpec {
        name,
        from,
        to: format!("{}/service/{service}", spec.to.trim_end_matches('/')),
        authorized: spec.authorized.clone(),
    }
}

/// Accepts client connections on one listener (bootstrap or a broker's) and carries each through
/// `inlet` with an interceptor.
async fn accept_loop(listener: TcpListener, shared: Weak<Shared>, inlet: Arc<Inlet>, what: String) {
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("kafka inlet accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(s) = shared.upgrade() else { return };
        let inlet = inlet.clone();
        let label = format!("{} {what} ← {peer}", s.spec.name);
        let weak = Arc::downgrade(&s);
        tokio::spawn(async move { serve(weak, inlet, client, label).await });
    }
}

async fn serve(shared: Weak<Shared>, inlet: Arc<Inlet>, client: TcpStream, label: String) {
    let Some(s) = shared.upgrade() else { return };
    let _ = client.set_nodelay(true);
    let stream = match inlet.open_local(&s.ctx).await {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(connection = %label, "dropping Kafka client connection: {}", crate::failure::with_causes(&e));
            return;
        }
    };
    drop(s);
    let interceptor = Arc::new(InletConnection {
        interceptor: Mutex::new(InletInterceptor::new()),
        shared,
    });
    pump::run(client, stream, interceptor, label).await;
}

/// One client connection's interceptor at the inlet.
struct InletConnection {
    interceptor: Mutex<InletInterceptor>,
    shared: Weak<Shared>,
}

/// How often one frame may be handed in again after keys were made or fetched.
const KEY_ROUNDS: usize = 3;

impl Interceptor for InletConnection {
    fn on_request(&self, frame: Bytes) -> FrameFuture<'_, Outgoing> {
        Box::pin(self.request(frame))
    }

    fn on_response(&self, frame: Bytes) -> ResponseFuture<'_> {
        Box::pin(self.respond(frame))
    }
}

impl InletConnection {
    async fn request(&self, frame: Bytes) -> Result<Outgoing, String> {
        let Some(s) = self.shared.upgrade() else {
            return Err("the Kafka inlet was deleted".into());
        };
        let Some(keyring) = s.keyring.clone() else {
            let action = self
                .interceptor
                .lock()
                .expect("interceptor")
                .on_request(frame);
            return Outgoing::from_action(action.map_err(|e| e.to_string())?);
        };
        for _ in 0..KEY_ROUNDS {
            let action = {
                let topics = s.topics.lock().expect("topics");
                let mut encryptor = keyring.encryptor().with_fields(&s.spec.encrypted_fields);
                self.interceptor
                    .lock()
                    .expect("interceptor")
                    .on_request_encrypting(frame.clone(), &topics, &mut encryptor)
                    .map_err(|e| e.to_string())?
            };
            match action {
                RequestAction::NeedKey { topic } => keyring
                    .prepare_topic(&topic)
                    .await
                    .map_err(|e| format!("no data key for topic {topic:?}: {e}"))?,
                other => {
                    if let RequestAction::Sealed { encrypted, .. } = &other {
                        s.metrics.encrypted(encrypted);
                    }
                    return Outgoing::from_action(other);
                }
            }
        }
        Err("a Produce request still lacked a data key after it was made".into())
    }

    async fn respond(&self, frame: Bytes) -> Result<Bytes, String> {
        let Some(s) = self.shared.upgrade() else {
            return Err("the Kafka inlet was deleted".into());
        };
        for _ in 0..KEY_ROUNDS {
            let action = {
                let mut map = s.map.lock().expect("map");
                let mut interceptor = self.interceptor.lock().expect("interceptor");
                match &s.keyring {
                    None => interceptor.on_response(frame.clone(), &mut map),
                    Some(keyring) => {
                        let mut topics = s.topics.lock().expect("topics");
                        let mut decryptor = keyring.decryptor();
                        interceptor.on_response_decrypting(
                            frame.clone(),
                            &mut map,
                            &mut topics,
                            &mut decryptor,
                        )
                    }
                }
                .map_err(|e| e.to_string())?
            };
            match action {
                ResponseAction::Forward(f) => return Ok(f),
                ResponseAction::Rewritten { frame, new_brokers } => {
                    for b in new_brokers {
                        open_broker(&s, &b).await?;
                    }
                    return Ok(frame);
                }
                ResponseAction::Decrypted {
                    frame,
                    failures,
                    decrypted,
                } => {
                    for f in &failures {
                        tracing::warn!(inlet = %s.spec.name, topic = %f.topic, partition = f.partition, offset = ?f.offset, "records withheld from the client: {:?}", f.reason);
                    }
                    s.metrics.decrypted(&decrypted);
                    s.metrics.withheld(&failures);
                    return Ok(frame);
                }
                ResponseAction::NeedKeys(ids) => match &s.keyring {
                    Some(k) => k.fetch(&ids).await?,
                    None => {
                        return Err(
                            "a response asked for data keys on an inlet that does not decrypt"
                                .into(),
                        )
                    }
                },
            }
        }
        Err("a Fetch response still lacked data keys after they were fetched".into())
    }
}

/// Opens the listener and portal inlet of a broker newly given a local port.
async fn open_broker(s: &Arc<Shared>, b: &MappedBroker) -> Result<(), String> {
    let mut brokers = s.brokers.lock().await;
    if brokers.contains_key(&b.node_id) {
        return Ok(());
    }
    let address = SocketAddr::new(s.spec.from.ip(), b.local_port);
    let listener = crate::listener::bind(address).map_err(|e| {
        format!(
            "cannot listen for kafka broker {} on {address}: {e} (choose a free range with --brokers-port-range)",
            b.node_id
        )
    })?;
    let inlet = Inlet::start_local(
        &s.ctx,
        portal_spec(&s.spec, Some(b.node_id), address),
        RESOURCE_TYPE,
    )
    .await
    .map_err(|e| {
        format!(
            "cannot open the portal for kafka broker {}: {}",
            b.node_id,
            crate::failure::with_causes(&e)
        )
    })?;
    tracing::info!(inlet = %s.spec.name, broker = b.node_id, %address, advertised = %format!("{}:{}", b.advertised.host, b.advertised.port), "kafka broker reachable locally");
    let task = tokio::spawn(accept_loop(
        listener,
        Arc::downgrade(s),
        inlet.clone(),
        format!("broker {}", b.node_id),
    ));
    brokers.insert(
        b.node_id,
        BrokerListener {
            inlet,
            address,
            task,
        },
    );
    Ok(())
}
