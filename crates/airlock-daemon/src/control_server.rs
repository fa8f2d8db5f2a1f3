//! The node's side of the control API (`crate::control`): binds the private control socket
//! and answers requests on the running node until one asks it to stop.

use super::relays::{parse_identifiers, RelayKeepers};
use crate::control::protocol::{
    ChannelOpened, ChannelView, Deleted, InletView, KafkaInletView, KafkaOutletView, MessageReply,
    NodeStatus, OutletView, PolicyView, RelayCreated, RelayView, Request, Response,
};
use airlock_channel::TrustPolicy;
use airlock_node::{resolve, Message, Node, Worker};
use airlock_wire::{Address, MultiAddr, Packet, Route};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::{oneshot, watch};

/// Binds the control socket `socket` (replacing a stale one) so that no other user can ever
/// connect to it, not even for an instant: its folder is made `0700` first, and the socket is
/// created under umask `077` (so it is born `0600`, with no window between `bind` and a
/// `chmod`). The process umask is restored before returning.
pub fn bind_private(socket: &Path) -> Result<std::os::unix::net::UnixListener> {
    if let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict the folder {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(socket);
    let bound = {
        // SAFETY: umask only swaps the process file mode mask; it cannot fail. Other threads
        // creating files meanwhile get a stricter mode, never a looser one.
        let previous = unsafe { libc::umask(0o077) };
        let bound = std::os::unix::net::UnixListener::bind(socket);
        // SAFETY: as above, restoring the caller's mask.
        unsafe { libc::umask(previous) };
        bound
    };
    let listener =
        bound.with_context(|| format!("cannot create the control socket {}", socket.display()))?;
    // Already 0600 by the umask; set it explicitly in case the file system ignores it.
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Longest request line answered; a longer one gets an error and the connection is closed.
const MAX_REQUEST: usize = 1 << 20;

/// What a request is answered with (serialized as the result alone, as the protocol's types).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Reply {
    Stopping(&'static str),
    Status(NodeStatus),
    Outlet(OutletView),
    Outlets(Vec<OutletView>),
    Inlet(InletView),
    Inlets(Vec<InletView>),
    KafkaOutlet(KafkaOutletView),
    KafkaOutlets(Vec<KafkaOutletView>),
    KafkaInlet(KafkaInletView),
    KafkaInlets(Vec<KafkaInletView>),
    ChannelOpened(ChannelOpened),
    Channels(Vec<ChannelView>),
    Policy(PolicyView),
    Policies(Vec<PolicyView>),
    PolicyDeleted(Deleted<bool>),
    RelayCreated(RelayCreated),
    Relays(Vec<RelayView>),
    Message(MessageReply),
    Deleted(Deleted<String>),
}

/// The answer to one request line, and whether the node stops once it is sent. Never fails: a
/// line that is not a request, or a request that fails, is answered with the reason.
async fn answer(node: &Node, relays: &RelayKeepers, line: &str) -> (Response<Reply>, bool) {
    match Request::decode(line) {
        Err(e) => (Response::failure(format!("bad request: {e}")), false),
        Ok(req) => {
            let stop = matches!(req, Request::Stop);
            match handle(node, relays, req).await {
                Ok(reply) => (Response::success(reply), stop),
                Err(e) => (Response::failure(format!("{e:#}")), false),
            }
        }
    }
}

/// Serves the control socket until `stop` is requested; returns then.
pub async fn serve(node: Node, socket: &Path, relays: Arc<RelayKeepers>) -> Result<()> {
    let listener = bind_private(socket)?;
    listener.set_nonblocking(true)?;
    let listener = UnixListener::from_std(listener)?;
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (node, stop_tx, relays) = (node.clone(), stop_tx.clone(), relays.clone());
                tokio::spawn(async move {
                    let (rd, mut wr) = stream.into_split();
                    let mut lines = tokio::io::BufReader::new(rd).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let (response, stop) = if line.len() > MAX_REQUEST {
                            let e = format!("bad request: longer than {MAX_REQUEST} bytes");
                            (Response::failure(e), false)
                        } else {
                            answer(&node, &relays, &line).await
                        };
                        let mut out = serde_json::to_string(&response).unwrap_or_else(|e| {
                            format!(r#"{{"ok":false,"error":"cannot encode the answer: {e}"}}"#)
                        });
                        out.push('\n');
                        if wr.write_all(out.as_bytes()).await.is_err() || line.len() > MAX_REQUEST {
                            break;
                        }
                        if stop {
                            let _ = stop_tx.send(true);
                            // Keep the connection open: it closes when the process exits.
                            std::future::pending::<()>().await;
                        }
                    }
                });
            }
            _ = stop_rx.changed() => return Ok(()),
        }
    }
}

fn trust_of(authorized: &[String]) -> Result<TrustPolicy> {
    Ok(TrustPolicy::only_or_everyone(parse_identifiers(
        authorized,
    )?))
}

struct ReplyWorker(Mutex<Option<oneshot::Sender<Message>>>);

impl Worker for ReplyWorker {
    fn handle(&self, _node: &Node, msg: Message) {
        if let Some(tx) = self.0.lock().expect("reply").take() {
            let _ = tx.send(msg);
        }
    }
}

async fn handle(node: &Node, relays: &RelayKeepers, req: Request) -> Result<Reply> {
    Ok(match req {
        Request::Status => Reply::Status(NodeStatus {
            name: node.name().to_string(),
            identifier: node.identifier().to_string(),
            tcp_listen: node.listen_addr().to_string(),
            pid: std::process::id(),
            uptime_secs: node.uptime().as_secs(),
            connections: node.connection_count(),
            secure_channels: node.channels().len(),
            inlets: node.inlets().len(),
            outlets: node.outlets().len(),
        }),
        // The server loop stops the node once this answer is sent.
        Request::Stop => Reply::Stopping("stopping"),
        Request::OutletCreate { spec } => Reply::Outlet(node.create_outlet(spec)?.into()),
        Request::OutletList => Reply::Outlets(node.outlets().into_iter().map(Into::into).collect()),
        Request::OutletDelete { name } => {
            if !node.delete_outlet(&name) {
                bail!("no outlet named {name:?} on node {}", node.name());
            }
            Reply::Deleted(Deleted { deleted: name })
        }
        Request::InletCreate { spec, wait_ms } => {
            let wait = wait_ms
                .map(Duration::from_millis)
                .unwrap_or(airlock_node::portal::inlet::INITIAL_WAIT);
            Reply::Inlet(node.create_inlet_and_wait(spec, wait).await?.into())
        }
        Request::InletList => Reply::Inlets(node.inlets().into_iter().map(Into::into).collect()),
        Request::InletDelete { name } => {
            if !node.delete_inlet(&name).await {
                bail!("no inlet named {name:?} on node {}", node.name());
            }
            Reply::Deleted(Deleted { deleted: name })
        }
        Request::KafkaOutletCreate { spec } => {
            Reply::KafkaOutlet(node.create_kafka_outlet(spec)?.into())
        }
        Request::KafkaOutletList => {
            Reply::KafkaOutlets(node.kafka().outlets().into_iter().map(Into::into).collect())
        }
        Request::KafkaOutletDelete { name } => {
            if !node.kafka().delete_outlet(&name).await {
                bail!("no Kafka outlet named {name:?} on node {}", node.name());
            }
            Reply::Deleted(Deleted { deleted: name })
        }
        Request::KafkaInletCreate { spec, wait_ms } => {
            let wait = wait_ms
                .map(Duration::from_millis)
                .unwrap_or(airlock_node::portal::inlet::INITIAL_WAIT);
            Reply::KafkaInlet(node.create_kafka_inlet(spec, wait).await?.into())
        }
        Request::KafkaInletList => Reply::KafkaInlets(
            node.kafka()
                .inlets()
                .await
                .into_iter()
                .map(Into::into)
                .collect(),
        ),
        Request::KafkaInletDelete { name } => {
            if !node.kafka().delete_inlet(&name).await {
                bail!("no Kafka inlet named {name:?} on node {}", node.name());
            }
            Reply::Deleted(Deleted { deleted: name })
        }
        Request::ChannelCreate {
            to,
            authorized,
            timeout_ms,
        } => {
            let ma: MultiAddr = to.parse()?;
            let trust = trust_of(&authorized)?;
            let timeout = Duration::from_millis(timeout_ms);
            // `--to …/service/api` names the listener: open the channel to it.
            let mut segs = ma.segments.clone();
            match segs.last() {
                Some(airlock_wire::Segment::Service(l)) => {
                    let l = l.clone();
                    segs.pop();
                    segs.push(airlock_wire::Segment::Secure(l));
                }
                _ => bail!("the route must end with the listener's /service/NAME, e.g. /node/n1/service/api"),
            }
            let r = resolve::resolve(node, &MultiAddr { segments: segs }, trust, timeout).await?;
            let (ch, _) = r.channel.context("no channel was created")?;
            Reply::ChannelOpened(ChannelOpened {
                address: format!("/service/{}", ch.address()),
                peer: ch.peer().map(|p| p.identifier.to_string()),
            })
        }
        Request::ChannelList => {
            let mut v: Vec<ChannelView> = node.channels().iter().map(|c| c.info().into()).collect();
            v.sort_by(|a, b| a.address.cmp(&b.address));
            Reply::Channels(v)
        }
        Request::ChannelDelete { address } => {
            let a = Address::new(address.trim_start_matches("/service/"))?;
            let ch = node
                .channel(&a)
                .with_context(|| format!("no secure channel {address} on node {}", node.name()))?;
            ch.close(node, true);
            Reply::Deleted(Deleted { deleted: address })
        }
        Request::PolicyCreate {
            resource,
            resource_type,
            expression,
        } => {
            let policy = airlock_abac::Policy::parse(&expression).map_err(|e| {
                anyhow::anyhow!("invalid policy expression: {}", e.render(&expression))
            })?;
            node.set_policy(
                resource.as_deref(),
                resource_type.as_deref(),
                policy.clone(),
            )
            .map_err(|e| anyhow::anyhow!(e))?;
            Reply::Policy(PolicyView {
                resource,
                resource_type,
                expression: policy.to_string(),
            })
        }
        Request::PolicyList => {
            Reply::Policies(node.policies().into_iter().map(Into::into).collect())
        }
        Request::PolicyDelete {
            resource,
            resource_type,
        } => {
            if !node.remove_policy(resource.as_deref(), resource_type.as_deref()) {
                bail!("no such policy on node {}", node.name());
            }
            Reply::PolicyDeleted(Deleted { deleted: true })
        }
        Request::RelayCreate {
            name,
            at,
            authorized,
            wait_ms,
        } => {
            // Without a wait: until the first attempt's answer (at most 10 s).
            let wait = wait_ms
                .map(Duration::from_millis)
                .unwrap_or(Duration::from_secs(10));
            Reply::RelayCreated(
                relays
                    .create_and_wait(node, &name, &at, &authorized, wait, wait_ms.is_some())
                    .await?,
            )
        }
        Request::RelayList => Reply::Relays(relays.infos()),
        Request::RelayDelete { name } => {
            if !relays.delete(node, &name) {
                bail!("no relay named {name:?} on node {}", node.name());
            }
            Reply::Deleted(Deleted { deleted: name })
        }
        Request::MessageSend {
            to,
            payload,
            timeout_ms,
            authorized,
        } => {
            let ma: MultiAddr = to.parse()?;
            let timeout = Duration::from_millis(timeout_ms);
            let r = resolve::resolve(node, &ma, trust_of(&authorized)?, timeout).await?;
            let reply_addr = Address::new(format!("reply.{:016x}", airlock_node::random_u64()))?;
            let (tx, rx) = oneshot::channel();
            node.router().register(
                reply_addr.clone(),
                airlock_node::Access::reply_via(&r.route),
                Arc::new(ReplyWorker(Mutex::new(Some(tx)))),
            );
            node.dispatch(Message::new(
                r.route.clone(),
                Route::single(reply_addr.clone()),
                Packet::copy_from(payload.as_bytes()),
            ));
            let reply = tokio::time::timeout(timeout, rx).await;
            node.router().unregister(&reply_addr);
            for ch in r.opened.iter().rev() {
                ch.close(node, true);
            }
            match reply {
                Ok(Ok(m)) => Reply::Message(MessageReply {
                    reply: String::from_utf8_lossy(m.payload.data()).into_owned(),
                    peer: m.peer().map(|p| p.identifier.to_string()),
                }),
                _ => bail!("no reply within {timeout:?} from {to} (is the route right and the service running?)"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system temporary folder, removed on drop.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let p = std::env::temp_dir().join(format!(
                "airlock-{tag}-{}-{:016x}",
                std::process::id(),
                airlock_node::random_u64()
            ));
            std::fs::create_dir(&p).expect("temp dir");
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    /// The socket is never reachable by other users: it is created 0600 in a 0700 folder (not
    /// chmod-ed afterwards, which would leave a window), and the process umask is left as it
    /// was.
    #[test]
    fn control_socket_is_private_from_the_start() {
        let dir = TempDir::new("control");
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = dir.0.join("control.sock");
        // SAFETY: umask only swaps the process file mode mask.
        let before = unsafe { libc::umask(0o022) };
        // Watch the socket appear and record the first mode seen (at the bind, before any
        // chmod): a sampler thread polls while the main thread binds.
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let watch = socket.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let sampler = std::thread::spawn(move || {
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(m) = std::fs::symlink_metadata(&watch) {
                    let _ = seen_tx.send(m.permissions().mode() & 0o777);
                    return;
                }
            }
        });
        let listener = bind_private(&socket).expect("bind");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        sampler.join().unwrap();
        // SAFETY: as above; this reads the mask back and restores the caller's.
        let after = unsafe { libc::umask(before) };
        assert_eq!(after, 0o022, "the process umask is restored");
        assert_eq!(mode(&socket), 0o600, "socket mode");
        assert_eq!(mode(&dir.0), 0o700, "socket folder mode");
        // A socket is created with 0777 minus the umask (0700 here, before the chmod to
        // 0600): either way no group or other bit may ever be seen.
        if let Ok(first) = seen_rx.try_recv() {
            assert_eq!(
                first & 0o077,
                0,
                "the socket was created with mode {first:o}, open to others"
            );
        }
        // It still accepts its owner.
        std::os::unix::net::UnixStream::connect(&socket).expect("owner connects");
        drop(listener);
    }

    /// Lines that are not requests are answered with the reason, and the connection goes on
    /// serving the next request.
    #[tokio::test]
    async fn bad_requests_are_answered_not_fatal() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let dir = TempDir::new("control-bad");
        let socket = dir.0.join("control.sock");
        let node = Node::start(airlock_node::NodeConfig::loopback("ctl"))
            .await
            .unwrap();
        let server = tokio::spawn({
            let (node, socket) = (node.clone(), socket.clone());
            async move { serve(node, &socket, Arc::new(RelayKeepers::default())).await }
        });
        let mut stream = loop {
            match tokio::net::UnixStream::connect(&socket).await {
                Ok(s) => break s,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        };
        let (rd, mut wr) = stream.split();
        let mut lines = BufReader::new(rd).lines();
        for (line, expected) in [
            ("garbage", "bad request: malformed request"),
            (
                r#"{"op":"bogus"}"#,
                "bad request: unknown request \"bogus\"",
            ),
            (
                r#"{"op":"inlet-delete"}"#,
                "bad request: invalid inlet-delete request",
            ),
            (
                r#"{"op":"outlet-delete","name":"x"}"#,
                "no outlet named \"x\"",
            ),
            (
                r#"{"op":"kafka-inlet-delete","name":"x"}"#,
                "no Kafka inlet named \"x\"",
            ),
            (
                r#"{"op":"kafka-outlet-create","spec":{"name":"k","bootstrap_server":" "}}"#,
                "the Kafka outlet needs a bootstrap server",
            ),
        ] {
            wr.write_all(format!("{line}\n").as_bytes()).await.unwrap();
            let answer = lines.next_line().await.unwrap().unwrap();
            let r: Response<serde_json::Value> = serde_json::from_str(&answer).unwrap();
            assert!(!r.ok, "{answer}");
            assert!(r.error.unwrap().starts_with(expected), "{answer}");
        }
        wr.write_all(b"{\"op\":\"status\"}\n").await.unwrap();
        let answer = lines.next_line().await.unwrap().unwrap();
        let r: Response<NodeStatus> = serde_json::from_str(&answer).unwrap();
        assert_eq!(r.result.unwrap().name, "ctl");
        server.abort();
        node.shutdown().await;
    }
}
