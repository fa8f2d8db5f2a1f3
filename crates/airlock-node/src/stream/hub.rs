//! The hub's two stream services: `stream_kafka` (create, push, pull) and `stream_kafka_index`
//! (where each client has read up to). Both are services: reachable only through a secure
//! channel the hub's listener accepted, so every request carries an authenticated identity.
//!
//! Requests are decoded on the task that delivered them; the Kafka work of each runs on its own
//! task (a pull may wait for records), bounded by [`MAX_REQUESTS_IN_FLIGHT`].

use super::memory::MemoryStreams;
use super::store::{KafkaSettings, KafkaStreams, StoreError};
use crate::flow_control::Access;
use crate::message::Message;
use crate::router::{Deliver, Endpoint};
use crate::Node;
use airlock_stream::protocol::{ErrorCode, Request, Response};
use airlock_wire::{Address, Packet, Route};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Address of the stream service.
pub const STREAM_SERVICE: &str = "stream_kafka";
/// Address of the index service.
pub const INDEX_SERVICE: &str = "stream_kafka_index";
/// Requests the hub works on at once (pulls wait for records); more are answered "unavailable".
pub const MAX_REQUESTS_IN_FLIGHT: usize = 1024;

/// The stream services of a hub node.
pub struct Hub {
    store: Store,
    in_flight: Semaphore,
}

/// Where a hub keeps its streams.
pub enum Store {
    /// Kafka: durable (the hub's purpose).
    Kafka(KafkaStreams),
    /// Memory: for tests and demos; nothing survives the process.
    Memory(MemoryStreams),
}

/// Connects to Kafka and registers `stream_kafka` and `stream_kafka_index` on `node`.
pub async fn start(node: &Node, settings: KafkaSettings) -> Result<Arc<Hub>, String> {
    start_with(node, Store::Kafka(KafkaStreams::connect(settings).await?))
}

/// Registers the stream services on `node`, keeping streams in `store`.
pub fn start_with(node: &Node, store: Store) -> Result<Arc<Hub>, String> {
    let hub = Arc::new(Hub {
        store,
        in_flight: Semaphore::new(MAX_REQUESTS_IN_FLIGHT),
    });
    for (name, index) in [(STREAM_SERVICE, false), (INDEX_SERVICE, true)] {
        let addr = Address::new(name).expect("a valid address");
        let endpoint = Arc::new(Service {
            hub: hub.clone(),
            index,
        });
        if !node
            .router()
            .register_endpoint(addr, Access::Service, endpoint)
        {
            return Err(format!("the address {name} is taken on this node"));
        }
    }
    Ok(hub)
}

struct Service {
    hub: Arc<Hub>,
    /// True for `stream_kafka_index`, false for `stream_kafka`.
    index: bool,
}

fn answer(deliver: &Deliver, to: Route, response: Response) {
    deliver.deliver(Message::new(
        to,
        Route::empty(),
        Packet::copy_from(&response.encode()),
    ));
}

fn error(id: u64, code: ErrorCode, reason: impl Into<String>) -> Response {
    Response::Error {
        id,
        code,
        reason: reason.into(),
    }
}

impl Endpoint for Service {
    fn handle(&self, deliver: &Deliver, msg: Message) {
        // Services are reached only through channels (Access::Service): there is a peer.
        let Some(peer) = msg.peer().map(|p| p.identifier) else {
            return;
        };
        let request = match Request::decode(msg.payload.data()) {
            Ok(r) => r,
            Err((id, e)) => {
                tracing::debug!(%peer, "malformed stream request: {e}");
                return answer(
                    deliver,
                    msg.ret,
                    error(id.unwrap_or(0), ErrorCode::Invalid, e.to_string()),
                );
            }
        };
        let id = request.id();
        let is_index = matches!(
            request,
            Request::IndexGet { .. } | Request::IndexSave { .. }
        );
        if is_index != self.index {
            let service = if is_index {
                INDEX_SERVICE
            } else {
                STREAM_SERVICE
            };
            return answer(
                deliver,
                msg.ret,
                error(
                    id,
                    ErrorCode::Invalid,
                    format!("send this request to {service}"),
                ),
            );
        }
        let Ok(permit) = self.hub.in_flight.try_acquire() else {
            return answer(
                deliver,
                msg.ret,
                error(id, ErrorCode::Unavailable, "the hub is busy; retry"),
            );
        };
        // The permit moves into the task: forget it here and give it back there.
        permit.forget();
        let (hub, deliver, ret) = (self.hub.clone(), deliver.clone(), msg.ret);
        tokio::spawn(async move {
            let response = hub.work(&peer.to_string(), request).await;
            hub.in_flight.add_permits(1);
            answer(&deliver, ret, response);
        });
    }
}

impl Hub {
    async fn work(&self, caller: &str, request: Request) -> Response {
        let id = request.id();
        let failed = |e: StoreError| error(id, e.code, e.reason);
        match request {
            Request::Create { name, .. } => {
                let stream = name.unwrap_or_else(|| format!("stream-{:016x}", crate::random_u64()));
                let created = match &self.store {
                    Store::Kafka(k) => k.create(&stream).await,
                    Store::Memory(m) => {
                        m.create(&stream);
                        Ok(())
                    }
                };
                match created {
                    Ok(()) => Response::Created { id, stream },
                    Err(e) => failed(e),
                }
            }
            Request::Push {
                stream, records, ..
            } => {
                let count = records.len() as u16;
                let pushed = match &self.store {
                    Store::Kafka(k) => k.push(&stream, records).await,
                    Store::Memory(m) => m.push(&stream, records),
                };
                match pushed {
                    Ok(first_index) => Response::Pushed {
                        id,
                        first_index,
                        count,
                    },
                    Err(e) => failed(e),
                }
            }
            Request::Pull {
                stream,
                from,
                limit,
                wait_ms,
                ..
            } => {
                let wait = Duration::from_millis(u64::from(wait_ms));
                let pulled = match &self.store {
                    Store::Kafka(k) => k.pull(caller, &stream, from, limit, wait).await,
                    Store::Memory(m) => m.pull(&stream, from, limit, wait).await,
                };
                match pulled {
                    Ok((records, next)) => Response::Pulled { id, next, records },
                    Err(e) => failed(e),
                }
            }
            // Positions are keyed by the caller's authenticated identifier: nobody reads or
            // moves another identity's position (docs/protocol.md §12).
            Request::IndexGet { client, stream, .. } => {
                let key = index_key(caller, &client, &stream);
                let index = match &self.store {
                    Store::Kafka(k) => k.index_get(&key),
                    Store::Memory(m) => m.index_get(&key),
                };
                Response::Index { id, index }
            }
            Request::IndexSave {
                client,
                stream,
                index,
                ..
            } => {
                let key = index_key(caller, &client, &stream);
                let saved = match &self.store {
                    Store::Kafka(k) => k.index_save(&key, index).await,
                    Store::Memory(m) => {
                        m.index_save(&key, index);
                        Ok(())
                    }
                };
                match saved {
                    Ok(()) => Response::Saved { id },
                    Err(e) => failed(e),
                }
            }
        }
    }
}

/// The key of a position in the index topic.
pub fn index_key(caller: &str, client: &str, stream: &str) -> String {
    format!("{caller}/{client}/{stream}")
}
