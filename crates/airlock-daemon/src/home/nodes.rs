//! The nodes of the home: which identity each runs as, where it listens, its process while it
//! runs, and which one is the default.

use super::{validate_name, Home, HomeError, Result};
use airlock_node::unix_now;
use rusqlite::params;
use serde::Serialize;

/// A node row.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRow {
    /// Name.
    pub name: String,
    /// Identity name.
    pub identity: String,
    /// TCP listener address.
    pub tcp_listen: String,
    /// Process id while running.
    pub pid: Option<i64>,
    /// Unix seconds.
    pub created_at: u64,
}

impl Home {
    /// Records a node.
    pub fn insert_node(&self, name: &str, identity: &str, tcp_listen: &str) -> Result<()> {
        validate_name("node", name)?;
        self.db.execute(
            "INSERT INTO nodes(name, identity, tcp_listen, pid, created_at) VALUES (?1, ?2, ?3, NULL, ?4)",
            params![name, identity, tcp_listen, unix_now() as i64],
        )?;
        if self.setting("default_node")?.is_none() {
            self.set_setting("default_node", name)?;
        }
        Ok(())
    }

    /// Updates the listener address and pid of a running node.
    pub fn node_started(&self, name: &str, tcp_listen: &str, pid: u32) -> Result<()> {
        self.db.execute(
            "UPDATE nodes SET tcp_listen = ?2, pid = ?3 WHERE name = ?1",
            params![name, tcp_listen, pid as i64],
        )?;
        Ok(())
    }

    /// Clears the pid of a stopped node.
    pub fn node_stopped(&self, name: &str) -> Result<()> {
        self.db
            .execute("UPDATE nodes SET pid = NULL WHERE name = ?1", [name])?;
        Ok(())
    }

    /// One node.
    pub fn node(&self, name: &str) -> Result<Option<NodeRow>> {
        Ok(self.nodes()?.into_iter().find(|n| n.name == name))
    }

    /// One node, or an error that says what exists.
    pub fn require_node(&self, name: &str) -> Result<NodeRow> {
        self.node(name)?.ok_or_else(|| HomeError::UnknownNode {
            name: name.to_string(),
            known: self
                .nodes()
                .unwrap_or_default()
                .into_iter()
                .map(|n| n.name)
                .collect(),
        })
    }

    /// All nodes.
    pub fn nodes(&self) -> Result<Vec<NodeRow>> {
        let mut st = self
            .db
            .prepare("SELECT name, identity, tcp_listen, pid, created_at FROM nodes ORDER BY created_at, name")?;
        let rows = st.query_map([], |r| {
            Ok(NodeRow {
                name: r.get(0)?,
                identity: r.get(1)?,
                tcp_listen: r.get(2)?,
                pid: r.get(3)?,
                created_at: r.get::<_, i64>(4)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Removes a node and its portals.
    pub fn delete_node(&self, name: &str) -> Result<()> {
        self.db
            .execute("DELETE FROM nodes WHERE name = ?1", [name])?;
        self.db
            .execute("DELETE FROM settings WHERE key = ?1", [run_args_key(name)])?;
        if self.setting("default_node")?.as_deref() == Some(name) {
            self.db
                .execute("DELETE FROM settings WHERE key = 'default_node'", [])?;
            if let Some(n) = self.nodes()?.first() {
                self.set_setting("default_node", &n.name)?;
            }
        }
        let _ = std::fs::remove_dir_all(self.node_dir(name));
        Ok(())
    }

    /// The process options (`node run` arguments) node `name` was last started with, so that
    /// `node start` runs it as it ran before (metrics address, stream hub, …).
    pub fn node_run_args(&self, name: &str) -> Result<Option<Vec<String>>> {
        Ok(self
            .setting(&run_args_key(name))?
            .and_then(|v| serde_json::from_str(&v).ok()))
    }

    /// Remembers the process options of node `name` (see [`Home::node_run_args`]).
    pub fn set_node_run_args(&self, name: &str, args: &[String]) -> Result<()> {
        let v = serde_json::to_string(args).expect("strings serialize");
        self.set_setting(&run_args_key(name), &v)
    }

    /// The default node's name.
    pub fn default_node(&self) -> Result<String> {
        if let Some(n) = self.setting("default_node")? {
            if self.node(&n)?.is_some() {
                return Ok(n);
            }
        }
        match self.nodes()?.first() {
            Some(n) => Ok(n.name.clone()),
            None => Err(HomeError::NoNode),
        }
    }
}

/// The settings key holding a node's process options.
fn run_args_key(node: &str) -> String {
    format!("node_run_args.{node}")
}
