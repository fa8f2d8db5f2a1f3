//! The node file of `airlock node create ./airlock.yaml`: one file per party, its model and
//! its parsing.
//!
//! ```yaml
//! name: bank_corp
//! ticket: ${ENROLLMENT_TICKET}      # enroll first (inline ticket, file path, or variable)
//! relay: mongodb                    # or a list: names, or entries such as
//!                                   #   { name: edge, at: /ip4/10.0.0.1/tcp/4000, authorized: [I…] }
//! policies:
//!   - resource-type: tcp-outlet
//!     expression: (= subject.mongodb-inlet "true")
//! tcp-outlets:
//!   mongodb: { to: 127.0.0.1:27017 }          # outlet name: mongodb (default address `outlet`)
//! tcp-inlets:
//!   mongodb: { from: 127.0.0.1:17017, via: mongodb }
//! ```
//! `$VAR` and `${VAR}` are replaced from the environment before parsing; a missing variable and
//! an unknown key are errors that name the line. A value from the environment may be a secret:
//! an error about it names the variable (`ticket (from ${ENROLLMENT_TICKET}) is not a valid
//! ticket: …`) and never prints the value ([`Substitutions`]). Applying a file (enrolling,
//! recording resources, starting the node) is the `config` command's job.

mod substitutions;

pub use substitutions::{interpolate, Substitutions};

use anyhow::{bail, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A relay: its name (registered at the project), or where to register it.
#[derive(Debug)]
pub enum RelayEntry {
    /// Registered at the project under this name.
    Name(String),
    /// Registered where the entry says.
    At(RelayAt),
}

impl RelayEntry {
    /// One entry of `relay:`: a name or a `{name, at, authorized}` map (checked key by key, so
    /// that an unknown key is named in the error).
    pub fn from_yaml(v: &yaml_serde::Value) -> Result<Self> {
        match v {
            yaml_serde::Value::String(n) => Ok(RelayEntry::Name(n.clone())),
            yaml_serde::Value::Mapping(_) => yaml_serde::from_value(v.clone())
                .map(RelayEntry::At)
                .map_err(|e| anyhow::anyhow!("relay entry {}: {e}", describe(v))),
            _ => bail!(
                "relay entry {}: give a name or {{name, at, authorized}}",
                describe(v)
            ),
        }
    }
}

fn describe(v: &yaml_serde::Value) -> String {
    yaml_serde::to_string(v)
        .unwrap_or_default()
        .trim()
        .replace('\n', ", ")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayAt {
    pub name: String,
    /// `/project/P`, `/node/N` or any route to a node (default: the project).
    pub at: Option<String>,
    /// Accept only these identities as the relay host.
    #[serde(default)]
    pub authorized: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PolicyEntry {
    pub resource: Option<String>,
    pub resource_type: Option<String>,
    pub expression: Option<String>,
    pub allow: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutletEntry {
    pub to: String,
    pub from: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InletEntry {
    pub from: String,
    pub to: Option<String>,
    pub via: Option<String>,
    #[serde(default)]
    pub authorized: Vec<String>,
}

/// The file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NodeFile {
    pub name: Option<String>,
    pub ticket: Option<String>,
    pub identity: Option<String>,
    pub project: Option<String>,
    pub tcp_listener_address: Option<String>,
    /// A relay entry or a list of them (see [`RelayEntry::from_yaml`]).
    #[serde(alias = "relays")]
    pub relay: Option<yaml_serde::Value>,
    #[serde(default, alias = "policy")]
    pub policies: Vec<PolicyEntry>,
    #[serde(default, alias = "tcp-outlet")]
    pub tcp_outlets: BTreeMap<String, OutletEntry>,
    #[serde(default, alias = "tcp-inlet")]
    pub tcp_inlets: BTreeMap<String, InletEntry>,
}

impl NodeFile {
    /// Parses the (interpolated) text of node file `path`; errors give the line and column.
    pub fn parse(path: &str, text: &str) -> Result<NodeFile> {
        yaml_serde::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("line {}, column {}: ", l.line(), l.column()))
                .unwrap_or_default();
            anyhow::anyhow!("{path}: {at}{e}")
        })
    }

    /// The `relay:` entries: none, one, or a list.
    pub fn relays(&self) -> Result<Vec<RelayEntry>> {
        let entries = match &self.relay {
            None | Some(yaml_serde::Value::Null) => vec![],
            Some(yaml_serde::Value::Sequence(v)) => v.iter().collect(),
            Some(one) => vec![one],
        };
        entries.into_iter().map(RelayEntry::from_yaml).collect()
    }
}

/// Is this `node create` argument a node file (rather than a node name)?
pub fn is_node_file_arg(arg: &str) -> bool {
    (arg.ends_with(".yaml") || arg.ends_with(".yml") || arg.contains('/'))
        && std::path::Path::new(arg).is_file()
}

/// A name check's error, for `field` of the file: the check's own message when the value was
/// written in the file, or one naming the variable when it came from the environment.
pub fn named(
    path: &str,
    subs: &Substitutions,
    field: &str,
    value: &str,
    e: crate::home::HomeError,
) -> anyhow::Error {
    if subs.sources(value).is_empty() {
        anyhow::anyhow!("{path}: {e}")
    } else {
        let rule = match e {
            crate::home::HomeError::InvalidName { .. } => crate::home::NAME_RULE,
            _ => "",
        };
        anyhow::anyhow!(
            "{path}: {} is not a valid name: {rule}",
            subs.field(field, value)
        )
    }
}

/// A policy that does not parse: the expression shown under the error, unless it came from
/// the environment (then the variable is named and the position given).
pub fn policy_error(
    path: &str,
    subs: &Substitutions,
    key: &str,
    source: &str,
    err: &airlock_abac::ParseError,
) -> anyhow::Error {
    if subs.sources(source).is_empty() {
        anyhow::anyhow!("{path}: policy:\n{}", err.render(source))
    } else {
        anyhow::anyhow!("{path}: policy {}: {err}", subs.field(key, source))
    }
}

/// Why `ticket` is not an enrollment ticket, in words that never quote it (it holds the
/// enrollment secret); None if it decodes.
pub fn ticket_problem(ticket: &str) -> Option<String> {
    match airlock_credential::Ticket::decode(ticket) {
        Ok(_) => None,
        // The decoder's format errors quote the start of the string or a character of it.
        Err(airlock_credential::TicketError::Format(detail)) => Some(
            if detail.starts_with("not hex") {
                "the text after 'airlock-ticket:' is not hexadecimal"
            } else if detail == "too long" {
                "too long"
            } else {
                "expected a string starting with 'airlock-ticket:' (or the path of a file holding one)"
            }
            .into(),
        ),
        Err(e) => Some(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_name_from_the_environment_names_the_variable_and_the_rule() {
        let (_, subs) =
            interpolate("name: ${N}\n", |k| (k == "N").then(|| ".x".to_string())).unwrap();
        let e = crate::home::validate_name("node", ".x").unwrap_err();
        assert_eq!(
            named("f.yaml", &subs, "name", ".x", e).to_string(),
            "f.yaml: name (from ${N}) is not a valid name: use 1-64 letters, digits, '-', '_' or '.'"
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let e = yaml_serde::from_str::<NodeFile>("name: a\nbogus: 1\n").unwrap_err();
        assert_eq!(e.location().unwrap().line(), 2);
        let ok: NodeFile = yaml_serde::from_str(
            "name: bank\nticket: t\nrelay: mongodb\npolicies:\n  - resource-type: tcp-outlet\n    expression: (= subject.a \"true\")\ntcp-outlets:\n  db: { to: 127.0.0.1:1 }\ntcp-inlets:\n  db: { from: 127.0.0.1:2, via: mongodb }\n",
        )
        .unwrap();
        assert_eq!(ok.tcp_inlets["db"].via.as_deref(), Some("mongodb"));
    }

    #[test]
    fn relays_are_names_or_entries() {
        let f: NodeFile = yaml_serde::from_str(
            "relays:\n  - mongodb\n  - { name: edge, at: /ip4/10.0.0.1/tcp/4000, authorized: [I00] }\n",
        )
        .unwrap();
        let Some(yaml_serde::Value::Sequence(v)) = f.relay else {
            panic!("a list")
        };
        let v: Vec<RelayEntry> = v
            .iter()
            .map(|e| RelayEntry::from_yaml(e).unwrap())
            .collect();
        assert!(matches!(&v[0], RelayEntry::Name(n) if n == "mongodb"));
        assert!(matches!(&v[1], RelayEntry::At(a) if a.name == "edge" && a.authorized == ["I00"]));
        let f: NodeFile = yaml_serde::from_str("relay: { name: x, bogus: 1 }\n").unwrap();
        let e = RelayEntry::from_yaml(&f.relay.unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `bogus`"), "{e}");
        let f: NodeFile = yaml_serde::from_str("relay: [[a]]\n").unwrap();
        let Some(yaml_serde::Value::Sequence(v)) = f.relay else {
            panic!("a list")
        };
        assert!(RelayEntry::from_yaml(&v[0]).is_err());
    }
}
