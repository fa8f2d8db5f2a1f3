//! Project-related parts of the home: projects hosted here, memberships of local identities, and the
//! policies and relays each node restores when it starts.

use super::Home;
use super::{HomeError, Result};
use airlock_node::unix_now;
use rusqlite::params;
use serde::Serialize;

/// A project this machine hosts. Neither `Debug` nor `Serialize` shows the database password.
#[derive(Clone, Serialize)]
pub struct HostedProject {
    /// Project name.
    pub name: String,
    /// The project node.
    pub node: String,
    /// Name of the authority identity.
    pub authority_identity: String,
    /// Route members use.
    pub route: String,
    /// Credential lifetime, seconds.
    pub credential_ttl: u64,
    /// PostgreSQL URL holding the authority state (shared with other project nodes), or None
    /// for the SQLite file in the home folder. Shown without its password.
    #[serde(serialize_with = "redacted")]
    pub database: Option<String>,
}

/// A local identity's membership in a project.
#[derive(Debug, Clone)]
pub struct Membership {
    /// Local identity name.
    pub identity: String,
    /// Project name.
    pub project: String,
    /// Route to the project node.
    pub route: String,
    /// Project node change history.
    pub project_identity: Vec<u8>,
    /// Authority change history.
    pub authority_identity: Vec<u8>,
}

impl std::fmt::Debug for HostedProject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostedProject")
            .field("name", &self.name)
            .field("node", &self.node)
            .field("authority_identity", &self.authority_identity)
            .field("route", &self.route)
            .field("credential_ttl", &self.credential_ttl)
            .field(
                "database",
                &self
                    .database
                    .as_deref()
                    .map(airlock_project::store::redact_url),
            )
            .finish()
    }
}

fn redacted<S: serde::Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(u) => s.serialize_some(&airlock_project::store::redact_url(u)),
        None => s.serialize_none(),
    }
}

impl Home {
    /// Records a hosted project.
    pub fn insert_hosted_project(&self, p: &HostedProject) -> Result<()> {
        self.db.execute(
            "INSERT INTO hosted_projects(name, node, authority_identity, route, credential_ttl, created_at, database) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![p.name, p.node, p.authority_identity, p.route, p.credential_ttl as i64, unix_now() as i64, p.database],
        )?;
        Ok(())
    }

    /// Opens the authority state of project `hp` hosted here: its PostgreSQL database, or the
    /// SQLite file `projects/NAME/authority.sqlite` in the home folder (created `0700`).
    pub fn open_authority_store(
        &self,
        hp: &HostedProject,
    ) -> Result<airlock_project::AuthorityStore> {
        use std::os::unix::fs::DirBuilderExt;
        match &hp.database {
            Some(url) => Ok(airlock_project::AuthorityStore::postgres(url)?),
            None => {
                let dir = self.path().join("projects").join(&hp.name);
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)?;
                Ok(airlock_project::AuthorityStore::open(
                    &dir.join("authority.sqlite"),
                )?)
            }
        }
    }

    /// Hosted projects.
    pub fn hosted_projects(&self) -> Result<Vec<HostedProject>> {
        let mut st = self.db.prepare("SELECT name, node, authority_identity, route, credential_ttl, database FROM hosted_projects ORDER BY name")?;
        let rows = st.query_map([], |r| {
            Ok(HostedProject {
                name: r.get(0)?,
                node: r.get(1)?,
                authority_identity: r.get(2)?,
                route: r.get(3)?,
                credential_ttl: r.get::<_, i64>(4)? as u64,
                database: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Forgets a hosted project.
    pub fn delete_hosted_project(&self, name: &str) -> Result<()> {
        self.db
            .execute("DELETE FROM hosted_projects WHERE name = ?1", [name])?;
        Ok(())
    }

    /// Records (or replaces) a membership.
    pub fn put_membership(&self, m: &Membership) -> Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO memberships(identity, project, route, project_identity, authority_identity, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![m.identity, m.project, m.route, m.project_identity, m.authority_identity, unix_now() as i64],
        )?;
        if self.setting("default_project")?.is_none() {
            self.set_setting("default_project", &m.project)?;
        }
        Ok(())
    }

    /// Memberships, optionally of one identity.
    pub fn memberships(&self, identity: Option<&str>) -> Result<Vec<Membership>> {
        let mut st = self.db.prepare(
            "SELECT identity, project, route, project_identity, authority_identity FROM memberships
             WHERE ?1 IS NULL OR identity = ?1 ORDER BY project, identity",
        )?;
        let rows = st.query_map([identity], |r| {
            Ok(Membership {
                identity: r.get(0)?,
                project: r.get(1)?,
                route: r.get(2)?,
                project_identity: r.get(3)?,
                authority_identity: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records the last credential refresh outcome of `identity` in `project` (written by the
    /// node that refreshes, read by `project list` / `project show`).
    pub fn put_membership_status(
        &self,
        identity: &str,
        project: &str,
        outcome: &airlock_project::refresh::RefreshOutcome,
    ) -> Result<()> {
        self.set_setting(
            &membership_status_key(identity, project),
            &serde_json::to_string(outcome)?,
        )
    }

    /// The last recorded credential refresh outcome of `identity` in `project`, if any.
    pub fn membership_status(
        &self,
        identity: &str,
        project: &str,
    ) -> Result<Option<airlock_project::refresh::RefreshOutcome>> {
        Ok(self
            .setting(&membership_status_key(identity, project))?
            .and_then(|v| serde_json::from_str(&v).ok()))
    }

    /// The default project name.
    pub fn default_project(&self) -> Result<String> {
        if let Some(p) = self.setting("default_project")? {
            return Ok(p);
        }
        match self.memberships(None)?.first() {
            Some(m) => Ok(m.project.clone()),
            None => Err(HomeError::NoProject),
        }
    }
}

/// A persisted policy: (resource, resource type, expression); empty strings for "none".
pub type PolicyRow = (String, String, String);

impl Home {
    /// Records a policy.
    pub fn put_policy(
        &self,
        node: &str,
        resource: &str,
        rtype: &str,
        expression: &str,
    ) -> Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO policies(node, resource, resource_type, expression) VALUES (?1, ?2, ?3, ?4)",
            params![node, resource, rtype, expression],
        )?;
        Ok(())
    }

    /// Forgets a policy.
    pub fn delete_policy(&self, node: &str, resource: &str, rtype: &str) -> Result<()> {
        self.db.execute(
            "DELETE FROM policies WHERE node = ?1 AND resource = ?2 AND resource_type = ?3",
            params![node, resource, rtype],
        )?;
        Ok(())
    }

    /// Policies of a node.
    pub fn policies(&self, node: &str) -> Result<Vec<PolicyRow>> {
        let mut st = self
            .db
            .prepare("SELECT resource, resource_type, expression FROM policies WHERE node = ?1")?;
        let rows = st.query_map([node], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a relay registered at route `at`, accepting `authorized` hosts (any if empty).
    pub fn put_relay(&self, node: &str, name: &str, at: &str, authorized: &[String]) -> Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO relays(node, name, at, authorized) VALUES (?1, ?2, ?3, ?4)",
            params![node, name, at, authorized.join(",")],
        )?;
        Ok(())
    }

    /// Forgets a relay.
    pub fn delete_relay(&self, node: &str, name: &str) -> Result<()> {
        self.db.execute(
            "DELETE FROM relays WHERE node = ?1 AND name = ?2",
            params![node, name],
        )?;
        Ok(())
    }

    /// Relays of a node: (name, at, authorized hosts).
    pub fn relays(&self, node: &str) -> Result<Vec<(String, String, Vec<String>)>> {
        let mut st = self
            .db
            .prepare("SELECT name, at, authorized FROM relays WHERE node = ?1 ORDER BY name")?;
        let rows = st.query_map([node], |r| {
            let a: String = r.get(2)?;
            let authorized = a
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            Ok((r.get(0)?, r.get(1)?, authorized))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Where a membership's refresh outcome is kept (in `settings`, so it needs no migration).
fn membership_status_key(identity: &str, project: &str) -> String {
    format!("membership_status/{identity}/{project}")
}
