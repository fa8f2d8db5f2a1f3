//! Running a node process: logging, project services, restoring recorded resources, the
//! metrics/health endpoint, the control server, and a graceful stop on SIGTERM.

use super::control_server;
use super::metrics::{self, Health};
use super::projects::start_project_services;
use super::relays::RelayKeepers;
use super::restore::{restore_policies, restore_portals, restore_relays};
use crate::home::Home;
use crate::home::HomeError;
use crate::projects::ProjectError;
use airlock_identity::PurposeKeySecret;
use airlock_node::{Node, NodeConfig, NodeIdentity};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Why a node process could not start (or failed while running).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The home could not be read or written (the node, its identity, its folder).
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The node's recorded policies could not be read.
    #[error("cannot read the node's policies")]
    Policies {
        /// Why.
        #[source]
        source: HomeError,
    },
    /// The node's recorded TCP listen address is not an address.
    #[error(transparent)]
    ListenAddress(#[from] std::net::AddrParseError),
    /// Another process already serves this node's control socket.
    #[error("node {node:?} is already running")]
    AlreadyRunning {
        /// The node's name.
        node: String,
    },
    /// The runtime or a signal handler could not be set up.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The node runtime did not start (its TCP listener, …).
    #[error(transparent)]
    Start(#[from] airlock_node::StartError),
    /// The node's projects could not be joined or hosted.
    #[error(transparent)]
    Projects(#[from] ProjectError),
    /// The stream hub could not start (`--kafka-bootstrap`).
    #[error("the stream services could not start: {0}")]
    StreamHub(String),
    /// The metrics/health endpoint could not be served (`--metrics`).
    #[error(transparent)]
    Metrics(Box<dyn std::error::Error + Send + Sync + 'static>),
}

type Result<T, E = RunError> = std::result::Result<T, E>;

/// Written on stdout by a background node once it is ready (the parent waits for it),
/// followed by a space and its [`Ready`] as JSON.
pub const READY_LINE: &str = "airlock-node-ready";

/// What a background node says on its readiness line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// The node's identifier.
    pub identifier: String,
    /// The address its TCP listener is bound to.
    pub tcp_listen: String,
}

impl Ready {
    /// The readiness line (without its newline).
    pub fn line(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{READY_LINE} {json}")
    }

    /// Reads a readiness line; None if `line` is not one.
    pub fn parse(line: &str) -> Option<Ready> {
        let json = line.trim_end().strip_prefix(READY_LINE)?;
        serde_json::from_str(json.trim_start()).ok()
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines on stderr.
    #[default]
    Text,
    /// One JSON object per line on stdout (foreground) or in the node log (background).
    Json,
}

/// How a node process runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Log format.
    pub log_format: LogFormat,
    /// Serve `/metrics`, `/healthz` and `/readyz` here.
    pub metrics: Option<SocketAddr>,
    /// Grace period for open portal connections on SIGTERM/Ctrl-C (0 = cut at once).
    pub drain: Duration,
    /// Called every 5 s to give memory freed after bursts of traffic back to the system:
    /// the binary knows its allocator (`airlock` uses mimalloc, which keeps freed pages cached
    /// otherwise; a node that moved gigabytes would idle at ~60 MiB).
    pub release_memory: Option<fn()>,
    /// Serve stream mailboxes (`stream_kafka`, `stream_kafka_index`) backed by this Kafka.
    pub stream_hub: Option<airlock_node::stream::KafkaSettings>,
    /// Accept secure channels from any identity (a hub open to anyone).
    pub trust_anyone: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            log_format: LogFormat::Text,
            metrics: None,
            drain: Duration::from_secs(10),
            release_memory: None,
            stream_hub: None,
            trust_anyone: false,
        }
    }
}

fn init_logging(child: bool, format: LogFormat) {
    let filter = std::env::var("AIRLOCK_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,rskafka=warn".into());
    let builder =
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(filter));
    let _ = match format {
        // One JSON object per line; on stdout in the foreground (containers collect it), in the
        // node's log file for a background node (its stdout is the readiness pipe).
        LogFormat::Json if child => builder.json().with_writer(std::io::stderr).try_init(),
        LogFormat::Json => builder.json().with_writer(std::io::stdout).try_init(),
        LogFormat::Text => builder
            .with_writer(std::io::stderr)
            .with_ansi(!child && std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

/// Runs the node in this process until stopped.
pub fn run_node(home: Home, name: &str, opts: &RunOptions) -> Result<()> {
    let child = std::env::var_os("AIRLOCK_NODE_CHILD").is_some();
    init_logging(child, opts.log_format);
    let result = run_node_inner(&home, name, child, opts);
    if let Err(e) = &result {
        // The parent reads the log's last error line to explain a failed start.
        let e = with_causes(e);
        tracing::error!("{e}");
        if child {
            eprintln!("error: {e}");
        }
    }
    result
}

/// `e` and its causes joined by ": " (as `anyhow` prints `{:#}`).
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Raises this process's soft limit on open files to its hard limit: every portal connection
/// is one descriptor on each side, and the common soft default (1 024) would refuse connections
/// long before memory or the hard limit would. Returns the limit in force.
fn raise_open_file_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Some(raised.rlim_cur);
        }
    }
    Some(lim.rlim_cur)
}

fn run_node_inner(home: &Home, name: &str, child: bool, opts: &RunOptions) -> Result<()> {
    if let Some(n) = raise_open_file_limit() {
        tracing::debug!("open-file limit {n}");
    }
    let row = home.require_node(name)?;
    let (secret, purpose) = home.load_identity(&row.identity)?;
    let listen: SocketAddr = row.tcp_listen.parse()?;
    let dir = home.ensure_node_dir(name)?;
    let socket = dir.join("control.sock");
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        return Err(RunError::AlreadyRunning {
            node: name.to_string(),
        });
    }
    let threads = std::env::var("AIRLOCK_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let identity_name = row.identity.clone();
    let store: airlock_node::node::PurposeKeyStore = Arc::new(move |p: &PurposeKeySecret| {
        if let Ok(s) = Home::open() {
            let _ = s.store_purpose_key(&identity_name, p);
        }
    });
    rt.block_on(async {
        let node = Node::start(NodeConfig {
            name: name.to_string(),
            identity: NodeIdentity { secret, purpose },
            tcp_listen: listen,
            authorized: Vec::new(),
            trust_unknown: opts.trust_anyone,
            known_identities: Some(known_identities(name)),
            rekey: Default::default(),
            purpose_key_store: Some(store),
        })
        .await?;
        home.node_started(name, &node.listen_addr().to_string(), std::process::id())?;
        // Policies first: the relay service and portals below must never run on defaults.
        restore_policies(home, &node, name)?;
        let first_credentials = start_project_services(home, &node, name, &row.identity).await?;
        // Be ready with a credential: relays and portals created right after `node create`
        // need it. If the project is unreachable, start anyway and keep trying.
        for rx in first_credentials {
            if tokio::time::timeout(Duration::from_secs(10), rx).await.is_err() {
                tracing::warn!("no project credential yet; continuing, the node keeps trying");
            }
        }
        restore_portals(home, &node, name).await;
        if let Some(settings) = opts.stream_hub.clone() {
            // A hub that cannot reach Kafka is of no use: fail the start, loudly.
            airlock_node::stream::hub::start(&node, settings)
                .await
                .map_err(RunError::StreamHub)?;
            tracing::info!("stream services stream_kafka and stream_kafka_index ready");
        }
        let relays = Arc::new(RelayKeepers::default());
        restore_relays(home, &node, name, &relays).await;
        let health = Arc::new(Health::default());
        if let Some(addr) = opts.metrics {
            metrics::serve(addr, node.clone(), relays.clone(), health.clone())
                .await
                .map_err(|e| RunError::Metrics(e.into()))?;
        }
        let server = tokio::spawn({
            let (node, socket) = (node.clone(), socket.clone());
            async move { control_server::serve(node, &socket, relays).await }
        });
        if let Some(release) = opts.release_memory {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    release();
                }
            });
        }
        let ready = Ready {
            identifier: node.identifier().to_string(),
            tcp_listen: node.listen_addr().to_string(),
        };
        if child {
            println!("{}", ready.line());
            detach_stdout();
        } else {
            eprintln!(
                "Node {name} is running in the foreground (identifier {}, listening on {}). Stop it with Ctrl-C.",
                node.identifier(),
                node.listen_addr()
            );
        }
        health.set_started();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let signalled = tokio::select! {
            _ = tokio::signal::ctrl_c() => { tracing::info!("interrupted; shutting down"); true }
            _ = term.recv() => { tracing::info!("SIGTERM; shutting down"); true }
            r = server => {
                if let Ok(Err(e)) = r { tracing::error!("control API failed: {e:#}"); }
                tracing::info!("stop requested; shutting down");
                false
            }
        };
        health.set_stopping();
        if signalled && !opts.drain.is_zero() {
            // Graceful: no new connections; open ones get the grace period; then channels
            // close with an encrypted close so peers know at once.
            let open = node.open_connections();
            if open > 0 {
                tracing::info!(open, grace = ?opts.drain, "draining portal connections");
            }
            let left = node.drain(opts.drain).await;
            if left > 0 {
                tracing::warn!(left, "grace period over; cutting the remaining connections");
            }
        }
        node.shutdown().await;
        let _ = home.node_stopped(name);
        let _ = std::fs::remove_file(&socket);
        Ok::<_, RunError>(())
    })?;
    rt.shutdown_timeout(Duration::from_millis(200));
    Ok(())
}

fn detach_stdout() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    if let Ok(devnull) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        // SAFETY: dup2 on valid descriptors; replaces stdout with /dev/null after the parent
        // has read the readiness line and closed its end of the pipe.
        unsafe {
            libc::dup2(devnull.as_raw_fd(), 1);
        }
    }
}

/// What node `name` knows, read from the home when the node asks (at most every
/// [`airlock_node::node::KNOWN_IDENTITIES_TTL`]), so identities created while it runs count too.
/// An unreadable home yields none (the node then admits only its own identity: fail closed).
fn known_identities(name: &str) -> airlock_node::node::KnownIdentities {
    let name = name.to_string();
    let home = std::sync::Mutex::new(None::<Home>);
    Arc::new(move || {
        let mut guard = home.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Home::open().ok();
        }
        let Some(s) = guard.as_ref() else {
            tracing::warn!("cannot read the state: admitting only this node's own identity");
            return Vec::new();
        };
        match s.known_identifiers(&name) {
            Ok(ids) => ids.iter().filter_map(|i| i.parse().ok()).collect(),
            Err(e) => {
                tracing::warn!("cannot read the known identities: {e:#}");
                Vec::new()
            }
        }
    })
}

#[cfg(test)]
#[test]
fn the_readiness_line_reads_back() {
    let ready = Ready {
        identifier: "I00".into(),
        tcp_listen: "127.0.0.1:4000".into(),
    };
    let line = ready.line();
    assert_eq!(
        line,
        r#"airlock-node-ready {"identifier":"I00","tcp_listen":"127.0.0.1:4000"}"#
    );
    assert_eq!(Ready::parse(&format!("{line}\n")), Some(ready));
    assert_eq!(Ready::parse("error: cannot bind"), None);
}

#[cfg(test)]
mod causes_tests {
    use super::*;

    #[test]
    fn run_errors_print_their_causes_like_anyhow() {
        let inner = airlock_node::StartError::Listen {
            addr: "127.0.0.1:1".parse().unwrap(),
            error: std::io::Error::other("permission denied"),
        };
        let e = RunError::Start(inner);
        assert_eq!(
            with_causes(&e),
            "cannot listen on 127.0.0.1:1: permission denied"
        );
        assert_eq!(with_causes(&e), format!("{:#}", anyhow::Error::from(e)));
        let e = RunError::AlreadyRunning { node: "n".into() };
        assert_eq!(with_causes(&e), format!("{:#}", anyhow::Error::from(e)));
    }
}
