//! The home database's schema: the migrations, applied in order when the home is opened and
//! counted in SQLite's `user_version`. A database newer than this airlock is refused rather than
//! guessed at.

use super::{Home, HomeError, Result};

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
    // 6: Kafka portals (broker_ports `FIRST-LAST`, or '' for the node's default range; outlets
    // with TLS to the brokers and the CA file trusted, if not the Mozilla roots)
    "CREATE TABLE kafka_outlets (
        node TEXT NOT NULL REFERENCES nodes(name) ON DELETE CASCADE,
        name TEXT NOT NULL,
        bootstrap_server TEXT NOT NULL,
        tls INTEGER NOT NULL DEFAULT 0,
        tls_ca_file TEXT,
        PRIMARY KEY (node, name)
     );
     CREATE TABLE kafka_inlets (
        node TEXT NOT NULL REFERENCES nodes(name) ON DELETE CASCADE,
        name TEXT NOT NULL,
        bind TEXT NOT NULL,
        route TEXT NOT NULL,
        outlet TEXT NOT NULL,
        broker_ports TEXT NOT NULL DEFAULT '',
        authorized TEXT NOT NULL DEFAULT '',
        encrypt INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (node, name)
     );",
];

impl Home {
    /// Brings the database up to the newest schema, in one transaction.
    pub(super) fn migrate(&mut self) -> Result<()> {
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
}
