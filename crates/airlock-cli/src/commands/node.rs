//! `airlock node …` (but `node create FILE`, see `config`), `status` and `reset`.

use crate::cli::{NodeCmd, NodeCreateArgs, RunArgs};
use crate::context::{table, Ctx};
use crate::control::protocol::{ChannelView, NodeStatus, OutletView, RelayStatus};
use crate::home::validate_name;
use crate::operations::confirm::confirm;
use crate::operations::process::{self, is_running, stop};
use crate::output::{identity_json, InletReport};
use airlock_daemon::run_node;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::json;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::time::Duration;

pub fn run(ctx: Ctx, cmd: NodeCmd) -> Result<()> {
    match cmd {
        NodeCmd::Create(args) => create(ctx, args),
        NodeCmd::Start { name, run } => {
            ctx.home.require_node(&name)?;
            if is_running(&ctx.home, &name) {
                bail!("node {name:?} is already running");
            }
            let run = match ctx.home.node_run_args(&name)? {
                Some(before) => match RunArgs::from_args(&before) {
                    Some(before) => run.over(&before),
                    None => run,
                },
                None => run,
            };
            ctx.home.set_node_run_args(&name, &run.to_args())?;
            spawn_background(&ctx, &name, &run)
        }
        NodeCmd::Run { name, run } => Ok(run_node(ctx.home, &name, &run.options()?)?),
        NodeCmd::List => list(&ctx),
        NodeCmd::Show { name } => show(&ctx, name.as_deref()),
        NodeCmd::Logs {
            name,
            lines,
            follow,
        } => logs(&ctx, name.as_deref(), lines, follow),
        NodeCmd::Stop { name } => {
            let name = ctx.node_name(name.as_deref())?;
            stop(&ctx.home, &name)?;
            eprintln!("Stopped node {name}");
            Ok(())
        }
        NodeCmd::Delete { name, all, yes } => delete(&ctx, name.as_deref(), all, yes),
    }
}

/// `node delete [NAME] [--all] [--yes]`. Asks first (or needs `--yes`) when the node was not
/// named (the default node, or `--all`), and when a named node is in use: it carries open
/// portal connections, its outlets are linked to inlets, others reach it through a relay, it
/// hosts a project, or another local node's inlet points at it.
fn delete(ctx: &Ctx, name: Option<&str>, all: bool, yes: bool) -> Result<()> {
    let names: Vec<String> = if all {
        ctx.home.nodes()?.into_iter().map(|n| n.name).collect()
    } else {
        vec![ctx.node_name(name)?]
    };
    if names.is_empty() {
        eprintln!("No nodes to delete.");
        return Ok(());
    }
    let mut details = Vec::new();
    for n in &names {
        details.extend(what_needs(ctx, n, &names)?);
    }
    let question = if all {
        Some(format!(
            "delete all {} node(s) ({}) and their portals",
            names.len(),
            names.join(", ")
        ))
    } else if name.is_none() {
        Some(format!(
            "delete the default node {} and its portals",
            names[0]
        ))
    } else if !details.is_empty() {
        Some(format!("delete node {} and its portals", names[0]))
    } else {
        None
    };
    if let Some(q) = question {
        confirm(&q, &details, yes)?;
    }
    for n in names {
        if is_running(&ctx.home, &n) {
            stop(&ctx.home, &n)?;
        }
        ctx.home.delete_node(&n)?;
        eprintln!("Deleted node {n}");
    }
    Ok(())
}

/// What deleting node `node` (with all of `deleting`) would break: its open portal
/// connections, linked outlets and registered relays, the project it hosts, and the inlets of
/// the other nodes that point at it.
fn what_needs(ctx: &Ctx, node: &str, deleting: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if is_running(&ctx.home, node) {
        let t = Duration::from_secs(5);
        let mut c = ctx.client(node)?;
        let outlets = c.outlets(t)?;
        let open: usize = c.inlets(t)?.iter().map(|i| i.connections).sum::<usize>()
            + outlets.iter().map(|o| o.connections).sum::<usize>();
        if open > 0 {
            out.push(format!(
                "node {node} carries {open} open portal connection(s), which will be cut"
            ));
        }
        for o in outlets.iter().filter(|o| o.links > 0) {
            out.push(format!(
                "outlet {} of node {node} is linked to {} inlet(s)",
                o.name, o.links
            ));
        }
        for r in c.relays(t)? {
            if r.status == RelayStatus::Up {
                out.push(format!(
                    "others reach node {node} through relay {} at {}",
                    r.name, r.at
                ));
            }
        }
    }
    for p in ctx.home.hosted_projects()? {
        if p.node == node {
            out.push(format!(
                "node {node} hosts project {}: its members lose it until it runs again",
                p.name
            ));
        }
    }
    let row = ctx.home.require_node(node)?;
    let by_name = format!("/node/{node}");
    let by_address = crate::routes::address_to_route(&row.tcp_listen).ok();
    for other in ctx.home.nodes()? {
        if deleting.contains(&other.name) {
            continue;
        }
        for i in ctx.home.inlets(&other.name)? {
            let points = i.route == by_name
                || i.route.starts_with(&format!("{by_name}/"))
                || by_address.as_ref().is_some_and(|a| {
                    !row.tcp_listen.ends_with(":0")
                        && (i.route == *a || i.route.starts_with(&format!("{a}/")))
                });
            if points {
                out.push(format!(
                    "inlet {} of node {} points at node {node} ({})",
                    i.name, other.name, i.route
                ));
            }
        }
    }
    Ok(out)
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
            if ctx.home.nodes()?.is_empty() && ctx.home.node("default")?.is_none() {
                "default".to_string()
            } else {
                format!("node-{:04x}", rand_u16())
            }
        }
    };
    if looks_like_a_path(&name) {
        // Not a file (the dispatcher takes existing files to `config`).
        if std::path::Path::new(&name).exists() {
            bail!("{name} is not a file: give a node configuration file (./airlock.yaml) or a node name");
        }
        bail!("no such file: {name} (a node configuration file; a node name has no '/' and does not end in .yaml)");
    }
    validate_name("node", &name)?;
    if ctx.home.node(&name)?.is_some() {
        bail!("a node named {name:?} already exists (start it with `airlock node start {name}` or delete it with `airlock node delete {name}`)");
    }
    let listen = parse_listen(&args.tcp_listener_address)?;
    let identity = match args.identity {
        Some(i) => {
            ctx.home.identity_row(&i)?.with_context(|| {
                format!("no identity named {i:?} (create it with `airlock identity create {i}`)")
            })?;
            i
        }
        None => ctx.home.default_identity()?,
    };
    let opts = args.run.options()?;
    ctx.home
        .insert_node(&name, &identity, &listen.to_string())?;
    ctx.home.set_node_run_args(&name, &args.run.to_args())?;
    if args.foreground {
        return Ok(run_node(ctx.home, &name, &opts)?);
    }
    if let Err(e) = spawn_background(&ctx, &name, &args.run) {
        ctx.home.delete_node(&name)?;
        return Err(e);
    }
    Ok(())
}

/// Whether `node create ARG` means a file: it contains `/` or ends in `.yaml`/`.yml`.
fn looks_like_a_path(arg: &str) -> bool {
    arg.contains('/') || arg.ends_with(".yaml") || arg.ends_with(".yml")
}

fn rand_u16() -> u16 {
    (airlock_node::random_u64() & 0xffff) as u16
}

/// Starts recorded node `name` in the background and prints its summary.
fn spawn_background(ctx: &Ctx, name: &str, run: &RunArgs) -> Result<()> {
    run.options()?;
    let started = process::spawn(&ctx.home, name, run)?;
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
    inlets: Option<Vec<InletReport>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secure_channels: Option<Vec<ChannelView>>,
}

fn node_report(ctx: &Ctx, row: &crate::home::NodeRow) -> NodeReport {
    let status = process::status(&ctx.home, &row.name, Duration::from_secs(2));
    let default = ctx.home.setting("default_node").ok().flatten().as_deref() == Some(&row.name);
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
        .home
        .nodes()?
        .iter()
        .map(|r| node_report(ctx, r))
        .collect();
    let empty = "No nodes. Create one with `airlock node create`.";
    ctx.show_list(&nodes, empty, |nodes| {
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
        table(&["NAME", "STATUS", "TCP LISTENER", "PID"], rows)
    });
    Ok(())
}

fn show(ctx: &Ctx, name: Option<&str>) -> Result<()> {
    let name = ctx.node_name(name)?;
    let row = ctx.home.require_node(&name)?;
    let mut n = node_report(ctx, &row);
    if n.status == RunState::Running {
        let t = Duration::from_secs(5);
        let mut client = ctx.client(&name)?;
        n.outlets = Some(client.outlets(t)?);
        n.inlets = Some(InletReport::from_views(&ctx.home, &name, client.inlets(t)?));
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
        for InletReport { inlet: i, .. } in n.inlets.iter().flatten() {
            s.push_str(&format!(
                "\n  inlet  {} {} -> {} ({})",
                i.name, i.from, i.to, i.status
            ));
        }
        s
    });
    Ok(())
}

fn logs(ctx: &Ctx, name: Option<&str>, lines: usize, follow: bool) -> Result<()> {
    let name = ctx.node_name(name)?;
    let path = ctx.home.node_dir(&name).join("node.log");
    let no_log = || {
        format!(
            "node {name} has no log at {} (foreground nodes log to their terminal)",
            path.display()
        )
    };
    let bytes = std::fs::read(&path).with_context(no_log)?;
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    for l in &all[all.len().saturating_sub(lines)..] {
        println!("{l}");
    }
    if !follow {
        return Ok(());
    }
    // Like `tail -f`: print what is appended, until Ctrl-C ends the process.
    let mut pos = bytes.len() as u64;
    let mut partial: Vec<u8> = Vec::new();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(_) => bail!("the log of node {name} is gone (was the node deleted?)"),
        };
        let len = f.metadata()?.len();
        if len < pos {
            eprintln!("(the log of node {name} was truncated; following from its start)");
            pos = 0;
            partial.clear();
        }
        if len == pos {
            continue;
        }
        f.seek(SeekFrom::Start(pos))?;
        let read = f.read_to_end(&mut partial)?;
        pos += read as u64;
        while let Some(i) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=i).collect();
            let mut out = std::io::stdout().lock();
            out.write_all(&line)?;
            out.flush()?;
        }
    }
}

pub fn status(ctx: &Ctx) -> Result<()> {
    let identities = ctx.home.identities()?;
    let nodes: Vec<NodeReport> = ctx
        .home
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
        ctx.home.path().display(),
        identities.len(),
        nodes.len(),
    );
    let identities: Vec<_> = identities.iter().map(identity_json).collect();
    let v = json!({"home": ctx.home.path().display().to_string(), "identities": identities, "nodes": nodes});
    ctx.print(&v, |_| plain);
    Ok(())
}

/// `reset [--yes]`: stops every node and removes the whole home folder, after asking.
pub fn reset(ctx: Ctx, yes: bool) -> Result<()> {
    let home = ctx.home.path().to_path_buf();
    let (identities, nodes) = (ctx.home.identities()?, ctx.home.nodes()?);
    let mut details = Vec::new();
    if !identities.is_empty() {
        let names: Vec<&str> = identities.iter().map(|i| i.name.as_str()).collect();
        details.push(format!(
            "{} ({}), which cannot be recovered",
            if names.len() == 1 {
                "1 identity and its keys".to_string()
            } else {
                format!("{} identities and their keys", names.len())
            },
            names.join(", ")
        ));
    }
    if !nodes.is_empty() {
        let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        details.push(format!(
            "{} node(s) ({}), stopped and deleted with their portals",
            names.len(),
            names.join(", ")
        ));
    }
    confirm(
        &format!("delete all local state in {}", home.display()),
        &details,
        yes,
    )?;
    for n in &nodes {
        if is_running(&ctx.home, &n.name) {
            stop(&ctx.home, &n.name)?;
        }
    }
    drop(ctx);
    std::fs::remove_dir_all(&home).with_context(|| format!("cannot remove {}", home.display()))?;
    eprintln!("Removed all local state in {}", home.display());
    Ok(())
}
