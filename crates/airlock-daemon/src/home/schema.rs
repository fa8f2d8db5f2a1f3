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
    // 7: Kafka inlets encrypting only some top-level fields of JSON values: their names as a
    // JSON array of strings (`["secret","pin"]`), or '' for none (whole values are encrypted)
    "ALTER TABLE kafka_inlets ADD COLUMN encrypted_fields TEXT NOT NULL DEFAULT '';",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::KafkaInletRow;

    /// A home from before migration 7 (Kafka inlets' encrypted fields) with a Kafka inlet
    /// opens; the inlet encrypts whole values (no fields), and fields can be recorded after.
    #[test]
    fn a_home_from_before_encrypted_fields_opens_with_none() {
        const BEFORE: usize = 6;
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.pragma_update(None, "foreign_keys", "ON").unwrap();
        for m in &MIGRATIONS[..BEFORE] {
            db.execute_batch(m).unwrap();
        }
        db.pragma_update(None, "user_version", BEFORE).unwrap();
        db.execute_batch(
            "INSERT INTO identities(name, identifier, secret, purpose_key, created_at)
                VALUES ('i1', 'I00', x'00', x'00', 0);
             INSERT INTO nodes(name, identity, tcp_listen, pid, created_at)
                VALUES ('n1', 'i1', '127.0.0.1:0', NULL, 0);
             INSERT INTO kafka_inlets(node, name, bind, route, outlet, broker_ports, authorized, encrypt)
                VALUES ('n1', 'k', '127.0.0.1:9092', '/node/n2/secure/api', 'kafka', '9093-9192', 'I1', 1);",
        )
        .unwrap();
        let mut home = Home {
            path: std::path::PathBuf::from("/nonexistent"),
            db,
        };
        home.migrate().unwrap();
        let version: usize = home
            .db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
        let rows = home.kafka_inlets("n1").unwrap();
        assert_eq!(
            rows,
            [KafkaInletRow {
                name: "k".into(),
                bind: "127.0.0.1:9092".into(),
                route: "/node/n2/secure/api".into(),
                outlet: "kafka".into(),
                broker_ports: Some((9093, 9192)),
                authorized: vec!["I1".into()],
                encrypt: true,
                encrypted_fields: vec![],
            }]
        );
        let with_fields = KafkaInletRow {
            encrypted_fields: vec!["secret".into(), "pin".into()],
            ..rows[0].clone()
        };
        home.insert_kafka_inlet("n1", &with_fields).unwrap();
        assert_eq!(home.kafka_inlets("n1").unwrap(), [with_fields]);
        // Opening again changes nothing.
        home.migrate().unwrap();
        assert_eq!(
            home.kafka_inlets("n1").unwrap()[0].encrypted_fields,
            ["secret", "pin"]
        );
    }
}
