//! The machine's home: `$AIRLOCK_HOME` (default `~/.airlock`) with one SQLite database (WAL
//! mode, versioned migrations) of identities, nodes, settings and memberships, and a folder per
//! node for its control socket and logs. (A project's own database is `airlock_project`'s
//! store.)
//!
//! The home folder is created `0700` and the database `0600`: it holds private keys. Several
//! node processes and CLI invocations use the database at once; WAL plus a busy timeout makes
//! that safe.

use airlock_identity::IdentityError;
use airlock_identity::{IdentitySecret, PurposeKeySecret, DEFAULT_PURPOSE_KEY_TTL};
use airlock_node::unix_now;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

mod projects;
pub use projects::{HostedProject, Membership};

/// Why reading or writing the home failed.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// Neither `$AIRLOCK_HOME` nor `$HOME` says where the home is.
    #[error("neither AIRLOCK_HOME nor HOME is set")]
    NoHome,
    /// The home folder could not be created.
    #[error("cannot create the state folder {}", path.display())]
    CreateFolder {
        /// The home folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The home's database could not be opened.
    #[error("cannot open the state database {}", path.display())]
    OpenDatabase {
        /// The database file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer airlock.
    #[error("the state in {} was written by a newer airlock (schema {version}); upgrade airlock or run `airlock reset`", path.display())]
    NewerSchema {
        /// The home folder.
        path: PathBuf,
        /// The database's schema version.
        version: usize,
    },
    /// A schema migration failed.
    #[error("migration {number}")]
    Migration {
        /// The migration's number (from 1).
        number: usize,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// A database query failed.
    #[error(transparent)]
    Database(#[from] rusqlite::Error),
    /// A file or folder in the home could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A name that is not 1–64 letters, digits, `-`, `_` or `.`.
    #[error("invalid {kind} name {name:?}: {}", NAME_RULE)]
    InvalidName {
        /// What it names (`node`, `identity`, …).
        kind: String,
        /// The name.
        name: String,
    },
    /// Creating an identity whose name is taken.
    #[error("an identity named {name:?} already exists (see `airlock identity list`)")]
    IdentityExists {
        /// The name.
        name: String,
    },
    /// Importing an identity whose name is taken by another key.
    #[error("a local identity named {name:?} already exists with another key ({identifier}); delete it first")]
    IdentityConflict {
        /// The name.
        name: String,
        /// The identifier of the local identity of that name.
        identifier: String,
    },
    /// No identity of that name (loading it).
    #[error("no identity named {name:?} (see `airlock identity list`)")]
    UnknownIdentity {
        /// The name.
        name: String,
    },
    /// No identity of that name (deleting it).
    #[error("no identity named {name:?}")]
    NoSuchIdentity {
        /// The name.
        name: String,
    },
    /// An identity that nodes still use cannot be deleted.
    #[error("identity {name:?} is used by node(s) {}; delete them first", nodes.join(", "))]
    IdentityInUse {
        /// The identity.
        name: String,
        /// The nodes using it.
        nodes: Vec<String>,
    },
    /// Key bytes given to import an identity are not a key.
    #[error("the stored key of identity {name:?} is corrupt")]
    CorruptImportedKey {
        /// The identity.
        name: String,
        /// Why.
        #[source]
        source: IdentityError,
    },
    /// A stored identity's key does not load.
    #[error("identity {name:?} is corrupt")]
    CorruptIdentity {
        /// The identity.
        name: String,
        /// Why.
        #[source]
        source: IdentityError,
    },
    /// A stored purpose key does not load.
    #[error("purpose key of {name:?} is corrupt")]
    CorruptPurposeKey {
        /// The identity.
        name: String,
        /// Why.
        #[source]
        source: IdentityError,
    },
    /// A stored identity's change history does not verify.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// No node of that name.
    #[error("{}", unknown_node(name, known))]
    UnknownNode {
        /// The name.
        name: String,
        /// The nodes there are.
        known: Vec<String>,
    },
    /// There is no node at all.
    #[error("there is no node yet; create one with `airlock node create`")]
    NoNode,
    /// There is no project at all.
    #[error("no project yet: create one with `airlock project create` or enroll with `airlock project enroll TICKET`")]
    NoProject,
    /// A hosted project's authority store could not be opened.
    #[error(transparent)]
    AuthorityStore(#[from] airlock_project::store::StoreError),
    /// A recorded value could not be encoded.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// What a valid name is (see [`validate_name`]), as [`HomeError::InvalidName`] says it.
pub const NAME_RULE: &str = "use 1-64 letters, digits, '-', '_' or '.'";

fn unknown_node(name: &str, known: &[String]) -> String {
    if known.is_empty() {
        format!(
            "unknown node {name:?}: there are no nodes yet (create one with `airlock node create`)"
        )
    } else {
        format!("unknown node {name:?} (known nodes: {})", known.join(", "))
    }
}

type Result<T, E = HomeError> = std::result::Result<T, E>;

const MIGRATIONS: &[&str] = &[
    // 1: identities, nodes, portals, settings
    "CREATE TABLE identities (
        name TEXT PRIMARY KEY,
        identifier TEXT NOT NULL UNIQUE,
        secret BLOB NOT NULL,
        purpose_key BLOB NOT NULL,
        created_at INTEGER NOT NULL
     );
     CREATE TABLE nodes (
        name TEXT PRIMARY KEY,
        identity TEXT NOT NULL REFERENCES identities(name),
        tcp_listen TEXT NOT NULL,
        pid INTEGER,
        created_at INTEGER NOT NULL
     );
     CREATE TABLE tcp_outlets (
        node TEXT NOT NULL REFERENCES nodes(name) ON DELETE CASCADE,
        name TEXT NOT NULL,
        target TEXT NOT NULL,
        PRIMARY KEY (node, name)
     );
     CREATE TABLE tcp_inlets (
        node TEXT NOT NULL REFERENCES nodes(name) ON DELETE CASCADE,
        name TEXT NOT NULL,
        bind TEXT NOT NULL,
        route TEXT NOT NULL,
        authorized TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (node, name)
     );
     CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    // 2: projects hosted here and project memberships of local identities
    "CREATE TABLE hosted_projects (
        name TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        authority_identity TEXT NOT NULL REFERENCES identities(name),
        route TEXT NOT NULL,
        credential_ttl INTEGER NOT NULL,
        created_at INTEGER NOT NULL
     );
     CREATE TABLE memberships (
        identity TEXT NOT NULL REFERENCES identities(name) ON DELETE CASCADE,
        project TEXT NOT NULL,
        route TEXT NOT NULL,
        project_identity BLOB NOT NULL,
        authority_identity BLOB NOT NULL,
        enrolled_at INTEGER NOT NULL,
        PRIMARY KEY (identity, project)
     );",
    // 3: policies and relays of nodes
    "CREATE TABLE policies (
        node TEXT NOT NULL REFERENCES nodes(name) ON DELETE CASCADE,
        resource TEXT NOT NULL DEFAULT '',
        resource_type TEXT NOT NULL DEFAULT '',
        expression TEXT NOT NULL,
        PRIMARY KEY (node, resource, resource_type)
     );
     CREATE TABLE relays (
        node TEXT NOT NULL REFERENCES nodes(name) ON DELETE CASCADE,
        name TEXT NOT NULL,
        project TEXT NOT NULL,
        PRIMARY KEY (node, name)
     );",
    // 4: relays at any route; hosted projects with their state in a shared database
    "ALTER TABLE relays RENAME COLUMN project TO at;
     UPDATE relays SET at = '/project/' || at;
     ALTER TABLE hosted_projects ADD COLUMN database TEXT;",
    // 5: relay hosts named by identifier
    "ALTER TABLE relays ADD COLUMN authorized TEXT NOT NULL DEFAULT '';",
];

/// The home folder and its database.
pub struct Home {
    path: PathBuf,
    db: Connection,
}

/// An identity row.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityRow {
    /// Local name.
    pub name: String,
    /// Identifier.
    pub identifier: String,
    /// Is it the default identity?
    pub is_default: bool,
    /// Unix seconds.
    pub created_at: u64,
}

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
    /// Where the home folder is: `$AIRLOCK_HOME` or `~/.airlock`.
    pub fn locate() -> Result<PathBuf> {
        if let Some(h) = std::env::var_os("AIRLOCK_HOME") {
            return Ok(PathBuf::from(h));
        }
        let home = std::env::var_os("HOME").ok_or(HomeError::NoHome)?;
        Ok(PathBuf::from(home).join(".airlock"))
    }

    /// Opens (creating and migrating if needed) the home folder and its database.
    pub fn open() -> Result<Home> {
        let home = Self::locate()?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&home)
            .map_err(|source| HomeError::CreateFolder {
                path: home.clone(),
                source,
            })?;
        let path = home.join("state.db");
        let db = Connection::open(&path).map_err(|source| HomeError::OpenDatabase {
            path: path.clone(),
            source,
        })?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        db.busy_timeout(std::time::Duration::from_secs(10))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "foreign_keys", "ON")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        // The database is small; a long-running node should not hold a 2 MiB page cache for it.
        db.pragma_update(None, "cache_size", -256)?;
        let mut s = Home { path: home, db };
        s.migrate()?;
        for ext in ["state.db-wal", "state.db-shm"] {
            let p = s.path.join(ext);
            if p.exists() {
                let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
            }
        }
        Ok(s)
    }

    fn migrate(&mut self) -> Result<()> {
        let tx = self
            .db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > MIGRATIONS.len() {
            return Err(HomeError::NewerSchema {
                path: self.path.clone(),
                version,
            });
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.execute_batch(m).map_err(|source| HomeError::Migration {
                number: i + 1,
                source,
            })?;
        }
        tx.pragma_update(None, "user_version", MIGRATIONS.len())?;
        tx.commit()?;
        Ok(())
    }

    /// The home folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder of a node (control socket, logs).
    pub fn node_dir(&self, name: &str) -> PathBuf {
        self.path.join("nodes").join(name)
    }

    /// Creates the node folder with mode 0700.
    pub fn ensure_node_dir(&self, name: &str) -> Result<PathBuf> {
        let d = self.node_dir(name);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&d)?;
        Ok(d)
    }

    // ---- settings ----

    /// Reads a setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .db
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Writes a setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.db.execute(
            "INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    // ---- identities ----

    /// Creates and stores a new identity.
    pub fn create_identity(&self, name: &str) -> Result<IdentitySecret> {
        validate_name("identity", name)?;
        if self.identity_row(name)?.is_some() {
            return Err(HomeError::IdentityExists {
                name: name.to_string(),
            });
        }
        let now = unix_now();
        let secret = IdentitySecret::create(now);
        let purpose = PurposeKeySecret::create(&secret, now, DEFAULT_PURPOSE_KEY_TTL);
        self.db.execute(
            "INSERT INTO identities(name, identifier, secret, purpose_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, secret.identifier().to_string(), secret.to_secret_bytes(), purpose.to_secret_bytes(), now as i64],
        )?;
        if self.setting("default_identity")?.is_none() {
            self.set_setting("default_identity", name)?;
        }
        Ok(secret)
    }

    /// Stores identity `name` from its secret bytes (a project's keys loaded from a shared
    /// database), with a fresh purpose key. Keeping an existing identity with the same
    /// identifier is fine; one with another identifier is an error.
    pub fn import_identity_secret(
        &self,
        name: &str,
        secret_bytes: &[u8],
    ) -> Result<IdentitySecret> {
        let now = unix_now();
        let secret = IdentitySecret::from_secret_bytes(secret_bytes, now).map_err(|source| {
            HomeError::CorruptImportedKey {
                name: name.to_string(),
                source,
            }
        })?;
        if let Some(row) = self.identity_row(name)? {
            if row.identifier != secret.identifier().to_string() {
                return Err(HomeError::IdentityConflict {
                    name: name.to_string(),
                    identifier: row.identifier,
                });
            }
            return Ok(secret);
        }
        validate_name("identity", name)?;
        let purpose = PurposeKeySecret::create(&secret, now, DEFAULT_PURPOSE_KEY_TTL);
        self.db.execute(
            "INSERT INTO identities(name, identifier, secret, purpose_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, secret.identifier().to_string(), secret.to_secret_bytes(), purpose.to_secret_bytes(), now as i64],
        )?;
        Ok(secret)
    }

    /// Loads an identity's keys.
    pub fn load_identity(&self, name: &str) -> Result<(IdentitySecret, PurposeKeySecret)> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .db
            .query_row(
                "SELECT secret, purpose_key FROM identities WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (s, p) = row.ok_or_else(|| HomeError::UnknownIdentity {
            name: name.to_string(),
        })?;
        let now = unix_now();
        let secret = IdentitySecret::from_secret_bytes(&s, now).map_err(|source| {
            HomeError::CorruptIdentity {
                name: name.to_string(),
                source,
            }
        })?;
        let mut purpose = PurposeKeySecret::from_secret_bytes(&p).map_err(|source| {
            HomeError::CorruptPurposeKey {
                name: name.to_string(),
                source,
            }
        })?;
        // After a rotation of the identity key, or near expiry, re-attest.
        let verified = secret.history().verify(now)?;
        if purpose.needs_rotation(now) || purpose.attestation.verify(&verified, now).is_err() {
            purpose = PurposeKeySecret::create(&secret, now, DEFAULT_PURPOSE_KEY_TTL);
            self.store_purpose_key(name, &purpose)?;
        }
        Ok((secret, purpose))
    }

    /// Saves a rotated purpose key.
    pub fn store_purpose_key(&self, name: &str, purpose: &PurposeKeySecret) -> Result<()> {
        self.db.execute(
            "UPDATE identities SET purpose_key = ?2 WHERE name = ?1",
            params![name, purpose.to_secret_bytes()],
        )?;
        Ok(())
    }

    /// Saves a rotated identity.
    pub fn store_identity(&self, name: &str, secret: &IdentitySecret) -> Result<()> {
        self.db.execute(
            "UPDATE identities SET secret = ?2 WHERE name = ?1",
            params![name, secret.to_secret_bytes()],
        )?;
        Ok(())
    }

    /// One identity's row.
    pub fn identity_row(&self, name: &str) -> Result<Option<IdentityRow>> {
        Ok(self.identities()?.into_iter().find(|i| i.name == name))
    }

    /// All identities.
    pub fn identities(&self) -> Result<Vec<IdentityRow>> {
        let default = self.setting("default_identity")?;
        let mut st = self
            .db
            .prepare("SELECT name, identifier, created_at FROM identities ORDER BY name")?;
        let rows = st.query_map([], |r| {
            Ok(IdentityRow {
                name: r.get(0)?,
                identifier: r.get(1)?,
                is_default: false,
                created_at: r.get::<_, i64>(2)? as u64,
            })
        })?;
        let mut v = Vec::new();
        for r in rows {
            let mut r = r?;
            r.is_default = default.as_deref() == Some(&r.name);
            v.push(r);
        }
        Ok(v)
    }

    /// The identifiers node `node` knows (docs/protocol.md §5.4: a node outside any project
    /// admits only these, its own and those its policies name): every identity in this
    /// home, and the peers the `--authorized` lists of its inlets and relays name.
    pub fn known_identifiers(&self, node: &str) -> Result<Vec<String>> {
        let mut ids: Vec<String> = self
            .identities()?
            .into_iter()
            .map(|i| i.identifier)
            .collect();
        ids.extend(self.inlets(node)?.into_iter().flat_map(|i| i.authorized));
        ids.extend(self.relays(node)?.into_iter().flat_map(|(_, _, a)| a));
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Deletes an identity that no node uses.
    pub fn delete_identity(&self, name: &str) -> Result<()> {
        let users: Vec<String> = self
            .db
            .prepare("SELECT name FROM nodes WHERE identity = ?1")?
            .query_map([name], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if !users.is_empty() {
            return Err(HomeError::IdentityInUse {
                name: name.to_string(),
                nodes: users,
            });
        }
        let n = self
            .db
            .execute("DELETE FROM identities WHERE name = ?1", [name])?;
        if n == 0 {
            return Err(HomeError::NoSuchIdentity {
                name: name.to_string(),
            });
        }
        if self.setting("default_identity")?.as_deref() == Some(name) {
            self.db
                .execute("DELETE FROM settings WHERE key = 'default_identity'", [])?;
        }
        Ok(())
    }

    /// The default identity, created as `default` if there is none.
    pub fn default_identity(&self) -> Result<String> {
        if let Some(n) = self.setting("default_identity")? {
            if self.identity_row(&n)?.is_some() {
                return Ok(n);
            }
        }
        if self.identity_row("default")?.is_none() {
            self.create_identity("default")?;
        }
        self.set_setting("default_identity", "default")?;
        Ok("default".into())
    }

    // ---- nodes ----

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

    // ---- portals ----

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

/// Names of nodes, identities and portals: 1–64 of letters, digits, `-`, `_`, `.`.
pub fn validate_name(kind: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || name.starts_with('.')
    {
        return Err(HomeError::InvalidName {
            kind: kind.to_string(),
            name: name.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_errors_keep_their_messages() {
        let e = validate_name("node", ".x").unwrap_err();
        assert!(
            matches!(&e, HomeError::InvalidName { kind, name } if kind == "node" && name == ".x")
        );
        assert_eq!(
            e.to_string(),
            "invalid node name \".x\": use 1-64 letters, digits, '-', '_' or '.'"
        );
        let none = HomeError::UnknownNode {
            name: "n".into(),
            known: vec![],
        };
        assert_eq!(
            none.to_string(),
            "unknown node \"n\": there are no nodes yet (create one with `airlock node create`)"
        );
        let some = HomeError::UnknownNode {
            name: "n".into(),
            known: vec!["a".into(), "b".into()],
        };
        assert_eq!(some.to_string(), "unknown node \"n\" (known nodes: a, b)");
    }
}
