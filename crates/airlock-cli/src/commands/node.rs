//! `airlock node …`, `status`, `reset`, and running a node process.

use super::{table, Ctx};
use crate::cli::{NodeCmd, NodeCreateArgs, RunArgs};
use crate::control::Request;
use crate::state::validate_name;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

pub use super::runner::run_node;
use super::runner::{LogFormat, READY_LINE};

pub fn run(ctx: Ctx, cmd: NodeCmd) -> Result<()> {
    match cmd {
        NodeCmd::Create(args) => match args.name.as_deref() {
            Some(a) if super::config::is_config_arg(a) => {
                let path = a.to_string();
                super::config::create_from_file(ctx, &path, args.foreground, &args.run)
            }
            _ => create(ctx, args),
        },
        NodeCmd::Start { name, run } => {
            ctx.state.require_node(&name)?;
            if is_running(&ctx, &name) {
                bail!("node {name:?} is already running");
            }
            spawn_background(&ctx, &name, &run)
        }
        NodeCmd::Run { name, run } => run_node(ctx, &name, &run.options()?),
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
    let opts = args.run.options()?;
    ctx.state
        .insert_node(&name, &identity, &listen.to_string())?;
    if args.foreground {
        return run_node(ctx, &name, &opts);
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

/// Starts a recorded node in the background and prints its summary.
pub fn start_background(ctx: &Ctx, name: &str, run: &RunArgs) -> Result<()> {
    spawn_background(ctx, name, run)
}

/// Starts a node in the background (default run options) without printing its summary.
pub fn spawn_background_quiet(ctx: &Ctx, name: &str) -> Result<()> {
    let run = RunArgs {
        log_format: LogFormat::Text,
        metrics: None,
        drain_timeout: "10s".into(),
    };
    spawn_child(ctx, name, &run).map(|_| ())
}

fn spawn_background(ctx: &Ctx, name: &str, run: &RunArgs) -> Result<()> {
    run.options()?;
    let (info, pid) = spawn_child(ctx, name, run)?;
    let v = json!({"name": name, "identifier": info["identifier"], "tcp_listen": info["tcp_listen"], "pid": pid});
    eprintln!(
        "Node {name} is running (identifier {}, listening on {}).",
        info["identifier"].as_str().unwrap_or("?"),
        info["tcp_listen"].as_str().unwrap_or("?")
    );
    ctx.print(&v, |v| v["name"].as_str().unwrap_or_default().to_string());
    Ok(())
}

fn spawn_child(ctx: &Ctx, name: &str, run: &RunArgs) -> Result<(Value, u32)> {
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
        .args(run.to_args())
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

pub fn is_running(ctx: &Ctx, name: &str) -> bool {
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
