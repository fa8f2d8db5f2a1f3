//! `airlock node …` (but `node create FILE`, see `config`), `status` and `reset`.

use crate::cli::{NodeCmd, NodeCreateArgs, RunArgs};
use crate::context::{table, Ctx};
use crate::control::Request;
use crate::daemon::run_node;
use crate::operations::process::{self, is_running, stop};
use crate::state::validate_name;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
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

fn node_json(ctx: &Ctx, row: &crate::state::NodeRow) -> Value {
    let status = process::status(&ctx.state, &row.name, Duration::from_secs(2));
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
