//! What every command works with: the local state, the output format, and how values are
//! printed (JSON, or plain text and aligned tables).

use crate::cli::Output;
use crate::control::{ControlClient, Request};
use crate::operations::process::Started;
use crate::state::State;
use anyhow::Result;
use serde_json::{json, Value};
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
        crate::operations::process::client(&self.state, node)
    }

    /// One request to a node.
    pub fn request(&self, node: &str, req: Request, timeout: Duration) -> Result<Value> {
        self.client(node)?.request(&req, timeout)
    }

    /// Replaces `/node/NAME` in a route with that node's TCP address.
    pub fn resolve_node_route(&self, route: &str) -> Result<String> {
        crate::routes::resolve_node_route(&self.state, route)
    }

    /// Prints what `node create`/`node start` print for a node started in the background: a
    /// summary on stderr, its name (or everything, as JSON) on stdout.
    pub fn print_started(&self, name: &str, started: &Started) {
        let info = &started.info;
        let v = json!({"name": name, "identifier": info["identifier"], "tcp_listen": info["tcp_listen"], "pid": started.pid});
        eprintln!(
            "Node {name} is running (identifier {}, listening on {}).",
            info["identifier"].as_str().unwrap_or("?"),
            info["tcp_listen"].as_str().unwrap_or("?")
        );
        self.print(&v, |v| v["name"].as_str().unwrap_or_default().to_string());
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
