//! Running a node process: logging, project services, restoring recorded resources, the
//! metrics/health endpoint, and a graceful stop on SIGTERM.

use crate::context::Ctx;
use crate::control;
use crate::operations::enrollment;
use crate::state::State;
use airlock_identity::PurposeKeySecret;
use airlock_node::portal::{InletSpec, OutletSpec};
use airlock_node::{Node, NodeConfig, NodeIdentity};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Written on stdout by a background node once it is ready (the parent waits for it).
pub const READY_LINE: &str = "airlock-node-ready";

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
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
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            log_format: LogFormat::Text,
            metrics: None,
            drain: Duration::from_secs(10),
        }
    }
}

fn init_logging(child: bool, format: LogFormat) {
    let filter = std::env::var("AIRLOCK_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
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
pub fn run_node(ctx: Ctx, name: &str, opts: &RunOptions) -> Result<()> {
    let child = std::env::var_os("AIRLOCK_NODE_CHILD").is_some();
    init_logging(child, opts.log_format);
    let result = run_node_inner(&ctx, name, child, opts);
    if let Err(e) = &result {
        // The parent reads the log's last error line to explain a failed start.
        tracing::error!("{e:#}");
        if child {
            eprintln!("error: {e:#}");
        }
    }
    result
}

fn run_node_inner(ctx: &Ctx, name: &str, child: bool, opts: &RunOptions) -> Result<()> {
    let row = ctx.state.require_node(name)?;
    let (secret, purpose) = ctx.state.load_identity(&row.identity)?;
    let listen: SocketAddr = row.tcp_listen.parse()?;
    let dir = ctx.state.ensure_node_dir(name)?;
    let socket = dir.join("control.sock");
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        bail!("node {name:?} is already running");
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
        if let Ok(s) = State::open() {
            let _ = s.store_purpose_key(&identity_name, p);
        }
    });
    rt.block_on(async {
        let node = Node::start(NodeConfig {
            name: name.to_string(),
            identity: NodeIdentity { secret, purpose },
            tcp_listen: listen,
            authorized: Vec::new(),
            trust_unknown: false,
            known_identities: Some(known_identities(name)),
            rekey: Default::default(),
            purpose_key_store: Some(store),
        })
        .await?;
        ctx.state.node_started(name, &node.listen_addr().to_string(), std::process::id())?;
        // Policies first: the relay service and portals below must never run on defaults.
        restore_policies(ctx, &node, name)?;
        let first_credentials = start_project_services(ctx, &node, name, &row.identity)?;
        // Be ready with a credential: relays and portals created right after `node create`
        // need it. If the project is unreachable, start anyway and keep trying.
        for rx in first_credentials {
            if tokio::time::timeout(Duration::from_secs(10), rx).await.is_err() {
                tracing::warn!("no project credential yet; continuing, the node keeps trying");
            }
        }
        restore_portals(ctx, &node, name).await;
        let extras = Arc::new(control::Extras::default());
        restore_relays(ctx, &node, name, &extras).await;
        let health = Arc::new(super::metrics::Health::default());
        if let Some(addr) = opts.metrics {
            super::metrics::serve(addr, node.clone(), extras.clone(), health.clone()).await?;
        }
        let server = tokio::spawn({
            let (node, socket) = (node.clone(), socket.clone());
            async move { control::serve(node, &socket, extras).await }
        });
        // Give memory freed after bursts of traffic back to the system (mimalloc keeps freed
        // pages cached otherwise: a node that moved gigabytes would idle at ~60 MiB).
        tokio::spawn(async {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                crate::memory::collect();
            }
        });
        let info = json!({"identifier": node.identifier().to_string(), "tcp_listen": node.listen_addr().to_string()});
        if child {
            println!("{READY_LINE} {info}");
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
        let _ = ctx.state.node_stopped(name);
        let _ = std::fs::remove_file(&socket);
        Ok::<_, anyhow::Error>(())
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

/// What node `name` knows, read from the state when the node asks (at most every
/// [`airlock_node::node::KNOWN_IDENTITIES_TTL`]), so identities created while it runs count too.
/// An unreadable state yields none (the node then admits only its own identity: fail closed).
fn known_identities(name: &str) -> airlock_node::node::KnownIdentities {
    let name = name.to_string();
    let state = std::sync::Mutex::new(None::<State>);
    Arc::new(move || {
        let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = State::open().ok();
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

/// Hosts the authority of projects whose node this is, and joins the projects the node's
/// identity is a member of (routes, trusted authorities, credential refresh).
fn start_project_services(
    ctx: &Ctx,
    node: &Node,
    name: &str,
    identity: &str,
) -> Result<Vec<tokio::sync::oneshot::Receiver<()>>> {
    use airlock_project::relay::{RelayAccess, RelayBindings, RelayService};
    let mut trusted = Vec::new();
    let mut relay_access = RelayAccess::Policy;
    let mut hosted = Vec::new();
    // A project node binds relay names in its authority store (persistent); any other node in
    // memory (until it restarts).
    let mut relay_bindings: Option<Arc<dyn RelayBindings>> = None;
    for hp in ctx
        .state
        .hosted_projects()?
        .into_iter()
        .filter(|p| p.node == name)
    {
        let (authority, _) = ctx.state.load_identity(&hp.authority_identity)?;
        let verified = authority.history().verify(airlock_node::unix_now())?;
        // The hosted project owns this node's resources (docs/protocol.md §9.7).
        node.set_authority_project(verified.identifier, &hp.name);
        hosted.push(verified.identifier);
        trusted.push(verified);
        let store = Arc::new(ctx.state.open_authority_store(&hp)?);
        if let Some(set) = airlock_project::authority::revoked_set(&store) {
            node.set_revoked(&hp.name, set);
        }
        airlock_project::authority::spawn_revocation_sync(
            node.clone(),
            hp.name.clone(),
            store.clone(),
        );
        relay_access = RelayAccess::ProjectPermission;
        relay_bindings = Some(store.clone());
        airlock_project::Authority::new(airlock_project::AuthorityConfig {
            project: hp.name.clone(),
            identity: authority,
            credential_ttl: hp.credential_ttl,
            store,
        })
        .register(node);
        tracing::info!(project = %hp.name, "hosting the project authority");
    }
    if let [only] = hosted[..] {
        node.set_home_authority(Some(only));
    }
    match relay_bindings {
        Some(b) => RelayService::with_bindings(relay_access, b),
        None => RelayService::new(relay_access),
    }
    .register(node);
    let memberships = ctx.state.memberships(Some(identity))?;
    let mut known = Vec::new();
    for m in &memberships {
        match enrollment::known_project(m) {
            Ok(k) => known.push(k),
            Err(e) => tracing::error!(project = %m.project, "cannot use project membership: {e:#}"),
        }
    }
    enrollment::apply_projects(node, &known);
    trusted.extend(known.iter().map(|k| k.authority.clone()));
    node.set_trusted_authorities(trusted);
    let mut first = Vec::new();
    for k in known {
        // One channel to the project serves both background tasks.
        let session = airlock_project::refresh::AuthoritySession::new(node.clone(), k.name.clone());
        first.push(airlock_project::refresh::spawn_refresher(session.clone()));
        airlock_project::refresh::spawn_revocation_watch(session);
    }
    Ok(first)
}

/// Where a recorded policy that cannot be installed puts its deny-all stand-in: the same scope
/// when its type is known, the name alone when only the type is unknown; `None` for an unknown
/// type alone (it governs no resource this version has).
fn deny_all_scope<'a>(
    resource: Option<&'a str>,
    rtype: Option<&'a str>,
) -> Option<(Option<&'a str>, Option<&'a str>)> {
    let known = |t: &str| airlock_node::policy::RESOURCE_TYPES.contains(&t);
    match (resource, rtype) {
        (_, Some(t)) if known(t) => Some((resource, rtype)),
        (Some(_), _) => Some((resource, None)),
        (None, _) => None,
    }
}

#[cfg(test)]
#[test]
fn unrestorable_policies_fail_closed() {
    assert_eq!(
        deny_all_scope(Some("db"), Some("tcp-outlet")),
        Some((Some("db"), Some("tcp-outlet")))
    );
    assert_eq!(
        deny_all_scope(Some("db"), Some("outlet")),
        Some((Some("db"), None))
    );
    assert_eq!(deny_all_scope(Some("db"), None), Some((Some("db"), None)));
    assert_eq!(
        deny_all_scope(None, Some("tcp-outlet")),
        Some((None, Some("tcp-outlet")))
    );
    assert_eq!(deny_all_scope(None, Some("outlet")), None);
}

/// Installs the node's recorded policies. Fails closed: a recorded policy that cannot be
/// installed as it is (an expression or a type this version does not accept) becomes a policy
/// that denies everyone, on the resource name it was for, so nothing it guarded opens up.
fn restore_policies(ctx: &Ctx, node: &Node, name: &str) -> Result<()> {
    let rows = ctx
        .state
        .policies(name)
        .context("cannot read the node's policies")?;
    for (resource, rtype, expr) in rows {
        let resource = Some(resource.as_str()).filter(|s| !s.is_empty());
        let rtype = Some(rtype.as_str()).filter(|s| !s.is_empty());
        let r = airlock_abac::Policy::parse(&expr)
            .map_err(|e| e.to_string())
            .and_then(|p| node.set_policy(resource, rtype, p));
        let Err(e) = r else { continue };
        let deny: airlock_abac::Policy = "false".parse().expect("valid policy");
        let fallback = match deny_all_scope(resource, rtype) {
            Some((r, t)) => node.set_policy(r, t, deny),
            None => Err("nothing to guard".into()),
        };
        match fallback {
            Ok(()) => tracing::error!(
                resource,
                resource_type = rtype,
                "cannot restore policy {expr:?} ({e}); denying everyone there until it is replaced"
            ),
            Err(_) => tracing::error!(resource_type = rtype, "cannot restore policy {expr:?}: {e}"),
        }
    }
    Ok(())
}

async fn restore_relays(ctx: &Ctx, node: &Node, name: &str, extras: &control::Extras) {
    for (relay, at, authorized) in ctx.state.relays(name).unwrap_or_default() {
        if let Err(e) = extras.create_relay(node, &relay, &at, &authorized).await {
            tracing::error!(%relay, "cannot restore relay: {e:#}");
        }
    }
}

async fn restore_portals(ctx: &Ctx, node: &Node, name: &str) {
    for (oname, target) in ctx.state.outlets(name).unwrap_or_default() {
        if let Err(e) = node.create_outlet(OutletSpec {
            name: oname.clone(),
            to: target,
        }) {
            tracing::error!(outlet = %oname, "cannot restore outlet: {e:#}");
        }
    }
    for row in ctx.state.inlets(name).unwrap_or_default() {
        let (iname, bind, route, authorized) = (row.name, row.bind, row.route, row.authorized);
        let to = match ctx.resolve_node_route(&route) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(inlet = %iname, "cannot restore inlet: {e:#}");
                continue;
            }
        };
        let Ok(from) = bind.parse() else { continue };
        if let Err(e) = node
            .create_inlet(InletSpec {
                name: iname.clone(),
                from,
                to,
                authorized,
            })
            .await
        {
            tracing::error!(inlet = %iname, "cannot restore inlet: {e:#}");
        }
    }
}
