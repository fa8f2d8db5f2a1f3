//! The portals each node of the home restores when it starts: its TCP outlets (name and
//! target) and TCP inlets (bind address, route and the identities it pins), and its Kafka
//! outlets (name and bootstrap server) and Kafka inlets (bootstrap address, route, outlet name,
//! broker ports and the identities it pins).

use super::{Home, Result};
use airlock_node::kafka::KafkaOutletSpec;
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

impl Home {
    /// Records a Kafka outlet.
    pub fn insert_kafka_outlet(&self, node: &str, spec: &KafkaOutletSpec) -> Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO kafka_outlets(node, name, bootstrap_server, tls, tls_ca_file) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                node,
                spec.name,
                spec.bootstrap_server,
                spec.tls,
                spec.tls_ca_file
            ],
        )?;
        Ok(())
    }

    /// Forgets a Kafka outlet.
    pub fn delete_kafka_outlet(&self, node: &str, name: &str) -> Result<()> {
        self.db.execute(
            "DELETE FROM kafka_outlets WHERE node = ?1 AND name = ?2",
            params![node, name],
        )?;
        Ok(())
    }

    /// Kafka outlets of a node.
    pub fn kafka_outlets(&self, node: &str) -> Result<Vec<KafkaOutletSpec>> {
        let mut st = self.db.prepare(
            "SELECT name, bootstrap_server, tls, tls_ca_file FROM kafka_outlets WHERE node = ?1 ORDER BY name",
        )?;
        let rows = st.query_map([node], |r| {
            Ok(KafkaOutletSpec {
                name: r.get(0)?,
                bootstrap_server: r.get(1)?,
                tls: r.get(2)?,
                tls_ca_file: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a Kafka inlet of node `node`.
    pub fn insert_kafka_inlet(&self, node: &str, row: &KafkaInletRow) -> Result<()> {
        let ports = row
            .broker_ports
            .map(|(a, b)| format!("{a}-{b}"))
            .unwrap_or_default();
        let fields = if row.encrypted_fields.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&row.encrypted_fields).expect("a list of strings")
        };
        self.db.execute(
            "INSERT OR REPLACE INTO kafka_inlets(node, name, bind, route, outlet, broker_ports, authorized, encrypt, encrypted_fields) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                node,
                row.name,
                row.bind,
                row.route,
                row.outlet,
                ports,
                row.authorized.join(","),
                row.encrypt,
                fields
            ],
        )?;
        Ok(())
    }

    /// Forgets a Kafka inlet.
    pub fn delete_kafka_inlet(&self, node: &str, name: &str) -> Result<()> {
        self.db.execute(
            "DELETE FROM kafka_inlets WHERE node = ?1 AND name = ?2",
            params![node, name],
        )?;
        Ok(())
    }

    /// Kafka inlets of a node. A broker range that does not read as `FIRST-LAST` (never
    /// written so) is the node's default range.
    pub fn kafka_inlets(&self, node: &str) -> Result<Vec<KafkaInletRow>> {
        let mut st = self.db.prepare(
            "SELECT name, bind, route, outlet, broker_ports, authorized, encrypt, encrypted_fields FROM kafka_inlets WHERE node = ?1 ORDER BY name",
        )?;
        let rows = st.query_map([node], |r| {
            let ports: String = r.get(4)?;
            let a: String = r.get(5)?;
            let fields: String = r.get(7)?;
            let encrypted_fields = if fields.is_empty() {
                Vec::new()
            } else {
                serde_json::from_str(&fields).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        7,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?
            };
            Ok(KafkaInletRow {
                name: r.get(0)?,
                bind: r.get(1)?,
                route: r.get(2)?,
                outlet: r.get(3)?,
                broker_ports: ports
                    .split_once('-')
                    .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?))),
                authorized: a
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
                encrypt: r.get(6)?,
                encrypted_fields,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// A persisted Kafka inlet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaInletRow {
    /// Name.
    pub name: String,
    /// Bootstrap address clients use, as bound (`IP:PORT`).
    pub bind: String,
    /// Route to the Kafka outlet's node as the user gave it (may contain `/node/NAME`).
    pub route: String,
    /// The Kafka outlet's service name.
    pub outlet: String,
    /// Local broker ports; `None`: the node's default range after the bootstrap port.
    pub broker_ports: Option<(u16, u16)>,
    /// Authorized identifiers.
    pub authorized: Vec<String>,
    /// Whether record values are encrypted.
    pub encrypt: bool,
    /// With `encrypt`, the top-level fields of JSON values encrypted; empty: whole values.
    /// Stored as a JSON array of strings, or '' when empty.
    pub encrypted_fields: Vec<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A home on an in-memory database, migrated, with node `n1`.
    fn home() -> Home {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.pragma_update(None, "foreign_keys", "ON").unwrap();
        let mut home = Home {
            path: std::path::PathBuf::from("/nonexistent"),
            db,
        };
        home.migrate().unwrap();
        home.create_identity("i1").unwrap();
        home.insert_node("n1", "i1", "127.0.0.1:0").unwrap();
        home
    }

    #[test]
    fn kafka_portals_are_recorded_and_forgotten() {
        let h = home();
        let plain = KafkaOutletSpec {
            name: "kafka".into(),
            bootstrap_server: "127.0.0.1:9092".into(),
            tls: false,
            tls_ca_file: None,
        };
        let cloud = KafkaOutletSpec {
            name: "cloud".into(),
            bootstrap_server: "broker.example.com:9092".into(),
            tls: true,
            tls_ca_file: Some("/etc/ca.pem".into()),
        };
        h.insert_kafka_outlet("n1", &plain).unwrap();
        h.insert_kafka_outlet("n1", &cloud).unwrap();
        assert_eq!(h.kafka_outlets("n1").unwrap(), [cloud, plain]);
        h.delete_kafka_outlet("n1", "cloud").unwrap();
        let row = KafkaInletRow {
            name: "k".into(),
            bind: "127.0.0.1:9092".into(),
            route: "/node/n2/secure/api".into(),
            outlet: "kafka".into(),
            broker_ports: Some((9093, 9192)),
            authorized: vec!["I1".into(), "I2".into()],
            encrypt: true,
            encrypted_fields: vec!["secret".into(), "a \"quoted\", comma\nand newline".into()],
        };
        h.insert_kafka_inlet("n1", &row).unwrap();
        let default_range = KafkaInletRow {
            name: "k2".into(),
            broker_ports: None,
            authorized: vec![],
            encrypt: false,
            encrypted_fields: vec![],
            ..row.clone()
        };
        h.insert_kafka_inlet("n1", &default_range).unwrap();
        assert_eq!(h.kafka_inlets("n1").unwrap(), [row, default_range]);
        // Fields are stored as a JSON array; none as ''.
        let stored = |name: &str| -> String {
            h.db.query_row(
                "SELECT encrypted_fields FROM kafka_inlets WHERE node = 'n1' AND name = ?1",
                [name],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(
            stored("k"),
            r#"["secret","a \"quoted\", comma\nand newline"]"#
        );
        assert_eq!(stored("k2"), "");
        assert!(h.known_identifiers("n1").unwrap().contains(&"I2".into()));

        h.delete_kafka_inlet("n1", "k").unwrap();
        h.delete_kafka_outlet("n1", "kafka").unwrap();
        assert!(h.kafka_outlets("n1").unwrap().is_empty());
        assert_eq!(h.kafka_inlets("n1").unwrap().len(), 1);
        // Deleting the node forgets its portals.
        h.delete_node("n1").unwrap();
        assert!(h.kafka_inlets("n1").unwrap().is_empty());
    }
}
