//! Command implementations. Machine-readable values go to stdout, progress and hints to stderr.

mod channel;
mod config;
mod db_password;
mod identity;
pub(crate) mod metrics;
pub(crate) mod node;
mod portal;
pub(crate) mod project;
mod project_host;
mod relay_policy;
pub(crate) mod runner;

use crate::cli::{Cli, Command, Output};
use crate::control::{ControlClient, Request};
use crate::state::State;
use anyhow::Result;
use serde_json::Value;
use std::time::Duration;

/// What every command gets.
pub struct Ctx {
    /// Local state.
    pub state: State,
    /// Output format.
    pub output: Output,
}

impl Ctx {
    /// The named node, or the default node.
    pub fn node_name(&self, name: Option<&str>) -> Result<String> {
        match name {
            Some(n) => Ok(self.state.require_node(n)?.name),
            None => self.state.default_node(),
        }
    }

    /// A control connection to a node.
    pub fn client(&self, node: &str) -> Result<ControlClient> {
        self.state.require_node(node)?;
        ControlClient::connect(&self.state.node_dir(node).join("control.sock"), node)
    }

    /// One request to a node.
    pub fn request(&self, node: &str, req: Request, timeout: Duration) -> Result<Value> {
        self.client(node)?.request(&req, timeout)
    }

    /// Replaces `/node/NAME` in a route with that node's TCP address.
    pub fn resolve_node_route(&self, route: &str) -> Result<String> {
        let ma: airlock_wire::MultiAddr = route.parse()?;
        let mut out = String::new();
        for seg in &ma.segments {
            match seg {
                airlock_wire::Segment::Node(n) => {
                    let row = self.state.require_node(n)?;
                    let addr: std::net::SocketAddr = row.tcp_listen.parse()?;
                    let ip = if addr.ip().is_unspecified() {
                        "127.0.0.1".parse().expect("valid")
                    } else {
                        addr.ip()
                    };
                    match ip {
                        std::net::IpAddr::V4(v4) => {
                            out.push_str(&format!("/ip4/{v4}/tcp/{}", addr.port()))
                        }
                        std::net::IpAddr::V6(v6) => {
                            out.push_str(&format!("/ip6/{v6}/tcp/{}", addr.port()))
                        }
                    }
                }
                other => out.push_str(&other.to_string()),
            }
        }
        Ok(out)
    }

    /// Prints a value: JSON, or the plain rendering.
    pub fn print(&self, value: &Value, plain: impl FnOnce(&Value) -> String) {
        match self.output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            ),
            Output::Plain => {
                let s = plain(value);
                if !s.is_empty() {
                    println!("{s}");
                }
            }
        }
    }
}

/// Renders rows as an aligned table.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:w$}", c, w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(headers.iter().map(|s| s.to_string()).collect())];
    out.extend(rows.into_iter().map(line));
    out.join("\n")
}

/// A table of the objects in the JSON array `v`: one column per (header, key); strings as they
/// are, numbers and booleans printed, missing values empty.
pub fn json_table(v: &Value, columns: &[(&str, &str)]) -> String {
    let headers: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let rows = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            columns
                .iter()
                .map(|(_, k)| match &o[*k] {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    table(&headers, rows)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    if let Command::Completion { shell } = cli.command {
        // Needs no state: works on a fresh machine and in image builds.
        let mut cmd = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut cmd, "airlock", &mut std::io::stdout());
        return Ok(());
    }
    // Running a node builds its own runtime; everything else is synchronous.
    let ctx = Ctx {
        state: State::open()?,
        output: cli.output,
    };
    match cli.command {
        Command::Identity(c) => identity::run(&ctx, c),
        Command::Node(c) => node::run(ctx, c),
        Command::TcpOutlet(c) => portal::outlet(&ctx, c),
        Command::TcpInlet(c) => portal::inlet(&ctx, c),
        Command::SecureChannel(c) => channel::channel(&ctx, c),
        Command::Message(c) => channel::message(&ctx, c),
        Command::Project(c) => project::run(&ctx, c),
        Command::Policy(c) => relay_policy::policy(&ctx, c),
        Command::Relay(c) => relay_policy::relay(&ctx, c),
        Command::Status => node::status(&ctx),
        Command::Reset(_) => node::reset(ctx),
        Command::Completion { .. } => unreachable!("handled above"),
    }
}
