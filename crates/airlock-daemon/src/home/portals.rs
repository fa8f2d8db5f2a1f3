//! The portals each node of the home restores when it starts: its TCP outlets (name and
//! target) and TCP inlets (bind address, route and the identities it pins).

use super::{Home, Result};
use rusqlite::params;

impl Home {
    /// Records an outlet.
    pub fn insert_outlet(&self, node: &str, name: &str, target: &str) -> Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO tcp_outlets(node, name, target) VALUES (?1, ?2, ?3)",
            params![node, name, target],
        )?;
        Ok(())
    }

    /// Forgets an outlet.
    pub fn delete_outlet(&self, node: &str, name: &str) -> Result<()> {
        self.db.execute(
            "DELETE FROM tcp_outlets WHERE node = ?1 AND name = ?2",
            params![node, name],
        )?;
        Ok(())
    }

    /// Outlets of a node: (name, target).
    pub fn outlets(&self, node: &str) -> Result<Vec<(String, String)>> {
        let mut st = self
            .db
            .prepare("SELECT name, target FROM tcp_outlets WHERE node = ?1 ORDER BY name")?;
        let rows = st.query_map([node], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records an inlet.
    pub fn insert_inlet(
        &self,
        node: &str,
        name: &str,
        bind: &str,
        route: &str,
        authorized: &[String],
    ) -> Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO tcp_inlets(node, name, bind, route, authorized) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![node, name, bind, route, authorized.join(",")],
        )?;
        Ok(())
    }

    /// Forgets an inlet.
    pub fn delete_inlet(&self, node: &str, name: &str) -> Result<()> {
        self.db.execute(
            "DELETE FROM tcp_inlets WHERE node = ?1 AND name = ?2",
            params![node, name],
        )?;
        Ok(())
    }

    /// Inlets of a node.
    pub fn inlets(&self, node: &str) -> Result<Vec<InletRow>> {
        let mut st = self.db.prepare(
            "SELECT name, bind, route, authorized FROM tcp_inlets WHERE node = ?1 ORDER BY name",
        )?;
        let rows = st.query_map([node], |r| {
            let a: String = r.get(3)?;
            Ok(InletRow {
                name: r.get(0)?,
                bind: r.get(1)?,
                route: r.get(2)?,
                authorized: a
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// A persisted inlet.
#[derive(Debug, Clone)]
pub struct InletRow {
    /// Alias.
    pub name: String,
    /// Bound address.
    pub bind: String,
    /// Route as the user gave it (may contain /node/NAME).
    pub route: String,
    /// Authorized identifiers.
    pub authorized: Vec<String>,
}
