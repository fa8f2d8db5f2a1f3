//! The local control API between the CLI and a running node.
//!
//! A Unix socket `nodes/<name>/control.sock` inside the `0700` state folder, itself `0600` from
//! the moment it exists (created under umask `077`, see [`bind_private`]): only the owning user
//! can drive the node. One JSON request per line, one JSON response per line:
//! `{"ok":true,"result":…}` or `{"ok":false,"error":"…"}`. After a `stop` request the node
//! keeps the connection open until it has shut down, so the caller can wait for the process to
//! end by waiting for EOF.

use airlock_channel::TrustPolicy;
use airlock_node::portal::{InletSpec, OutletSpec};
use airlock_node::{resolve, Message, Node, Worker};
use airlock_project::relay::RelayKeeper;
use airlock_wire::{Address, MultiAddr, Packet, Route};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::{oneshot, watch};

/// A control request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Node status.
    Status,
    /// Graceful stop.
    Stop,
    /// Create an outlet.
    OutletCreate {
        /// What to create.
        spec: OutletSpec,
    },
    /// List outlets.
    OutletList,
    /// Delete an outlet.
    OutletDelete {
        /// Name.
        name: String,
    },
    /// Create an inlet.
    InletCreate {
        /// What to create.
        spec: InletSpec,
    },
    /// List inlets.
    InletList,
    /// Delete an inlet.
    InletDelete {
        /// Name.
        name: String,
    },
    /// Open a secure channel.
    ChannelCreate {
        /// Route to the listener, e.g. `/ip4/127.0.0.1/tcp/4000/service/api`.
        to: String,
        /// Acceptable peer identifiers (empty = any).
        authorized: Vec<String>,
        /// Handshake timeout.
        timeout_ms: u64,
    },
    /// List channels.
    ChannelList,
    /// Close a channel.
    ChannelDelete {
        /// Encrypting address.
        address: String,
    },
    /// Set a policy.
    PolicyCreate {
        /// Resource name.
        resource: Option<String>,
        /// Resource type.
        resource_type: Option<String>,
        /// S-expression.
        expression: String,
    },
    /// List policies.
    PolicyList,
    /// Delete a policy.
    PolicyDelete {
        /// Resource name.
        resource: Option<String>,
        /// Resource type.
        resource_type: Option<String>,
    },
    /// Create (and keep registered) a relay.
    RelayCreate {
        /// Relay name.
        name: String,
        /// Where to register it: `/project/P` or a route to a node.
        at: String,
        /// Identities accepted at the relay host (empty: any).
        #[serde(default)]
        authorized: Vec<String>,
    },
    /// List relays.
    RelayList,
    /// Delete a relay.
    RelayDelete {
        /// Relay name.
        name: String,
    },
    /// Send a message and wait for one reply.
    MessageSend {
        /// Route.
        to: String,
        /// Payload (UTF-8).
        payload: String,
        /// Reply timeout.
        timeout_ms: u64,
        /// Acceptable identifiers for the last secure channel in the route.
        authorized: Vec<String>,
    },
}

/// Runtime objects the CLI layer keeps next to the node (relay keepers).
#[derive(Default)]
pub struct Extras {
    relays: Mutex<std::collections::HashMap<String, Arc<RelayKeeper>>>,
}

impl Extras {
    /// Status of every relay this node keeps.
    pub fn relay_infos(&self) -> Vec<airlock_project::relay::RelayInfo> {
        let mut v: Vec<_> = self
            .relays
            .lock()
            .expect("relays")
            .values()
            .map(|k| k.info())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Starts keeping a relay registered; waits briefly for the first registration.
    pub async fn create_relay(
        &self,
        node: &Node,
        name: &str,
        at: &str,
        authorized: &[String],
    ) -> Result<Value> {
        if !airlock_project::relay::valid_relay_name(name) {
            bail!("invalid relay name {name:?}: use 1-48 letters, digits, '-', '_' or '.'");
        }
        if self.relays.lock().expect("relays").contains_key(name) {
            bail!("relay {name:?} already exists on node {}", node.name());
        }
        let addr: airlock_wire::MultiAddr = at
            .parse()
            .map_err(|e| anyhow::anyhow!("--at {at:?}: {e}"))?;
        let authorized = parse_identifiers(authorized)?;
        if !authorized.is_empty() && !airlock_project::relay::can_pin_host(at) {
            bail!("--authorized needs a route that ends in a secure channel to the relay host (e.g. /ip4/…/tcp/…, /node/N, or …/secure/api); the project's own channel already accepts only the project's identity");
        }
        if let Some(airlock_wire::Segment::Project(project)) = addr.segments.first() {
            if node.project(project).is_none() {
                bail!(
                    "node {} is not a member of project {project:?} (enroll its identity first)",
                    node.name()
                );
            }
        }
        let (keeper, first) =
            RelayKeeper::start(node, at, name, authorized, Duration::from_secs(10)).await;
        self.relays
            .lock()
            .expect("relays")
            .insert(name.to_string(), keeper.clone());
        let mut v = serde_json::to_value(keeper.info())?;
        if let Err(e) = first {
            v["warning"] = Value::String(airlock_project::error_text(&e));
        }
        Ok(v)
    }
}

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

/// Serves the control socket until `stop` is requested; returns then.
pub async fn serve(node: Node, socket: &Path, extras: Arc<Extras>) -> Result<()> {
    let listener = bind_private(socket)?;
    listener.set_nonblocking(true)?;
    let listener = UnixListener::from_std(listener)?;
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (node, stop_tx, extras) = (node.clone(), stop_tx.clone(), extras.clone());
                tokio::spawn(async move {
                    let (rd, mut wr) = stream.into_split();
                    let mut lines = tokio::io::BufReader::new(rd).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if line.len() > 1 << 20 {
                            break;
                        }
                        let (resp, stop) = match serde_json::from_str::<Request>(&line) {
                            Ok(Request::Stop) => (json!({"ok": true, "result": "stopping"}), true),
                            Ok(req) => (match handle(&node, &extras, req).await {
                                Ok(v) => json!({"ok": true, "result": v}),
                                Err(e) => json!({"ok": false, "error": format!("{e:#}")}),
                            }, false),
                            Err(e) => (json!({"ok": false, "error": format!("bad request: {e}")}), false),
                        };
                        let mut out = resp.to_string();
                        out.push('\n');
                        if wr.write_all(out.as_bytes()).await.is_err() {
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

fn parse_identifiers(authorized: &[String]) -> Result<Vec<airlock_identity::Identifier>> {
    authorized
        .iter()
        .map(|s| s.parse().with_context(|| format!("--authorized {s:?}")))
        .collect()
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

async fn handle(node: &Node, extras: &Extras, req: Request) -> Result<Value> {
    Ok(match req {
        Request::Status => json!({
            "name": node.name(),
            "identifier": node.identifier().to_string(),
            "tcp_listen": node.listen_addr().to_string(),
            "pid": std::process::id(),
            "uptime_secs": node.uptime().as_secs(),
            "connections": node.connection_count(),
            "secure_channels": node.channels().len(),
            "inlets": node.inlets().len(),
            "outlets": node.outlets().len(),
        }),
        Request::Stop => unreachable!("handled by the server loop"),
        Request::OutletCreate { spec } => serde_json::to_value(node.create_outlet(spec)?)?,
        Request::OutletList => serde_json::to_value(node.outlets())?,
        Request::OutletDelete { name } => {
            if !node.delete_outlet(&name) {
                bail!("no outlet named {name:?} on node {}", node.name());
            }
            json!({"deleted": name})
        }
        Request::InletCreate { spec } => serde_json::to_value(node.create_inlet(spec).await?)?,
        Request::InletList => serde_json::to_value(node.inlets())?,
        Request::InletDelete { name } => {
            if !node.delete_inlet(&name).await {
                bail!("no inlet named {name:?} on node {}", node.name());
            }
            json!({"deleted": name})
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
            json!({
                "address": format!("/service/{}", ch.address()),
                "peer": ch.peer().map(|p| p.identifier.to_string()),
            })
        }
        Request::ChannelList => {
            let mut v: Vec<_> = node.channels().iter().map(|c| c.info()).collect();
            v.sort_by(|a, b| a.address.cmp(&b.address));
            serde_json::to_value(v)?
        }
        Request::ChannelDelete { address } => {
            let a = Address::new(address.trim_start_matches("/service/"))?;
            let ch = node
                .channel(&a)
                .with_context(|| format!("no secure channel {address} on node {}", node.name()))?;
            ch.close(node, true);
            json!({"deleted": address})
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
            json!({"resource": resource, "resource_type": resource_type, "expression": policy.to_string()})
        }
        Request::PolicyList => serde_json::to_value(node.policies())?,
        Request::PolicyDelete {
            resource,
            resource_type,
        } => {
            if !node.remove_policy(resource.as_deref(), resource_type.as_deref()) {
                bail!("no such policy on node {}", node.name());
            }
            json!({"deleted": true})
        }
        Request::RelayCreate {
            name,
            at,
            authorized,
        } => extras.create_relay(node, &name, &at, &authorized).await?,
        Request::RelayList => serde_json::to_value(extras.relay_infos())?,
        Request::RelayDelete { name } => {
            let k = extras.relays.lock().expect("relays").remove(&name);
            match k {
                Some(k) => k.stop(node),
                None => bail!("no relay named {name:?} on node {}", node.name()),
            }
            json!({"deleted": name})
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
                Ok(Ok(m)) => json!({
                    "reply": String::from_utf8_lossy(m.payload.data()),
                    "peer": m.peer().map(|p| p.identifier.to_string()),
                }),
                _ => bail!("no reply within {timeout:?} from {to} (is the route right and the service running?)"),
            }
        }
    })
}

/// A connection to a node's control socket.
pub struct ControlClient {
    reader: BufReader<std::os::unix::net::UnixStream>,
    writer: std::os::unix::net::UnixStream,
    node: String,
}

impl ControlClient {
    /// Connects to the node's socket.
    pub fn connect(socket: &Path, node: &str) -> Result<Self> {
        let s = std::os::unix::net::UnixStream::connect(socket).map_err(|_| {
            anyhow::anyhow!(
                "node {node:?} is not running (start it with `airlock node start {node}`)"
            )
        })?;
        Ok(ControlClient {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
            node: node.to_string(),
        })
    }

    /// Sends a request and returns its result, or the node's error.
    pub fn request(&mut self, req: &Request, timeout: Duration) -> Result<Value> {
        self.writer.set_read_timeout(Some(timeout))?;
        let mut line = serde_json::to_string(req)?;
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        let mut resp = String::new();
        let n = self.reader.read_line(&mut resp).map_err(|e| {
            anyhow::anyhow!(
                "node {:?} did not answer within {timeout:?}: {e}",
                self.node
            )
        })?;
        if n == 0 {
            bail!("node {:?} closed the control connection", self.node);
        }
        let v: Value = serde_json::from_str(&resp)?;
        if v["ok"].as_bool() == Some(true) {
            Ok(v["result"].clone())
        } else {
            bail!("{}", v["error"].as_str().unwrap_or("unknown error"))
        }
    }

    /// Waits until the node closes the connection (it exits), up to `timeout`.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        let _ = self.writer.set_read_timeout(Some(timeout));
        let mut buf = String::new();
        matches!(self.reader.read_line(&mut buf), Ok(0))
    }
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
}
