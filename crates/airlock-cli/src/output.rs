//! How results look: aligned tables for lists, aligned `key: value` lines for one resource in
//! plain output, JSON under `--output json`, and the same field names in both (`default`, never
//! `is_default`). Notes for people (an empty list, what happened) go to stderr; stdout carries
//! only the values, so scripts can read it.

use crate::control::protocol::{FailureKind, InletView, KafkaInletView};
use crate::home::{Home, IdentityRow};
use serde::Serialize;
use serde_json::{json, Value};

/// Renders rows as an aligned table under `headers`; nothing for no rows.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
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

/// One resource as aligned `key: value` lines, keys as in its JSON (`name` first, then in
/// order); nested objects as `outer.inner`, lists of plain values joined with `, `, nothing as
/// `-`.
pub fn fields<T: Serialize>(value: &T) -> String {
    let v = serde_json::to_value(value).unwrap_or_default();
    let mut pairs = Vec::new();
    flatten("", &v, &mut pairs);
    if let Some(i) = pairs.iter().position(|(k, _)| k == "name") {
        let name = pairs.remove(i);
        pairs.insert(0, name);
    }
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        + 1;
    pairs
        .into_iter()
        .map(|(k, v)| {
            format!("{:width$} {v}", format!("{k}:"))
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        _ => out.push((prefix.to_string(), scalar(v))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            a.iter().map(scalar).collect::<Vec<_>>().join(", ")
        }
        Value::Object(o) if o.is_empty() => "-".into(),
        other => other.to_string(),
    }
}

/// `permanent: REASON` / `transient: REASON` for a LAST ERROR column (empty when none).
pub fn last_error(error: Option<&str>, kind: Option<FailureKind>) -> String {
    match (error, kind) {
        (Some(e), Some(k)) => format!("{k}: {e}"),
        (Some(e), None) => e.to_string(),
        (None, _) => String::new(),
    }
}

/// An identity as every command prints it.
pub fn identity_json(row: &IdentityRow) -> Value {
    json!({
        "name": row.name,
        "identifier": row.identifier,
        "default": row.is_default,
        "created_at": row.created_at,
    })
}

/// An inlet as `tcp-inlet list|show` and `node show` print it: `to` as the user gave it
/// (`/node/n1/…`), `to_resolved` as the node dials it (`/ip4/…`).
#[derive(Debug, Serialize)]
pub struct InletReport {
    #[serde(flatten)]
    pub inlet: InletView,
    pub to_resolved: String,
}

impl InletReport {
    /// The node's views of node `node`'s inlets, with the routes recorded for them.
    pub fn from_views(home: &Home, node: &str, views: Vec<InletView>) -> Vec<InletReport> {
        let rows = home.inlets(node).unwrap_or_default();
        views
            .into_iter()
            .map(|mut inlet| {
                let resolved = inlet.to.clone();
                if let Some(r) = rows.iter().find(|r| r.name == inlet.name) {
                    inlet.to = r.route.clone();
                }
                InletReport {
                    inlet,
                    to_resolved: resolved,
                }
            })
            .collect()
    }
}

/// A Kafka inlet as `kafka-inlet create|list|show` print it: `to` as the user gave it
/// (`/node/n1/secure/api`), `to_resolved` as the node dials it (`/ip4/…`), and the identities
/// recorded for it.
#[derive(Debug, Serialize)]
pub struct KafkaInletReport {
    #[serde(flatten)]
    pub inlet: KafkaInletView,
    pub to_resolved: String,
}

impl KafkaInletReport {
    /// The node's views of node `node`'s Kafka inlets, with what was recorded for them.
    pub fn from_views(
        home: &Home,
        node: &str,
        views: Vec<KafkaInletView>,
    ) -> Vec<KafkaInletReport> {
        let rows = home.kafka_inlets(node).unwrap_or_default();
        views
            .into_iter()
            .map(|mut inlet| {
                let resolved = inlet.to.clone();
                if let Some(r) = rows.iter().find(|r| r.name == inlet.name) {
                    inlet.to = r.route.clone();
                    if inlet.authorized.is_empty() {
                        inlet.authorized = r.authorized.clone();
                    }
                }
                KafkaInletReport {
                    inlet,
                    to_resolved: resolved,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_aligned_flat_and_name_first() {
        let v = json!({
            "to": "/node/n1/service/outlet",
            "name": "db",
            "authorized": ["I1", "I2"],
            "hosted": {"node": "p", "ttl": 60},
            "last_error": null,
            "peers": [],
        });
        assert_eq!(
            fields(&v),
            "name:        db\n\
             authorized:  I1, I2\n\
             hosted.node: p\n\
             hosted.ttl:  60\n\
             last_error:  -\n\
             peers:       -\n\
             to:          /node/n1/service/outlet"
        );
    }

    #[test]
    fn tables_align_and_are_empty_without_rows() {
        assert_eq!(table(&["A", "BB"], vec![]), "");
        assert_eq!(
            table(&["A", "BB"], vec![vec!["xyz".into(), "1".into()]]),
            "A    BB\nxyz  1"
        );
    }
}
