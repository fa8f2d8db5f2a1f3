//! The Kafka outlet: the broker side of a Kafka portal, on a node that reaches the cluster.
//!
//! It is a set of portal outlets governed by `kafka-outlet` policies: `NAME` leads to the
//! bootstrap server, and `NAME-broker-ID` to broker `ID`, made when a response first advertises
//! that broker. Each stream is handed (as an in-process socket pair) to an
//! [`OutletInterceptor`], which checks the requests, learns the brokers' addresses from the
//! cluster's own responses and passes the rest on. A broker outlet dials the address the cluster
//! advertised for its id — never an address an inlet names — so a member cannot use the outlet to
//! reach other hosts of the Kafka operator's network. With `tls` the outlet speaks TLS to the
//! bootstrap server and every broker ([`super::tls`]).

use super::pump::{self, FrameFuture, Interceptor, Outgoing, ResponseFuture};
use super::tls::BrokerTls;
use crate::portal::{Outlet, OutletInfo, OutletSpec, OutletTarget, PortalContext, Portals};
use airlock_kafka::{KnownBrokers, OutletInterceptor};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::net::{TcpStream, UnixStream};

/// The policy resource type of Kafka outlets.
pub const RESOURCE_TYPE: &str = "kafka-outlet";
/// How long the outlet waits for a broker to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a Kafka outlet is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KafkaOutletSpec {
    /// Service address of the bootstrap outlet (`kafka` by default); brokers are at
    /// `NAME-broker-ID`.
    pub name: String,
    /// The cluster's bootstrap server, `host:port`.
    pub bootstrap_server: String,
    /// Speak TLS to the bootstrap server and the brokers.
    #[serde(default)]
    pub tls: bool,
    /// With `tls`: trust only the CA certificates of this PEM file (instead of the Mozilla
    /// roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<String>,
}

/// A Kafka outlet, for listings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KafkaOutletInfo {
    /// Service address of the bootstrap outlet.
    pub name: String,
    /// Route suffix for inlets: `/service/NAME`.
    pub address: String,
    /// The bootstrap server.
    pub bootstrap_server: String,
    /// TLS to the brokers.
    #[serde(default)]
    pub tls: bool,
    /// The CA file trusted for TLS, if not the Mozilla roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<String>,
    /// Brokers the cluster advertised so far: `ID=host:port`.
    pub brokers: Vec<String>,
    /// The portal outlets (bootstrap first).
    pub outlets: Vec<OutletInfo>,
}

/// Why a Kafka outlet could not be created ([`KafkaOutlet::start`],
/// [`KafkaPortals::create_outlet`](super::KafkaPortals::create_outlet)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaOutletError {
    /// A Kafka outlet of that name exists on this node.
    #[error("a Kafka outlet named {name:?} already exists on node {node}")]
    Exists {
        /// The name given.
        name: String,
        /// This node's name.
        node: String,
    },
    /// The spec names no bootstrap server.
    #[error("the Kafka outlet needs a bootstrap server (host:port)")]
    NoBootstrapServer,
    /// The spec gives a CA file but does not turn TLS on.
    #[error("a TLS CA file is given but TLS is off")]
    CaFileWithoutTls,
    /// The TLS settings cannot be used (the CA file).
    #[error(transparent)]
    Tls(#[from] super::tls::TlsConfigError),
    /// The bootstrap outlet cannot be registered (its name).
    #[error(transparent)]
    Outlet(#[from] crate::portal::CreateOutletError),
}

/// Where one stream of the outlet goes.
#[derive(Clone, Copy, Debug)]
enum Destination {
    Bootstrap,
    Broker(i32),
}

struct Shared {
    spec: KafkaOutletSpec,
    ctx: PortalContext,
    known: Mutex<KnownBrokers>,
    portals: Portals,
    tls: Option<BrokerTls>,
}

/// A running Kafka outlet.
pub struct KafkaOutlet {
    shared: Arc<Shared>,
}

impl KafkaOutlet {
    /// Registers the bootstrap outlet at `spec.name`.
    pub fn start(
        ctx: &PortalContext,
        spec: KafkaOutletSpec,
    ) -> Result<KafkaOutlet, KafkaOutletError> {
        if spec.bootstrap_server.trim().is_empty() {
            return Err(KafkaOutletError::NoBootstrapServer);
        }
        let tls = match (spec.tls, &spec.tls_ca_file) {
            (true, ca) => Some(BrokerTls::new(ca.as_deref())?),
            (false, Some(_)) => return Err(KafkaOutletError::CaFileWithoutTls),
            (false, None) => None,
        };
        let shared = Arc::new(Shared {
            tls,
            spec,
            ctx: ctx.clone(),
            known: Mutex::new(KnownBrokers::new()),
            portals: Portals::default(),
        });
        let outlet = Outlet::with_target(
            OutletSpec {
                name: shared.spec.name.clone(),
                to: shared.spec.bootstrap_server.clone(),
            },
            target(&shared, Destination::Bootstrap),
            RESOURCE_TYPE,
        );
        shared.portals.add_outlet(ctx, outlet)?;
        Ok(KafkaOutlet { shared })
    }

    /// The spec.
    pub fn spec(&self) -> &KafkaOutletSpec {
        &self.shared.spec
    }

    /// Status.
    pub fn info(&self) -> KafkaOutletInfo {
        let s = &self.shared;
        let mut outlets = s.portals.outlets();
        outlets.sort_by_key(|o| o.name != s.spec.name);
        KafkaOutletInfo {
            name: s.spec.name.clone(),
            address: format!("/service/{}", s.spec.name),
            bootstrap_server: s.spec.bootstrap_server.clone(),
            tls: s.spec.tls,
            tls_ca_file: s.spec.tls_ca_file.clone(),
            brokers: s
                .known
                .lock()
                .expect("known")
                .iter()
                .map(|b| format!("{}={}:{}", b.node_id, b.host, b.port))
                .collect(),
            outlets,
        }
    }

    /// Closes links whose peer is no longer allowed.
    pub fn recheck(&self) {
        self.shared.portals.recheck(&self.shared.ctx);
    }

    /// Unregisters every outlet of this Kafka outlet (their links close).
    pub async fn stop(&self) {
        self.shared.portals.stop_all(&self.shared.ctx).await;
    }
}

/// The outlet target for `dest`: each stream goes to a new interceptor task.
fn target(shared: &Arc<Shared>, dest: Destination) -> OutletTarget {
    let weak = Arc::downgrade(shared);
    let description = match dest {
        Destination::Bootstrap if shared.spec.tls => {
            format!("kafka bootstrap {} (TLS)", shared.spec.bootstrap_server)
        }
        Destination::Bootstrap => format!("kafka bootstrap {}", shared.spec.bootstrap_server),
        Destination::Broker(id) if shared.spec.tls => format!("kafka broker {id} (TLS)"),
        Destination::Broker(id) => format!("kafka broker {id}"),
    };
    OutletTarget::Local {
        description,
        handler: Arc::new(move |stream: UnixStream| {
            let weak = weak.clone();
            tokio::spawn(async move { serve(weak, dest, stream).await });
        }),
    }
}

/// Carries one portal stream to the broker.
async fn serve(shared: Weak<Shared>, dest: Destination, stream: UnixStream) {
    let Some(s) = shared.upgrade() else { return };
    let address = match dest {
        Destination::Bootstrap => s.spec.bootstrap_server.clone(),
        Destination::Broker(id) => match s.known.lock().expect("known").address_of(id) {
            Some((host, port)) => format!("{host}:{port}"),
            None => {
                tracing::warn!(outlet = %s.spec.name, "no address is known for broker {id}");
                return;
            }
        },
    };
    let broker = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&address)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            tracing::info!(outlet = %s.spec.name, %address, "cannot connect to the Kafka broker: {e}");
            return;
        }
        Err(_) => {
            tracing::info!(outlet = %s.spec.name, %address, "the Kafka broker did not accept within {CONNECT_TIMEOUT:?}");
            return;
        }
    };
    let _ = broker.set_nodelay(true);
    let label = format!("{} → {address}", s.spec.name);
    let interceptor = Arc::new(OutletConnection {
        interceptor: Mutex::new(OutletInterceptor::new()),
        shared: Arc::downgrade(&s),
    });
    let tls = s.tls.clone();
    let name = s.spec.name.clone();
    drop(s);
    match tls {
        None => pump::run(stream, broker, interceptor, label).await,
        Some(tls) => {
            // The handshake counts against the connect timeout; a failure closes the client's
            // connection (the portal stream is dropped) with the reason in the log.
            match tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(&address, broker)).await {
                Ok(Ok(broker)) => pump::run(stream, broker, interceptor, label).await,
                Ok(Err(why)) => {
                    tracing::warn!(outlet = %name, %address, "cannot connect to the Kafka broker: {why}");
                }
                Err(_) => {
                    tracing::warn!(outlet = %name, %address, "the Kafka broker did not complete the TLS handshake within {CONNECT_TIMEOUT:?}");
                }
            }
        }
    }
}

/// One stream's interceptor at the outlet.
struct OutletConnection {
    interceptor: Mutex<OutletInterceptor>,
    shared: Weak<Shared>,
}

impl Interceptor for OutletConnection {
    fn on_request(&self, frame: Bytes) -> FrameFuture<'_, Outgoing> {
        let action = self
            .interceptor
            .lock()
            .expect("interceptor")
            .on_request(frame)
            .map_err(|e| e.to_string());
        Box::pin(async move { Outgoing::from_action(action?) })
    }

    fn on_response(&self, frame: Bytes) -> ResponseFuture<'_> {
        Box::pin(self.respond(frame))
    }
}

impl OutletConnection {
    async fn respond(&self, frame: Bytes) -> Result<Bytes, String> {
        let Some(s) = self.shared.upgrade() else {
            return Err("the Kafka outlet was deleted".into());
        };
        let out = {
            let mut known = s.known.lock().expect("known");
            self.interceptor
                .lock()
                .expect("interceptor")
                .on_response(frame, &mut known)
                .map_err(|e| e.to_string())?
        };
        // A broker's outlet exists before the inlet can learn of the broker.
        for b in &out.learned {
            let name = format!("{}-broker-{}", s.spec.name, b.node_id);
            tracing::info!(outlet = %s.spec.name, broker = b.node_id, host = %b.host, port = b.port, "kafka broker advertised");
            if s.portals.outlets().iter().any(|o| o.name == name) {
                continue; // a new address for a known id: its outlet reads the map per stream
            }
            let outlet = Outlet::with_target(
                OutletSpec {
                    name: name.clone(),
                    to: format!("{}:{}", b.host, b.port),
                },
                target(&s, Destination::Broker(b.node_id)),
                RESOURCE_TYPE,
            );
            if let Err(e) = s.portals.add_outlet(&s.ctx, outlet) {
                return Err(format!("cannot serve kafka broker {}: {e}", b.node_id));
            }
        }
        Ok(out.frame)
    }
}
