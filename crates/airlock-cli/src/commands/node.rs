//! `airlock node …`, `status`, `reset`, and running a node process.

use super::{table, Ctx};
use crate::cli::{NodeCmd, NodeCreateArgs};
use crate::control::{self, Request};
use crate::state::{validate_name, State};
use airlock_identity::PurposeKeySecret;
use airlock_node::portal::{InletSpec, OutletSpec};
use airlock_node::{Node, NodeConfig, NodeIdentity};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const READY_LINE: &str = "airlock-node-ready";

pub fn run(ctx: Ctx, cmd: NodeCmd) -> Result<()> {
    match cmd {
        NodeCmd::Create(args) => match args.name.as_deref() {
            Some(a) if super::config::is_config_arg(a) => {
                let path = a.to_string();
                super::config::create_from_file(ctx, &path, args.foreground)
            }
            _ => create(ctx, args),
        },
        NodeCmd::Start { name } => {
            ctx.state.require_node(&name)?;
            if is_running(&ctx, &name) {
                bail!("node {name:?} is already running");
            }
            spawn_background(&ctx, &name)
        }
        NodeCmd::Run { name } => run_node(ctx, &name),
        NodeCmd::List => list(&ctx),
        NodeCmd::Show { name } => show(&ctx, name.as_deref()),
        NodeCmd::Logs { name, lines } => logs(&ctx, name.as_deref(), lines),
        NodeCmd::Stop { name } => {
            let name = ctx.node_name(name.as_deref())?;
            stop(&ctx, &name)?;
            eprintln!("Stopped node {name}");
            Ok(())
        }
        NodeCmd::Delete { name, all, yes: _ } => {
            let names: Vec<String> = if all {
                ctx.state.nodes()?.into_iter().map(|n| n.name).collect()
            } else {
                vec![ctx.node_name(name.as_deref())?]
            };
            for n in names {
                if is_running(&ctx, &n) {
                    stop(&ctx, &n)?;
                }
                ctx.state.delete_node(&n)?;
                eprintln!("Deleted node {n}");
            }
            Ok(())
        }
    }
}

fn parse_listen(s: &str) -> Result<SocketAddr> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().with_context(|| {
        format!("{s:?} is not a listener address (expected IP:PORT, e.g. 127.0.0.1:4000)")
    })
}

fn create(ctx: Ctx, args: NodeCreateArgs) -> Result<()> {
    let name = match args.name {
        Some(n) => n,
        None => {
            if ctx.state.nodes()?.is_empty() && ctx.state.node("default")?.is_none() {
                "default".to_string()
            } else {
                format!("node-{:04x}", rand_u16())
            }
        }
    };
    validate_name("node", &name)?;
    if ctx.state.node(&name)?.is_some() {
        bail!("a node named {name:?} already exists (start it with `airlock node start {name}` or delete it with `airlock node delete {name}`)");
    }
    let listen = parse_listen(&args.tcp_listener_address)?;
    let identity = match args.identity {
        Some(i) => {
            ctx.state.identity_row(&i)?.with_context(|| {
                format!("no identity named {i:?} (create it with `airlock identity create {i}`)")
            })?;
            i
        }
        None => ctx.state.default_identity()?,
    };
    ctx.state
        .insert_node(&name, &identity, &listen.to_string())?;
    if args.foreground {
        return run_node(ctx, &name);
    }
    if let Err(e) = spawn_background(&ctx, &name) {
        ctx.state.delete_node(&name)?;
        return Err(e);
    }
    Ok(())
}

fn rand_u16() -> u16 {
    (airlock_node::random_u64() & 0xffff) as u16
}

/// Runs a recorded node in this process (foreground).
pub fn run_node_pub(ctx: Ctx, name: &str) -> Result<()> {
    run_node(ctx, name)
}

/// Starts a recorded node in the background and prints its summary.
pub fn start_background(ctx: &Ctx, name: &str) -> Result<()> {
    spawn_background(ctx, name)
}

/// Starts a node in the background without printing its summary.
pub fn spawn_background_quiet(ctx: &Ctx, name: &str) -> Result<()> {
    spawn_child(ctx, name).map(|_| ())
}

fn spawn_background(ctx: &Ctx, name: &str) -> Result<()> {
    let (info, pid) = spawn_child(ctx, name)?;
    let v = json!({"name": name, "identifier": info["identifier"], "tcp_listen": info["tcp_listen"], "pid": pid});
    eprintln!(
        "Node {name} is running (identifier {}, listening on {}).",
        info["identifier"].as_str().unwrap_or("?"),
        info["tcp_listen"].as_str().unwrap_or("?")
    );
    ctx.print(&v, |v| v["name"].as_str().unwrap_or_default().to_string());
    Ok(())
}

fn spawn_child(ctx: &Ctx, name: &str) -> Result<(Value, u32)> {
    let dir = ctx.state.ensure_node_dir(name)?;
    let log_path = dir.join("node.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["node", "run", name])
        .env("AIRLOCK_NODE_CHILD", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .process_group(0)
        .spawn()
        .context("cannot start the node process")?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(line) if line.starts_with(READY_LINE) => {
            let info: Value =
                serde_json::from_str(line[READY_LINE.len()..].trim()).unwrap_or(Value::Null);
            Ok((info, child.id()))
        }
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let reason = tail
                .iter()
                .rev()
                .find_map(|l| l.split_once("error: ").map(|(_, r)| r.to_string()))
                .unwrap_or_else(|| tail.join("\n"));
            bail!("node {name} failed to start: {reason}")
        }
    }
}

fn init_logging(child: bool) {
    let filter = std::env::var("AIRLOCK_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(!child && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Runs the node in this process until stopped.
fn run_node(ctx: Ctx, name: &str) -> Result<()> {
    let child = std::env::var_os("AIRLOCK_NODE_CHILD").is_some();
    init_logging(child);
    let result = run_node_inner(&ctx, name, child);
    if let Err(e) = &result {
        // The parent reads the log's last error line to explain a failed start.
        tracing::error!("{e:#}");
        if child {
            eprintln!("error: {e:#}");
        }
    }
    result
}

fn run_node_inner(ctx: &Ctx, name: &str, child: bool) -> Result<()> {
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
            rekey: Default::default(),
            purpose_key_store: Some(store),
        })
        .await?;
        ctx.state.node_started(name, &node.listen_addr().to_string(), std::process::id())?;
        let first_credentials = start_project_services(ctx, &node, name, &row.identity)?;
        // Be ready with a credential: relays and portals created right after `node create`
        // need it. If the project is unreachable, start anyway and keep trying.
        for rx in first_credentials {
            if tokio::time::timeout(Duration::from_secs(10), rx).await.is_err() {
                tracing::warn!("no project credential yet; continuing, the node keeps trying");
            }
        }
        restore_policies(ctx, &node, name);
        restore_portals(ctx, &node, name).await;
        let extras = Arc::new(control::Extras::default());
        restore_relays(ctx, &node, name, &extras).await;
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
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; shutting down"),
            _ = term.recv() => tracing::info!("SIGTERM; shutting down"),
            r = server => {
                if let Ok(Err(e)) = r { tracing::error!("control API failed: {e:#}"); }
                tracing::info!("stop requested; shutting down");
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

/// Hosts the authority of projects whose node this is, and joins the projects the node's
/// identity is a member of (routes, trusted authorities, credential refresh).
fn start_project_services(
    ctx: &Ctx,
    node: &Node,
    name: &str,
    identity: &str,
) -> Result<Vec<tokio::sync::oneshot::Receiver<()>>> {
    use airlock_project::relay::{RelayAccess, RelayService};
    let mut trusted = Vec::new();
    let mut relay_access = RelayAccess::Policy;
    for hp in ctx
        .state
        .hosted_projects()?
        .into_iter()
        .filter(|p| p.node == name)
    {
        let (authority, _) = ctx.state.load_identity(&hp.authority_identity)?;
        trusted.push(authority.history().verify(airlock_node::unix_now())?);
        let store = Arc::new(super::project::open_store(ctx, &hp)?);
        node.set_revoked(airlock_project::authority::revoked_set(&store));
        airlock_project::authority::spawn_revocation_sync(node.clone(), store.clone());
        relay_access = RelayAccess::ProjectPermission;
        airlock_project::Authority::new(airlock_project::AuthorityConfig {
            project: hp.name.clone(),
            identity: authority,
            credential_ttl: hp.credential_ttl,
            store,
        })
        .register(node);
        tracing::info!(project = %hp.name, "hosting the project authority");
    }
    RelayService::new(relay_access).register(node);
    let memberships = ctx.state.memberships(Some(identity))?;
    let mut known = Vec::new();
    for m in &memberships {
        match super::project::known_project(m) {
            Ok(k) => known.push(k),
            Err(e) => tracing::error!(project = %m.project, "cannot use project membership: {e:#}"),
        }
    }
    super::project::apply_projects(node, &known);
    trusted.extend(known.iter().map(|k| k.authority.clone()));
    node.set_trusted_authorities(trusted);
    let mut first = Vec::new();
    for k in known {
        first.push(airlock_project::refresh::spawn_refresher(
            node.clone(),
            k.name.clone(),
        ));
        airlock_project::refresh::spawn_revocation_watch(node.clone(), k.name.clone());
    }
    Ok(first)
}

fn restore_policies(ctx: &Ctx, node: &Node, name: &str) {
    for (resource, rtype, expr) in ctx.state.policies(name).unwrap_or_default() {
        let r = airlock_abac::Policy::parse(&expr)
            .map_err(|e| e.to_string())
            .and_then(|p| {
                node.set_policy(
                    Some(resource.as_str()).filter(|s| !s.is_empty()),
                    Some(rtype.as_str()).filter(|s| !s.is_empty()),
                    p,
                )
            });
        if let Err(e) = r {
            tracing::error!("cannot restore policy {expr:?}: {e}");
        }
    }
}

async fn restore_relays(ctx: &Ctx, node: &Node, name: &str, extras: &control::Extras) {
    for (relay, at) in ctx.state.relays(name).unwrap_or_default() {
        if let Err(e) = extras.create_relay(node, &relay, &at).await {
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

fn is_running(ctx: &Ctx, name: &str) -> bool {
    ctx.request(name, Request::Status, Duration::from_secs(2))
        .is_ok()
}

fn stop(ctx: &Ctx, name: &str) -> Result<()> {
    let mut c = ctx.client(name)?;
    let pid = c
        .request(&Request::Status, Duration::from_secs(5))
        .ok()
        .and_then(|s| s["pid"].as_i64());
    c.request(&Request::Stop, Duration::from_secs(5))?;
    if !c.wait_closed(Duration::from_secs(20)) {
        if let Some(pid) = pid {
            eprintln!("Node {name} did not stop within 20 s; killing process {pid}");
            // SAFETY: plain kill(2) on a pid reported by the node itself.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
    ctx.state.node_stopped(name)?;
    Ok(())
}

fn node_json(ctx: &Ctx, row: &crate::state::NodeRow) -> Value {
    let status = ctx
        .request(&row.name, Request::Status, Duration::from_secs(2))
        .ok();
    let default = ctx.state.setting("default_node").ok().flatten().as_deref() == Some(&row.name);
    json!({
        "name": row.name,
        "status": if status.is_some() { "running" } else { "stopped" },
        "default": default,
        "identity": row.identity,
        "identifier": status.as_ref().map(|s| s["identifier"].clone()).unwrap_or(Value::Null),
        "tcp_listen": row.tcp_listen,
        "pid": status.as_ref().map(|s| s["pid"].clone()).unwrap_or(Value::Null),
        "details": status,
    })
}

fn list(ctx: &Ctx) -> Result<()> {
    let rows = ctx.state.nodes()?;
    let v: Vec<Value> = rows.iter().map(|r| node_json(ctx, r)).collect();
    let v = Value::Array(v);
    ctx.print(&v, |v| {
        let rows = v
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|n| {
                        vec![
                            format!(
                                "{}{}",
                                n["name"].as_str().unwrap_or(""),
                                if n["default"] == true {
                                    " (default)"
                                } else {
                                    ""
                                }
                            ),
                            n["status"].as_str().unwrap_or("").to_string(),
                            n["tcp_listen"].as_str().unwrap_or("").to_string(),
                            n["pid"].as_i64().map(|p| p.to_string()).unwrap_or_default(),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default();
        let t = table(&["NAME", "STATUS", "TCP LISTENER", "PID"], rows);
        if t.is_empty() {
            "No nodes. Create one with `airlock node create`.".into()
        } else {
            t
        }
    });
    Ok(())
}

fn show(ctx: &Ctx, name: Option<&str>) -> Result<()> {
    let name = ctx.node_name(name)?;
    let row = ctx.state.require_node(&name)?;
    let mut v = node_json(ctx, &row);
    if v["status"] == "running" {
        v["outlets"] = ctx.request(&name, Request::OutletList, Duration::from_secs(5))?;
        v["inlets"] = ctx.request(&name, Request::InletList, Duration::from_secs(5))?;
        v["secure_channels"] = ctx.request(&name, Request::ChannelList, Duration::from_secs(5))?;
    }
    ctx.print(&v, |v| {
        let mut s = format!(
            "Node {}\n  status:       {}\n  identity:     {}\n  identifier:   {}\n  tcp listener: {}\n  route:        /node/{}",
            v["name"].as_str().unwrap_or(""),
            v["status"].as_str().unwrap_or(""),
            v["identity"].as_str().unwrap_or(""),
            v["identifier"].as_str().unwrap_or("-"),
            v["tcp_listen"].as_str().unwrap_or(""),
            v["name"].as_str().unwrap_or(""),
        );
        if let Some(p) = v["pid"].as_i64() {
            s.push_str(&format!("\n  pid:          {p}"));
        }
        for o in v["outlets"].as_array().into_iter().flatten() {
            s.push_str(&format!("\n  outlet {} -> {}", o["address"].as_str().unwrap_or(""), o["to"].as_str().unwrap_or("")));
        }
        for i in v["inlets"].as_array().into_iter().flatten() {
            s.push_str(&format!(
                "\n  inlet  {} {} -> {} ({})",
                i["name"].as_str().unwrap_or(""),
                i["from"].as_str().unwrap_or(""),
                i["to"].as_str().unwrap_or(""),
                i["status"].as_str().unwrap_or("")
            ));
        }
        s
    });
    Ok(())
}

fn logs(ctx: &Ctx, name: Option<&str>, lines: usize) -> Result<()> {
    let name = ctx.node_name(name)?;
    let path = ctx.state.node_dir(&name).join("node.log");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "node {name} has no log at {} (foreground nodes log to their terminal)",
            path.display()
        )
    })?;
    let all: Vec<&str> = text.lines().collect();
    for l in &all[all.len().saturating_sub(lines)..] {
        println!("{l}");
    }
    Ok(())
}

pub fn status(ctx: &Ctx) -> Result<()> {
    let identities = ctx.state.identities()?;
    let nodes: Vec<Value> = ctx
        .state
        .nodes()?
        .iter()
        .map(|r| node_json(ctx, r))
        .collect();
    let v = json!({"home": ctx.state.home().display().to_string(), "identities": identities, "nodes": nodes});
    ctx.print(&v, |v| {
        let running = v["nodes"]
            .as_array()
            .map(|a| a.iter().filter(|n| n["status"] == "running").count())
            .unwrap_or(0);
        format!(
            "State:      {}\nIdentities: {}\nNodes:      {} ({} running)",
            v["home"].as_str().unwrap_or(""),
            v["identities"].as_array().map(|a| a.len()).unwrap_or(0),
            v["nodes"].as_array().map(|a| a.len()).unwrap_or(0),
            running
        )
    });
    Ok(())
}

pub fn reset(ctx: Ctx) -> Result<()> {
    for n in ctx.state.nodes()? {
        if is_running(&ctx, &n.name) {
            stop(&ctx, &n.name)?;
        }
    }
    let home = ctx.state.home().to_path_buf();
    drop(ctx);
    std::fs::remove_dir_all(&home).with_context(|| format!("cannot remove {}", home.display()))?;
    eprintln!("Removed all local state in {}", home.display());
    Ok(())
}
