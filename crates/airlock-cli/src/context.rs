//! What every command works with: the machine's home, the output format, and how values are
//! printed (JSON, or plain text: see [`crate::output`]).

use crate::cli::Output;
use crate::control::ControlClient;
use crate::home::Home;
use crate::operations::process::Started;
use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};

/// What every command gets.
pub struct Ctx {
    /// The machine's home (`$AIRLOCK_HOME`).
    pub home: Home,
    /// Output format.
    pub output: Output,
}

impl Ctx {
    /// The named node, or the default node.
    pub fn node_name(&self, name: Option<&str>) -> Result<String> {
        match name {
            Some(n) => Ok(self.home.require_node(n)?.name),
            None => Ok(self.home.default_node()?),
        }
    }

    /// A control connection to a node.
    pub fn client(&self, node: &str) -> Result<ControlClient> {
        crate::operations::process::client(&self.home, node)
    }

    /// Replaces `/node/NAME` in a route with that node's TCP address.
    pub fn resolve_node_route(&self, route: &str) -> Result<String> {
        Ok(crate::routes::resolve_node_route(&self.home, route)?)
    }

    /// Prints what `node create`/`node start` print for a node started in the background: a
    /// summary on stderr, its name (or everything, as JSON) on stdout.
    pub fn print_started(&self, name: &str, started: &Started) {
        let ready = started.ready.as_ref();
        let identifier = ready.map(|r| r.identifier.as_str());
        let tcp_listen = ready.map(|r| r.tcp_listen.as_str());
        let v = json!({"name": name, "identifier": identifier, "tcp_listen": tcp_listen, "pid": started.pid});
        eprintln!(
            "Node {name} is running (identifier {}, listening on {}).",
            identifier.unwrap_or("?"),
            tcp_listen.unwrap_or("?")
        );
        self.print(&v, |v| v["name"].as_str().unwrap_or_default().to_string());
    }

    /// Prints a result: as JSON (objects with their keys sorted, as [`Ctx::print`] does), or
    /// its plain rendering.
    pub fn show<T: Serialize>(&self, value: &T, plain: impl FnOnce(&T) -> String) {
        match self.output {
            Output::Json => {
                let v = serde_json::to_value(value).unwrap_or_default();
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            Output::Plain => {
                let s = plain(value);
                if !s.is_empty() {
                    println!("{s}");
                }
            }
        }
    }

    /// Prints one resource: as JSON, or as aligned `key: value` lines ([`crate::output::fields`]).
    pub fn show_fields<T: Serialize>(&self, value: &T) {
        self.show(value, crate::output::fields);
    }

    /// Prints a list: as JSON (`[]` when empty), or its plain rendering (a table); an empty
    /// list prints nothing on stdout and `empty` as a note on stderr.
    pub fn show_list<T: Serialize>(
        &self,
        items: &[T],
        empty: &str,
        plain: impl FnOnce(&[T]) -> String,
    ) {
        if items.is_empty() && self.output == Output::Plain {
            eprintln!("{empty}");
            return;
        }
        self.show(&items, |items| plain(items));
    }

    /// The default identity, without creating one: an error with a hint when there is none.
    pub fn existing_default_identity(&self) -> Result<String> {
        if let Some(n) = self.home.setting("default_identity")? {
            if self.home.identity_row(&n)?.is_some() {
                return Ok(n);
            }
        }
        match self.home.identity_row("default")? {
            Some(_) => Ok("default".into()),
            None => anyhow::bail!(
                "there is no identity yet: create one with `airlock identity create NAME` (or enroll with `airlock project enroll TICKET`)"
            ),
        }
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

pub use crate::output::table;
