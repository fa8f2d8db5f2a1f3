//! A client of a hub's stream services: keeps a secure channel to the hub (opened again after
//! the hub or the connection went away) and sends requests over it, one reply slot per request.

use super::hub::{INDEX_SERVICE, STREAM_SERVICE};
use crate::channel::{self, ChannelContext, SecureChannel};
use crate::flow_control::Access;
use crate::message::Message;
use crate::router::{Deliver, Endpoint};
use crate::transport;
use airlock_channel::TrustPolicy;
use airlock_stream::protocol::{ErrorCode, Request, Response};
use airlock_wire::{Address, Packet, Route};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long opening the channel to the hub may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request may wait for its answer, besides the time a pull may wait for records.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request to the hub failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HubError {
    /// The hub could not be reached (connection, channel, or no answer in time): retry later.
    #[error("stream hub at {hub} unreachable: {reason}")]
    Unreachable {
        /// `host:port` of the hub.
        hub: String,
        /// Why.
        reason: String,
    },
    /// The hub answered with an error.
    #[error("the stream hub refused the request: {reason}")]
    Refused {
        /// The protocol's error code.
        code: ErrorCode,
        /// The hub's reason.
        reason: String,
    },
    /// The hub answered something that does not answer the request.
    #[error("the stream hub answered nonsense: {0}")]
    Malformed(String),
}

impl HubError {
    /// True when the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            HubError::Unreachable { .. } => true,
            HubError::Refused { code, .. } => code.is_transient(),
            HubError::Malformed(_) => false,
        }
    }
}

/// A connection to a hub's stream services.
pub struct HubClient {
    ctx: ChannelContext,
    hub: String,
    trust: TrustPolicy,
    channel: tokio::sync::Mutex<Option<Arc<SecureChannel>>>,
    ids: AtomicU64,
}

impl HubClient {
    /// A client of the hub listening at `hub` (`host:port`), whose identity `trust` must
    /// admit. Nothing is connected until the first request.
    pub fn new(ctx: &impl AsRef<ChannelContext>, hub: &str, trust: TrustPolicy) -> Arc<Self> {
        Arc::new(HubClient {
            ctx: ctx.as_ref().clone(),
            hub: hub.to_string(),
            trust,
            channel: tokio::sync::Mutex::new(None),
            ids: AtomicU64::new(1),
        })
    }

    /// `host:port` of the hub.
    pub fn hub(&self) -> &str {
        &self.hub
    }

    fn unreachable(&self, reason: impl std::fmt::Display) -> HubError {
        HubError::Unreachable {
            hub: self.hub.clone(),
            reason: reason.to_string(),
        }
    }

    /// The open channel to the hub, opening a new one if there is none or it closed.
    async fn channel(&self) -> Result<Arc<SecureChannel>, HubError> {
        let mut guard = self.channel.lock().await;
        if let Some(ch) = guard.as_ref() {
            if !ch.is_closed() {
                return Ok(ch.clone());
            }
        }
        *guard = None;
        let tcp = transport::connect(&self.ctx, &self.hub)
            .await
            .map_err(|e| self.unreachable(e))?;
        let route = Route::new(vec![tcp, Address::new("api").expect("valid")]);
        let ch = channel::create(&self.ctx, route, self.trust.clone(), CONNECT_TIMEOUT)
            .await
            .map_err(|e| self.unreachable(e))?;
        tracing::info!(hub = %self.hub, channel = %ch.address(), "secure channel to the stream hub open");
        *guard = Some(ch.clone());
        Ok(ch)
    }

    /// Forgets the channel (after a request timed out over it), closing it.
    async fn drop_channel(&self, ch: &Arc<SecureChannel>) {
        let mut guard = self.channel.lock().await;
        if guard.as_ref().is_some_and(|c| Arc::ptr_eq(c, ch)) {
            *guard = None;
        }
        ch.close(&self.ctx, true);
    }

    /// A fresh request id.
    pub fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends `request` to the service it belongs to and waits up to `extra` + [`REQUEST_TIMEOUT`]
    /// for the answer; an error answer is a [`HubError::Refused`].
    pub async fn request(&self, request: &Request, extra: Duration) -> Result<Response, HubError> {
        let service = match request {
            Request::IndexGet { .. } | Request::IndexSave { .. } => INDEX_SERVICE,
            _ => STREAM_SERVICE,
        };
        let ch = self.channel().await?;
        let reply = Address::new(format!("reply.{:016x}", crate::random_u64())).expect("valid");
        let (tx, rx) = oneshot::channel();
        // The answer may come only out of the channel to the hub.
        self.ctx.router().register(
            reply.clone(),
            Access::Via(ch.address().clone()),
            Arc::new(Reply(Mutex::new(Some(tx)))),
        );
        let sent = ch.send(
            &self.ctx,
            &Route::single(Address::new(service).expect("valid")),
            &Route::single(reply.clone()),
            Packet::copy_from(&request.encode()),
        );
        let answer = match sent {
            // No answer comes once the channel closed (the hub went away): stop waiting then.
            Ok(()) => tokio::select! {
                a = tokio::time::timeout(REQUEST_TIMEOUT + extra, rx) => a,
                _ = async {
                    if ch.wait_closed(REQUEST_TIMEOUT + extra).await.is_none() {
                        std::future::pending::<()>().await;
                    }
                } => {
                    self.ctx.router().unregister(&reply);
                    self.drop_channel(&ch).await;
                    return Err(self.unreachable("the secure channel to the hub closed"));
                }
            },
            Err(e) => {
                self.ctx.router().unregister(&reply);
                self.drop_channel(&ch).await;
                return Err(self.unreachable(e));
            }
        };
        self.ctx.router().unregister(&reply);
        let msg = match answer {
            Ok(Ok(m)) => m,
            _ => {
                // No answer: the hub or the way to it is gone. Open a new channel next time.
                self.drop_channel(&ch).await;
                return Err(
                    self.unreachable(format!("no answer within {:?}", REQUEST_TIMEOUT + extra))
                );
            }
        };
        let response =
            Response::decode(msg.payload.data()).map_err(|e| HubError::Malformed(e.to_string()))?;
        if response.id() != request.id() {
            return Err(HubError::Malformed(format!(
                "answer to request {} for request {}",
                response.id(),
                request.id()
            )));
        }
        match response {
            Response::Error { code, reason, .. } => Err(HubError::Refused { code, reason }),
            r => Ok(r),
        }
    }

    /// Creates a stream (or finds the existing one); `None` lets the hub pick a name.
    pub async fn create_stream(&self, name: Option<&str>) -> Result<String, HubError> {
        let req = Request::Create {
            id: self.next_id(),
            name: name.map(str::to_string),
        };
        match self.request(&req, Duration::ZERO).await? {
            Response::Created { stream, .. } => Ok(stream),
            other => Err(HubError::Malformed(format!("{other:?} answers a create"))),
        }
    }

    /// Closes the channel to the hub.
    pub async fn close(&self) {
        if let Some(ch) = self.channel.lock().await.take() {
            ch.close(&self.ctx, true);
        }
    }
}

/// Hands the first message it gets to a oneshot.
struct Reply(Mutex<Option<oneshot::Sender<Message>>>);

impl Endpoint for Reply {
    fn handle(&self, _: &Deliver, msg: Message) {
        if let Some(tx) = self.0.lock().expect("reply").take() {
            let _ = tx.send(msg);
        }
    }
}
