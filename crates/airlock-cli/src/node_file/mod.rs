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
//! tcp-outlet:                                  # one TCP outlet (service `outlet`)
//!   to: 127.0.0.1:27017
//!   allow: mongodb-inlet                      # its policy: an expression or the shorthand
//! tcp-inlets:                                  # or several, by name (also `tcp-inlet: {NAME: …}`)
//!   mongodb: { from: 127.0.0.1:17017, via: mongodb, allow: mongodb-outlet }
//! kafka-outlet:                                # one Kafka outlet, named `kafka`
//!   bootstrap-server: 127.0.0.1:9092
//! kafka-inlet:                                 # one Kafka inlet, named `kafka`
//!   from: 127.0.0.1:9092
//!   to: /project/default/service/forward_to_kafka/secure/api
//! ```
//! Several Kafka portals go in named maps: `kafka-outlets: {NAME: {bootstrap-server}}`,
//! `kafka-inlets: {NAME: {from, to | via, outlet, brokers-port-range, authorized,
//! disable-content-encryption, encrypted-fields}}`.
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

/// A TCP outlet of the file (`tcp-outlet:`, or one of `tcp-outlets:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutletEntry {
    /// The target, `HOST:PORT`.
    pub to: String,
    /// The outlet's service name (default `outlet`, or the entry's name among several).
    pub from: Option<String>,
    /// Who may connect: a policy expression `(…)` or the attribute shorthand (`db-client`).
    pub allow: Option<String>,
}

/// A TCP inlet of the file (`tcp-inlet:`, or one of `tcp-inlets:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InletEntry {
    /// Where clients connect, `IP:PORT`.
    pub from: String,
    /// A route to the outlet (with `via`: the outlet's service name).
    pub to: Option<String>,
    /// A project relay to reach the outlet's node through.
    pub via: Option<String>,
    /// Accept only these identifiers at the outlet's end.
    #[serde(default)]
    pub authorized: Vec<String>,
    /// Which outlet nodes this inlet accepts: a policy expression `(…)` or the attribute
    /// shorthand (`db-server`).
    pub allow: Option<String>,
}

/// The name of the one TCP outlet of `tcp-outlet: {to, …}` (also its service name).
pub const SINGLE_OUTLET_NAME: &str = "outlet";
/// The name of the one TCP inlet of `tcp-inlet: {from, …}`.
pub const SINGLE_INLET_NAME: &str = "inlet";

/// `tcp-outlet:` / `tcp-inlet:` hold either one portal (`{to: …}`, the seeds' form) or named
/// portals (`{db: {to: …}}`, the modelled system's own examples): named when every value is a
/// map.
fn single_or_named<T: serde::de::DeserializeOwned>(
    key: &str,
    single_name: &str,
    v: &yaml_serde::Value,
) -> Result<Vec<(String, T)>> {
    let yaml_serde::Value::Mapping(m) = v else {
        if v.is_null() {
            return Ok(vec![]);
        }
        bail!("{key}: expected a map such as {{to: …}} or {{NAME: {{to: …}}}}");
    };
    let named = m.values().all(|x| x.is_mapping());
    if !named {
        let one = yaml_serde::from_value(v.clone()).map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
        return Ok(vec![(single_name.to_string(), one)]);
    }
    m.iter()
        .map(|(k, x)| {
            let name = k
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("{key}: {} is not a name", describe(k)))?;
            let entry = yaml_serde::from_value(x.clone())
                .map_err(|e| anyhow::anyhow!("{key} {name}: {e}"))?;
            Ok((name.to_string(), entry))
        })
        .collect()
}

/// Reads an `allow` value: a policy expression when it starts with `(` and parses as one,
/// else the boolean shorthand (where `(…)` groups).
pub fn parse_allow(src: &str) -> Result<airlock_abac::Policy, airlock_abac::ParseError> {
    if src.trim_start().starts_with('(') {
        if let Ok(p) = airlock_abac::Policy::parse(src) {
            return Ok(p);
        }
    }
    airlock_abac::Policy::parse_boolean(src)
}

/// A Kafka outlet of the file (`kafka-outlet:`, or one of `kafka-outlets:`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KafkaOutletEntry {
    /// The Kafka cluster's bootstrap server, `HOST:PORT`.
    pub bootstrap_server: String,
    /// Speak TLS to the brokers.
    #[serde(default)]
    pub tls: bool,
    /// With `tls`: trust only the CA certificates of this PEM file (relative to the node file).
    pub tls_ca_file: Option<String>,
}

/// A Kafka inlet of the file (`kafka-inlet:`, or one of `kafka-inlets:`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KafkaInletEntry {
    /// Where Kafka clients bootstrap (default `127.0.0.1:9092`).
    pub from: Option<String>,
    /// Route to the Kafka outlet's node, ending in its secure channel.
    pub to: Option<String>,
    /// A project relay to reach the Kafka outlet's node through (default `kafka` without `to`).
    pub via: Option<String>,
    /// The Kafka outlet's service name (default `kafka`).
    pub outlet: Option<String>,
    /// Local broker ports, `FIRST-LAST` (default: the 100 after the bootstrap port).
    pub brokers_port_range: Option<String>,
    /// Accept only these identifiers at the outlet's end.
    #[serde(default)]
    pub authorized: Vec<String>,
    /// The seeds' `consumer-relay`: accepted so that their files work, and not needed here —
    /// data keys go through the project's key directory (docs/kafka-encryption.md), not relays.
    #[allow(dead_code)] // read by serde only: the key is valid, its value unused
    pub consumer_relay: Option<String>,
    /// Carry records as they are instead of encrypting values end to end (default false).
    #[serde(default)]
    pub disable_content_encryption: bool,
    /// Encrypt only these top-level fields of JSON record values (`--encrypted-field`):
    /// `encrypted-fields: [secret, pin]`, or one as `encrypted-field: secret`.
    #[serde(default, alias = "encrypted-field", deserialize_with = "one_or_many")]
    pub encrypted_fields: Vec<String>,
}

/// A list of names, or one name alone.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Names;
    impl<'de> serde::de::Visitor<'de> for Names {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a name or a list of names")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Vec<String>, E> {
            Ok(vec![s.to_string()])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<String>, A::Error> {
            let mut names = Vec::new();
            while let Some(n) = seq.next_element()? {
                names.push(n);
            }
            Ok(names)
        }
    }
    d.deserialize_any(Names)
}

/// The name of the one Kafka outlet of `kafka-outlet:` and the one inlet of `kafka-inlet:`.
pub const SINGLE_KAFKA_NAME: &str = "kafka";

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
    /// One TCP outlet (`{to, from, allow}`), or named ones (see [`NodeFile::tcp_outlets`]).
    pub tcp_outlet: Option<yaml_serde::Value>,
    /// TCP outlets by name.
    #[serde(default)]
    pub tcp_outlets: BTreeMap<String, OutletEntry>,
    /// One TCP inlet (`{from, to | via, allow}`), or named ones (see [`NodeFile::tcp_inlets`]).
    pub tcp_inlet: Option<yaml_serde::Value>,
    /// TCP inlets by name.
    #[serde(default)]
    pub tcp_inlets: BTreeMap<String, InletEntry>,
    /// One Kafka outlet, named `kafka` (the seeds' form).
    pub kafka_outlet: Option<KafkaOutletEntry>,
    /// Kafka outlets by name.
    #[serde(default)]
    pub kafka_outlets: BTreeMap<String, KafkaOutletEntry>,
    /// One Kafka inlet, named `kafka` (the seeds' form).
    pub kafka_inlet: Option<KafkaInletEntry>,
    /// Kafka inlets by name.
    #[serde(default)]
    pub kafka_inlets: BTreeMap<String, KafkaInletEntry>,
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

/// `single` (named [`SINGLE_KAFKA_NAME`]) and the entries of `named`, by name; the name of the
/// single one may not be used in `named` as well.
fn merge_single<'a, T>(
    what: &str,
    single: Option<&'a T>,
    named: &'a BTreeMap<String, T>,
) -> Result<Vec<(String, &'a T)>> {
    let mut all: Vec<(String, &T)> = named.iter().map(|(n, e)| (n.clone(), e)).collect();
    if let Some(one) = single {
        if named.contains_key(SINGLE_KAFKA_NAME) {
            bail!("{what} and {what}s both define {what} {SINGLE_KAFKA_NAME:?}: name the single one in {what}s instead");
        }
        all.insert(0, (SINGLE_KAFKA_NAME.to_string(), one));
    }
    Ok(all)
}

/// The entries of `first` then those of `named`; a name defined twice is an error.
fn merge_named<T: Clone>(
    what: &str,
    mut first: Vec<(String, T)>,
    named: &BTreeMap<String, T>,
) -> Result<Vec<(String, T)>> {
    for (n, e) in named {
        if first.iter().any(|(m, _)| m == n) {
            bail!("{what} and {what}s both define {what} {n:?}: give it once");
        }
        first.push((n.clone(), e.clone()));
    }
    Ok(first)
}

impl NodeFile {
    /// The TCP outlets of `tcp-outlet:` (one, named `outlet`, or a map) and `tcp-outlets:`, by
    /// name; a name may appear once.
    pub fn tcp_outlets(&self) -> Result<Vec<(String, OutletEntry)>> {
        let single = match &self.tcp_outlet {
            Some(v) => single_or_named("tcp-outlet", SINGLE_OUTLET_NAME, v)?,
            None => vec![],
        };
        merge_named("tcp-outlet", single, &self.tcp_outlets)
    }

    /// The TCP inlets of `tcp-inlet:` (one, named `inlet`, or a map) and `tcp-inlets:`, by name.
    pub fn tcp_inlets(&self) -> Result<Vec<(String, InletEntry)>> {
        let single = match &self.tcp_inlet {
            Some(v) => single_or_named("tcp-inlet", SINGLE_INLET_NAME, v)?,
            None => vec![],
        };
        merge_named("tcp-inlet", single, &self.tcp_inlets)
    }

    /// The Kafka outlets: `kafka-outlet:` (named `kafka`) and those of `kafka-outlets:`.
    pub fn kafka_outlets(&self) -> Result<Vec<(String, &KafkaOutletEntry)>> {
        merge_single(
            "kafka-outlet",
            self.kafka_outlet.as_ref(),
            &self.kafka_outlets,
        )
    }

    /// The Kafka inlets: `kafka-inlet:` (named `kafka`) and those of `kafka-inlets:`.
    pub fn kafka_inlets(&self) -> Result<Vec<(String, &KafkaInletEntry)>> {
        merge_single("kafka-inlet", self.kafka_inlet.as_ref(), &self.kafka_inlets)
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
mod tests;
