//! The machine's home: `$AIRLOCK_HOME` (default `~/.airlock`) with one SQLite database (WAL
//! mode, versioned migrations) of identities, nodes, settings and memberships, and a folder per
//! node for its control socket and logs. (A project's own database is `airlock_project`'s
//! store.)
//!
//! The home folder is created `0700` and the database `0600`: it holds private keys. Several
//! node processes and CLI invocations use the database at once; WAL plus a busy timeout makes
//! that safe.
//!
//! * `error` — what goes wrong, as [`HomeError`];
//! * `schema` — the migrations;
//! * `identities`, `nodes`, `portals` — the rows of each, as methods of [`Home`];
//! * `projects` — hosted projects, memberships, and the policies and relays nodes restore.

use rusqlite::{params, Connection, OptionalExtension};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

mod error;
mod identities;
mod nodes;
mod portals;
mod projects;
mod schema;
pub use error::{HomeError, NAME_RULE};
pub use identities::IdentityRow;
pub use nodes::NodeRow;
pub use portals::{InletRow, KafkaInletRow};
pub use projects::{HostedProject, Membership};

type Result<T, E = HomeError> = std::result::Result<T, E>;

/// The home folder and its database.
pub struct Home {
    path: PathBuf,
    db: Connection,
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
