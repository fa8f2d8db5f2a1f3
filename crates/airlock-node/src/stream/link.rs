//! A stream link: a pair of streams on a hub used by this node like a TCP connection to a peer
//! it never connects to. Messages routed to the link's address (`stream.<16 hex>`) are stored
//! in the *sending* stream; what the link pulls from the *receiving* stream is delivered on this
//! node as if read from a connection — with the link as origin and the link's address in front
//! of the return route, so answers go back the same way.
//!
//! Delivery is at-least-once and ordered: pushes are retried until the hub confirms them, a
//! pulled batch is delivered before its position is saved. Secure channels run over a link
//! unchanged; their replay window drops the duplicates (docs/protocol.md §12).

use super::client::{HubClient, HubError};
use super::store::Pulled;
use crate::backoff::Backoff;
use crate::channel::ChannelContext;
use crate::close_hooks::Lifetime;
use crate::flow_control::{Access, Origin};
use crate::message::Message;
use crate::router::{Deliver, Endpoint};
use airlock_stream::protocol::{Request, Response, FROM_END, MAX_BATCH_BYTES, MAX_RECORDS};
use airlock_stream::StoredMessage;
use airlock_wire::{Address, Packet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// Most records asked for per pull.
pub const PULL_LIMIT: u16 = 64;
/// How long the hub holds a pull open while the stream has nothing new.
pub const PULL_WAIT: Duration = Duration::from_millis(1_000);

/// Where to begin reading the receiving stream when the hub has no saved position for this
/// client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// From the first record (a mailbox this client created for itself).
    Beginning,
    /// From the records pushed from now on (someone else's outbound stream: its past was for
    /// others).
    End,
}

/// How to open a link.
#[derive(Debug, Clone)]
pub struct LinkSpec {
    /// The stream this node pushes to.
    pub sending: String,
    /// The stream this node pulls from.
    pub receiving: String,
    /// This client's name for its position in `receiving` (scoped by its identity at the hub):
    /// the same name after a restart resumes where the last run left off.
    pub client_id: String,
    /// Where to begin without a saved position.
    pub start: Start,
}

/// Counters of a link.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Messages pushed and confirmed by the hub.
    pub pushed: AtomicU64,
    /// Messages pulled and delivered on this node.
    pub delivered: AtomicU64,
    /// Pulled records that were not stored messages (dropped).
    pub malformed: AtomicU64,
    /// Pushes that were sent again after a failure.
    pub push_retries: AtomicU64,
}

/// An open stream link. Dropping it closes it.
pub struct StreamLink {
    address: Address,
    spec: LinkSpec,
    life: Arc<Lifetime>,
    stats: Arc<LinkStats>,
    position: Arc<AtomicU64>,
    tasks: Vec<AbortHandle>,
    ctx: ChannelContext,
}

/// The link's address in the router: what is routed to it is queued for the push task.
struct Outbound {
    queue: mpsc::UnboundedSender<Vec<u8>>,
}

impl Endpoint for Outbound {
    fn handle(&self, _: &Deliver, mut msg: Message) {
        msg.onward.pop_front();
        if msg.onward.is_empty() {
            return; // nothing to route on the other side
        }
        let mut record = Vec::with_capacity(
            1 + msg.onward.encoded_len() + msg.ret.encoded_len() + msg.payload.len(),
        );
        StoredMessage::encode_parts(&msg.onward, &msg.ret, msg.payload.data(), &mut record);
        if record.len() > MAX_BATCH_BYTES {
            // The hub must refuse it: never send it (docs/protocol.md §12).
            tracing::warn!(
                bytes = record.len(),
                "message too large for a stream ({MAX_BATCH_BYTES} bytes at most); dropped"
            );
            return;
        }
        let _ = self.queue.send(record);
    }
}

impl StreamLink {
    /// Opens a link over `hub`: learns where to start reading, registers the link's address
    /// (local senders only) and starts pushing and pulling.
    pub async fn open(
        ctx: &impl AsRef<ChannelContext>,
        hub: Arc<HubClient>,
        spec: LinkSpec,
    ) -> Result<StreamLink, HubError> {
        let ctx = ctx.as_ref().clone();
        let saved = match hub
            .request(
                &Request::IndexGet {
                    id: hub.next_id(),
                    client: spec.client_id.clone(),
                    stream: spec.receiving.clone(),
                },
                Duration::ZERO,
            )
            .await?
        {
            Response::Index { index, .. } => index,
            other => {
                return Err(HubError::Malformed(format!(
                    "{other:?} answers an index get"
                )))
            }
        };
        let position = match (saved, spec.start) {
            (Some(i), _) => i,
            (None, Start::Beginning) => 0,
            (None, Start::End) => {
                pull(&hub, &spec.receiving, FROM_END, 0, Duration::ZERO)
                    .await?
                    .1
            }
        };
        tracing::info!(
            sending = %spec.sending,
            receiving = %spec.receiving,
            position,
            resumed = saved.is_some(),
            "stream link open"
        );
        let address = Address::new(format!("stream.{:016x}", crate::random_u64())).expect("valid");
        let (tx, rx) = mpsc::unbounded_channel();
        ctx.router().register(
            address.clone(),
            Access::Local,
            Arc::new(Outbound { queue: tx }),
        );
        let life = Arc::new(Lifetime::default());
        ctx.transport()
            .registry()
            .remember_link(address.clone(), life.clone());
        let stats = Arc::new(LinkStats::default());
        let position = Arc::new(AtomicU64::new(position));
        let pusher = tokio::spawn(push_loop(
            hub.clone(),
            spec.sending.clone(),
            rx,
            stats.clone(),
        ));
        let puller = tokio::spawn(pull_loop(
            hub,
            spec.clone(),
            address.clone(),
            ctx.deliver().clone(),
            position.clone(),
            stats.clone(),
        ));
        Ok(StreamLink {
            address,
            spec,
            life,
            stats,
            position,
            tasks: vec![pusher.abort_handle(), puller.abort_handle()],
            ctx,
        })
    }

    /// The link's address: the first hop of routes through it (`[link, api]` to open a secure
    /// channel with the node at the other end).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The streams of the link.
    pub fn spec(&self) -> &LinkSpec {
        &self.spec
    }

    /// The link's counters.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// The index of the next record to pull from the receiving stream.
    pub fn position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }

    /// Closes the link: channels over it close, its tasks stop (queued messages not yet pushed
    /// are dropped).
    pub fn close(&self) {
        for t in &self.tasks {
            t.abort();
        }
        self.ctx.router().unregister(&self.address);
        self.ctx.transport().registry().forget_link(&self.address);
        self.life.close();
    }
}

impl Drop for StreamLink {
    fn drop(&mut self) {
        self.close();
    }
}

async fn pull(
    hub: &HubClient,
    stream: &str,
    from: u64,
    limit: u16,
    wait: Duration,
) -> Result<Pulled, HubError> {
    let req = Request::Pull {
        id: hub.next_id(),
        stream: stream.to_string(),
        from,
        limit,
        wait_ms: wait.as_millis() as u32,
    };
    match hub.request(&req, wait).await? {
        Response::Pulled { next, records, .. } => Ok((records, next)),
        other => Err(HubError::Malformed(format!("{other:?} answers a pull"))),
    }
}

/// Pushes queued records in batches, one batch in flight, each retried until the hub confirms
/// it (the hub may then hold it twice: the channel above drops the duplicate).
async fn push_loop(
    hub: Arc<HubClient>,
    stream: String,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    stats: Arc<LinkStats>,
) {
    let mut carry: Option<Vec<u8>> = None;
    loop {
        let first = match carry.take() {
            Some(r) => r,
            None => match rx.recv().await {
                Some(r) => r,
                None => return,
            },
        };
        let mut bytes = first.len();
        let mut records = vec![first];
        while records.len() < MAX_RECORDS {
            match rx.try_recv() {
                Ok(r) if bytes + r.len() <= MAX_BATCH_BYTES => {
                    bytes += r.len();
                    records.push(r);
                }
                Ok(r) => {
                    carry = Some(r);
                    break;
                }
                Err(_) => break,
            }
        }
        let count = records.len() as u64;
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
        loop {
            let req = Request::Push {
                id: hub.next_id(),
                stream: stream.clone(),
                records: records.clone(),
            };
            match hub.request(&req, Duration::ZERO).await {
                Ok(Response::Pushed { .. }) => {
                    tracing::trace!(records = count, bytes, "pushed");
                    stats.pushed.fetch_add(count, Ordering::Relaxed);
                    break;
                }
                Ok(other) => tracing::warn!("push to {stream} answered with {other:?}; retrying"),
                Err(e) if e.is_transient() => {
                    tracing::info!("push to {stream} failed, retrying: {e}")
                }
                Err(e) => {
                    // Refused for good (an unknown stream, a bad request): retrying the same
                    // batch cannot help, and holding it would stop the link.
                    tracing::error!("push to {stream} refused; {count} messages dropped: {e}");
                    break;
                }
            }
            stats.push_retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}

/// Pulls the receiving stream, delivers each message as read from the link, then saves the
/// position.
async fn pull_loop(
    hub: Arc<HubClient>,
    spec: LinkSpec,
    link: Address,
    deliver: Deliver,
    position: Arc<AtomicU64>,
    stats: Arc<LinkStats>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    let (saver, saved) = tokio::sync::watch::channel(position.load(Ordering::Acquire));
    let save_task = tokio::spawn(save_loop(hub.clone(), spec.clone(), saved));
    // The saver stops with this task (the link aborts it on close).
    let _stop_saver = AbortOnDrop(save_task.abort_handle());
    loop {
        let from = position.load(Ordering::Acquire);
        let (records, next) = match pull(&hub, &spec.receiving, from, PULL_LIMIT, PULL_WAIT).await {
            Ok(r) => {
                backoff.reset();
                r
            }
            Err(e) => {
                tracing::info!("pull from {} failed, retrying: {e}", spec.receiving);
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
        };
        for (index, record) in records {
            match StoredMessage::decode(&record) {
                Ok(m) => {
                    let mut ret = m.ret;
                    ret.push_front(link.clone());
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                    deliver.deliver(Message::with_origin(
                        m.onward,
                        ret,
                        Packet::copy_from(&m.payload),
                        Origin::Transport(link.clone()),
                    ));
                }
                Err(e) => {
                    stats.malformed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        index,
                        "dropping a record of {} that is not a stored message: {e}",
                        spec.receiving
                    );
                }
            }
        }
        tracing::trace!(records = next - from, next, "pulled");
        position.store(next, Ordering::Release);
        // The saver task writes the latest position while the next pull is already waiting.
        let _ = saver.send(next);
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Saves the link's position in the receiving stream whenever it moved: the latest value only,
/// one request at a time, so a fast stream costs one save per round trip to the hub rather than
/// one per pulled batch. A failed save is tried again at the next change or after a pause.
async fn save_loop(
    hub: Arc<HubClient>,
    spec: LinkSpec,
    mut position: tokio::sync::watch::Receiver<u64>,
) {
    let mut saved = *position.borrow_and_update();
    loop {
        let next = *position.borrow_and_update();
        if next == saved {
            if position.changed().await.is_err() {
                return;
            }
            continue;
        }
        let req = Request::IndexSave {
            id: hub.next_id(),
            client: spec.client_id.clone(),
            stream: spec.receiving.clone(),
            index: next,
        };
        match hub.request(&req, Duration::ZERO).await {
            Ok(_) => saved = next,
            Err(e) => {
                tracing::info!(
                    "saving the position in {} failed (tried again): {e}",
                    spec.receiving
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}
