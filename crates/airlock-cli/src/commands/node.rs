//! `airlock node …` (but `node create FILE`, see `config`), `status` and `reset`.

use crate::cli::{NodeCmd, NodeCreateArgs, RunArgs};
use crate::context::{table, Ctx};
use crate::control::protocol::{ChannelView, InletView, NodeStatus, OutletView};
use crate::operations::process::{self, is_running, stop};
use crate::state::validate_name;
use airlock_daemon::run_node;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

pub fn run(ctx: Ctx, cmd: NodeCmd) -> Result<()> {
    match cmd {
        NodeCmd::Create(args) => create(ctx, args),
        NodeCmd::Start { name, run } => {
            ctx.state.require_node(&name)?;
            if is_running(&ctx.state, &name) {
                bail!("node {name:?} is already running");
            }
            spawn_background(&ctx, &name, &run)
        }
        NodeCmd::Run { name, run } => run_node(ctx.state, &name, &run.options()?),
        NodeCmd::List => list(&ctx),
        NodeCmd::Show { name } => show(&ctx, name.as_deref()),
        NodeCmd::Logs { name, lines } => logs(&ctx, name.as_deref(), lines),
        NodeCmd::Stop { name } => {
            let name = ctx.node_name(name.as_deref())?;
            stop(&ctx.state, &name)?;
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
                if is_running(&ctx.state, &n) {
                    stop(&ctx.state, &n)?;
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
    let opts = args.run.options()?;
    ctx.state
        .insert_node(&name, &identity, &listen.to_string())?;
    if args.foreground {
        return run_node(ctx.state, &name, &opts);
    }
    if let Err(e) = spawn_background(&ctx, &name, &args.run) {
        ctx.state.delete_node(&name)?;
        return Err(e);
    }
    Ok(())
}

fn rand_u16() -> u16 {
    (airlock_node::random_u64() & 0xffff) as u16
}

/// Starts recorded node `name` in the background and prints its summary.
fn spawn_background(ctx: &Ctx, name: &str, run: &RunArgs) -> Result<()> {
    run.options()?;
    let started = process::spawn(&ctx.state, name, run)?;
    ctx.print_started(name, &started);
    Ok(())
}

/// Whether a recorded node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum RunState {
    Running,
    Stopped,
}

impl RunState {
    fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Stopped => "stopped",
        }
    }
}

/// A recorded node, as `node list`, `node show` and `status` report it.
#[derive(Debug, Serialize)]
struct NodeReport {
    name: String,
    status: RunState,
    default: bool,
    identity: String,
    identifier: Option<String>,
    tcp_listen: String,
    pid: Option<u32>,
    /// What the node itself says, when it runs.
    details: Option<NodeStatus>,
    /// `node show` of a running node: its portals and channels.
    #[serde(skip_serializing_if = "Option::is_none")]
    outlets: Option<Vec<OutletView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inlets: Option<Vec<InletView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secure_channels: Option<Vec<ChannelView>>,
}

fn node_report(ctx: &Ctx, row: &crate::state::NodeRow) -> NodeReport {
    let status = process::status(&ctx.state, &row.name, Duration::from_secs(2));
    let default = ctx.state.setting("default_node").ok().flatten().as_deref() == Some(&row.name);
    NodeReport {
        name: row.name.clone(),
        status: match status {
            Some(_) => RunState::Running,
            None => RunState::Stopped,
        },
        default,
        identity: row.identity.clone(),
        identifier: status.as_ref().map(|s| s.identifier.clone()),
        tcp_listen: row.tcp_listen.clone(),
        pid: status.as_ref().map(|s| s.pid),
        details: status,
        outlets: None,
        inlets: None,
        secure_channels: None,
    }
}

fn list(ctx: &Ctx) -> Result<()> {
    let nodes: Vec<NodeReport> = ctx
        .state
        .nodes()?
        .iter()
        .map(|r| node_report(ctx, r))
        .collect();
    ctx.show(&nodes, |nodes| {
        let rows = nodes
            .iter()
            .map(|n| {
                let default = if n.default { " (default)" } else { "" };
                vec![
                    format!("{}{default}", n.name),
                    n.status.as_str().to_string(),
                    n.tcp_listen.clone(),
                    n.pid.map(|p| p.to_string()).unwrap_or_default(),
                ]
            })
            .collect();
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
    let mut n = node_report(ctx, &row);
    if n.status == RunState::Running {
        let t = Duration::from_secs(5);
        let mut client = ctx.client(&name)?;
        n.outlets = Some(client.outlets(t)?);
        n.inlets = Some(client.inlets(t)?);
        n.secure_channels = Some(client.channels(t)?);
    }
    ctx.show(&n, |n| {
        let mut s = format!(
            "Node {}\n  status:       {}\n  identity:     {}\n  identifier:   {}\n  tcp listener: {}\n  route:        /node/{}",
            n.name,
            n.status.as_str(),
            n.identity,
            n.identifier.as_deref().unwrap_or("-"),
            n.tcp_listen,
            n.name,
        );
        if let Some(p) = n.pid {
            s.push_str(&format!("\n  pid:          {p}"));
        }
        for o in n.outlets.iter().flatten() {
            s.push_str(&format!("\n  outlet {} -> {}", o.address, o.to));
        }
        for i in n.inlets.iter().flatten() {
            s.push_str(&format!(
                "\n  inlet  {} {} -> {} ({})",
                i.name, i.from, i.to, i.status
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
    let nodes: Vec<NodeReport> = ctx
        .state
        .nodes()?
        .iter()
        .map(|r| node_report(ctx, r))
        .collect();
    let running = nodes
        .iter()
        .filter(|n| n.status == RunState::Running)
        .count();
    let plain = format!(
        "State:      {}\nIdentities: {}\nNodes:      {} ({running} running)",
        ctx.state.home().display(),
        identities.len(),
        nodes.len(),
    );
    let v = json!({"home": ctx.state.home().display().to_string(), "identities": identities, "nodes": nodes});
    ctx.print(&v, |_| plain);
    Ok(())
}

pub fn reset(ctx: Ctx) -> Result<()> {
    for n in ctx.state.nodes()? {
        if is_running(&ctx.state, &n.name) {
            stop(&ctx.state, &n.name)?;
        }
    }
    let home = ctx.state.home().to_path_buf();
    drop(ctx);
    std::fs::remove_dir_all(&home).with_context(|| format!("cannot remove {}", home.display()))?;
    eprintln!("Removed all local state in {}", home.display());
    Ok(())
}
