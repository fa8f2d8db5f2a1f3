//! `airlock node create ./airlock.yaml`: one file per party.
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
//! ticket: …`) and never prints the value ([`Substitutions`]). Resources are recorded first and the node
//! creates them as it starts, so the same file works in the background and with `--foreground`.

use super::Ctx;
use crate::state::validate_name;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A relay: its name (registered at the project), or where to register it.
#[derive(Debug)]
enum RelayEntry {
    Name(String),
    At(RelayAt),
}

impl RelayEntry {
    /// One entry of `relay:`: a name or a `{name, at, authorized}` map (checked key by key, so
    /// that an unknown key is named in the error).
    fn from_yaml(v: &serde_yaml::Value) -> Result<Self> {
        match v {
            serde_yaml::Value::String(n) => Ok(RelayEntry::Name(n.clone())),
            serde_yaml::Value::Mapping(_) => serde_yaml::from_value(v.clone())
                .map(RelayEntry::At)
                .map_err(|e| anyhow::anyhow!("relay entry {}: {e}", describe(v))),
            _ => bail!(
                "relay entry {}: give a name or {{name, at, authorized}}",
                describe(v)
            ),
        }
    }
}

fn describe(v: &serde_yaml::Value) -> String {
    serde_yaml::to_string(v)
        .unwrap_or_default()
        .trim()
        .replace('\n', ", ")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RelayAt {
    name: String,
    /// `/project/P`, `/node/N` or any route to a node (default: the project).
    at: Option<String>,
    /// Accept only these identities as the relay host.
    #[serde(default)]
    authorized: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct PolicyEntry {
    resource: Option<String>,
    resource_type: Option<String>,
    expression: Option<String>,
    allow: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutletEntry {
    to: String,
    from: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InletEntry {
    from: String,
    to: Option<String>,
    via: Option<String>,
    #[serde(default)]
    authorized: Vec<String>,
}

/// The file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct NodeFile {
    name: Option<String>,
    ticket: Option<String>,
    identity: Option<String>,
    project: Option<String>,
    tcp_listener_address: Option<String>,
    /// A relay entry or a list of them (see [`RelayEntry::from_yaml`]).
    #[serde(alias = "relays")]
    relay: Option<serde_yaml::Value>,
    #[serde(default, alias = "policy")]
    policies: Vec<PolicyEntry>,
    #[serde(default, alias = "tcp-outlet")]
    tcp_outlets: BTreeMap<String, OutletEntry>,
    #[serde(default, alias = "tcp-inlet")]
    tcp_inlets: BTreeMap<String, InletEntry>,
}

/// Values that [`interpolate`] took from the environment, by variable name: a value in a node
/// file may be a secret (`ticket: ${ENROLLMENT_TICKET}`), so an error about it names the
/// variable instead of printing what it held.
#[derive(Debug, Default)]
pub struct Substitutions(Vec<(String, String)>);

/// Values shorter than this are matched whole only (as a field's entire value), never searched
/// for inside messages: replacing `1` or `db` everywhere would garble them, and hides nothing.
const MIN_SCRUBBED: usize = 4;
/// Values at least this long are also searched for as prefixes (of at least [`MIN_PREFIX`]
/// bytes), since some messages echo only the start of a bad value (`airlock-ticket:…`).
const MIN_PREFIXED: usize = 24;
/// Shortest prefix of a long value that is hidden.
const MIN_PREFIX: usize = 16;

impl Substitutions {
    fn add(&mut self, name: &str, value: &str) {
        if !self.0.iter().any(|(n, v)| n == name && v == value) {
            self.0.push((name.to_string(), value.to_string()));
        }
    }

    /// The variables (as `${VAR}`) whose values make up part or all of `value`.
    pub fn sources(&self, value: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .0
            .iter()
            .filter(|(_, v)| {
                !v.is_empty()
                    && (v == value || (v.len() >= MIN_SCRUBBED && value.contains(v.as_str())))
            })
            .map(|(n, _)| format!("${{{n}}}"))
            .collect();
        names.dedup();
        names
    }

    /// How an error names field `field` holding `value`: `field "value"`, or, when the value
    /// came (in part) from the environment, `field (from ${VAR})` without the value.
    pub fn field(&self, field: &str, value: &str) -> String {
        let from = self.sources(value);
        if from.is_empty() {
            format!("{field} {value:?}")
        } else {
            format!("{field} (from {})", from.join(", "))
        }
    }

    /// Like [`Substitutions::field`], but never shows the value (for secrets such as tickets).
    pub fn secret_field(&self, field: &str, value: &str) -> String {
        let from = self.sources(value);
        if from.is_empty() {
            field.to_string()
        } else {
            format!("{field} (from {})", from.join(", "))
        }
    }

    /// `msg` with every value taken from the environment replaced by `${VAR}`: as written, as
    /// a quoted string would escape it, and, for long values, any prefix of [`MIN_PREFIX`]
    /// bytes or more (a truncated echo). The last line of defence for errors about a node file.
    pub fn scrub(&self, msg: &str) -> String {
        let mut vars: Vec<&(String, String)> = self
            .0
            .iter()
            .filter(|(_, v)| v.len() >= MIN_SCRUBBED)
            .collect();
        vars.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        let mut out = msg.to_string();
        for (name, value) in vars {
            let var = format!("${{{name}}}");
            let quoted = format!("{value:?}");
            let escaped = &quoted[1..quoted.len() - 1];
            // Whole forms first (the escaped one is the longer), then truncated echoes.
            for form in [escaped, value.as_str()] {
                out = out.replace(form, &var);
            }
            for form in [escaped, value.as_str()] {
                if form.len() >= MIN_PREFIXED {
                    for end in (MIN_PREFIX..form.len()).rev() {
                        if let Some(prefix) = form.get(..end) {
                            if out.contains(prefix) {
                                out = out.replace(prefix, &var);
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// `e` (with its causes) scrubbed by [`Substitutions::scrub`]; unchanged if there is
    /// nothing to hide.
    pub fn scrub_error(&self, e: anyhow::Error) -> anyhow::Error {
        let msg = format!("{e:#}");
        let clean = self.scrub(&msg);
        if clean == msg {
            e
        } else {
            anyhow::anyhow!(clean)
        }
    }
}

/// Replaces `$VAR` / `${VAR}` from `lookup`; errors name the line. Returns the text and what
/// was substituted.
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(String, Substitutions)> {
    let mut subs = Substitutions::default();
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split_inclusive('\n').enumerate() {
        // Comment lines are left as they are: explaining `$ENROLLMENT_TICKET` in a comment must
        // not require the variable.
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, consumed) = if let Some(body) = after.strip_prefix('{') {
                let end = body.find('}').with_context(|| {
                    format!("line {}: unclosed ${{ in {:?}", n + 1, line.trim_end())
                })?;
                (&body[..end], end + 2)
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            };
            if name.is_empty() {
                out.push('$');
                rest = after;
                continue;
            }
            let value = lookup(name).with_context(|| {
                format!(
                    "line {}: environment variable {name} is not set (used in {:?})",
                    n + 1,
                    line.trim_end()
                )
            })?;
            subs.add(name, &value);
            out.push_str(&value);
            rest = &after[consumed..];
        }
        out.push_str(rest);
    }
    Ok((out, subs))
}

/// Is this `node create` argument a configuration file?
pub fn is_config_arg(arg: &str) -> bool {
    (arg.ends_with(".yaml") || arg.ends_with(".yml") || arg.contains('/'))
        && std::path::Path::new(arg).is_file()
}

/// Reads, checks and applies a node file: enroll, record resources, start the node.
pub fn create_from_file(
    ctx: Ctx,
    path: &str,
    foreground: bool,
    run: &crate::cli::RunArgs,
) -> Result<()> {
    let opts = run.options()?;
    let raw = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    let (text, subs) =
        interpolate(&raw, |k| std::env::var(k).ok()).with_context(|| format!("in {path}"))?;
    apply(ctx, path, &text, &subs, foreground, run, &opts).map_err(|e| subs.scrub_error(e))
}

/// Checks and applies the interpolated text of node file `path`. Errors name a value that came
/// from the environment by its variable ([`Substitutions::field`]); the caller scrubs what
/// slips through (messages from deeper layers) with [`Substitutions::scrub`].
fn apply(
    ctx: Ctx,
    path: &str,
    text: &str,
    subs: &Substitutions,
    foreground: bool,
    run: &crate::cli::RunArgs,
    opts: &super::runner::RunOptions,
) -> Result<()> {
    let file: NodeFile = serde_yaml::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("line {}, column {}: ", l.line(), l.column()))
            .unwrap_or_default();
        anyhow::anyhow!("{path}: {at}{e}")
    })?;
    let name = file.name.clone().unwrap_or_else(|| "default".into());
    validate_name("node", &name).map_err(|e| named(path, subs, "name", &name, e))?;
    let identity = match &file.identity {
        Some(i) => {
            validate_name("identity", i).map_err(|e| named(path, subs, "identity", i, e))?;
            i.clone()
        }
        None => name.clone(),
    };
    if ctx.state.identity_row(&identity)?.is_none() {
        ctx.state.create_identity(&identity)?;
    }
    if let Some(ticket) = &file.ticket {
        let already = !ctx.state.memberships(Some(&identity))?.is_empty();
        if !already {
            let label = subs.secret_field("ticket", ticket);
            if !std::path::Path::new(ticket).is_file() {
                if let Some(problem) = ticket_problem(ticket) {
                    bail!("{path}: {label} is not a valid ticket: {problem}");
                }
            }
            // Progress on stderr only: in the foreground, stdout carries the (JSON) logs.
            super::project::enroll_identity(
                &ctx,
                Some(ticket.clone()),
                Some(identity.clone()),
                None,
            )
            .with_context(|| format!("{path}: enrolling with the {label}"))?;
        }
    }
    let project = match &file.project {
        Some(p) => Some(p.clone()),
        None => ctx
            .state
            .memberships(Some(&identity))?
            .first()
            .map(|m| m.project.clone()),
    };
    if ctx.state.node(&name)?.is_some() {
        // The file is the source of truth: a node recorded by an earlier run of the same
        // command (a container restarting on kept state) is recorded again from the file.
        if super::node::is_running(&ctx, &name) {
            bail!("a node named {name:?} is already running (stop it with `airlock node stop {name}`)");
        }
        ctx.state.delete_node(&name)?;
        eprintln!("Node {name} exists from an earlier run: recording it again from {path}");
    }
    let listen = file
        .tcp_listener_address
        .clone()
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listen: std::net::SocketAddr = listen.parse().with_context(|| {
        format!(
            "{path}: {} is not IP:PORT",
            subs.field("tcp-listener-address", &listen)
        )
    })?;
    ctx.state
        .insert_node(&name, &identity, &listen.to_string())?;
    let record = || -> Result<()> {
        for p in &file.policies {
            let policy = match (&p.expression, &p.allow) {
                (Some(e), None) => airlock_abac::Policy::parse(e)
                    .map_err(|err| policy_error(path, subs, "expression", e, &err))?,
                (None, Some(a)) => airlock_abac::Policy::parse_boolean(a)
                    .map_err(|err| policy_error(path, subs, "allow", a, &err))?,
                _ => bail!("{path}: each policy needs exactly one of expression or allow"),
            };
            if p.resource.is_none() && p.resource_type.is_none() {
                bail!("{path}: each policy needs resource or resource-type");
            }
            if p.resource.as_deref() == Some("") {
                bail!("{path}: a policy's resource is empty");
            }
            if let Some(t) = &p.resource_type {
                if !airlock_node::policy::RESOURCE_TYPES.contains(&t.as_str()) {
                    bail!(
                        "{path}: unknown {} (one of {})",
                        subs.field("resource-type", t),
                        airlock_node::policy::RESOURCE_TYPES.join(", ")
                    );
                }
            }
            ctx.state.put_policy(
                &name,
                p.resource.as_deref().unwrap_or(""),
                p.resource_type.as_deref().unwrap_or(""),
                &policy.to_string(),
            )?;
        }
        let relays = match &file.relay {
            None | Some(serde_yaml::Value::Null) => vec![],
            Some(serde_yaml::Value::Sequence(v)) => v.iter().collect(),
            Some(one) => vec![one],
        };
        for r in relays {
            let r = &RelayEntry::from_yaml(r).with_context(|| path.to_string())?;
            let (relay, at, authorized) = match r {
                RelayEntry::Name(n) => (n, None, &[][..]),
                RelayEntry::At(a) => (&a.name, a.at.as_deref(), &a.authorized[..]),
            };
            if !airlock_project::relay::valid_relay_name(relay) {
                bail!(
                    "{path}: invalid {}: use 1-48 letters, digits, '-', '_' or '.'",
                    subs.field("relay name", relay)
                );
            }
            for id in authorized {
                id.parse::<airlock_identity::Identifier>()
                    .with_context(|| {
                        format!("{path}: relay {relay}: {}", subs.field("authorized", id))
                    })?;
            }
            let at = match at {
                Some(at) => ctx
                    .resolve_node_route(at)
                    .with_context(|| format!("{path}: relay {relay}: {}", subs.field("at", at)))?,
                None => {
                    let p = project.clone().with_context(|| {
                        format!("{path}: relay {relay} needs a project (give a ticket, or `at`)")
                    })?;
                    format!("/project/{p}")
                }
            };
            if !authorized.is_empty() && !airlock_project::relay::can_pin_host(&at) {
                bail!("{path}: relay {relay}: `authorized` needs an `at` route that ends in a secure channel to the relay host (the project route trusts only the project)");
            }
            ctx.state.put_relay(&name, relay, &at, authorized)?;
        }
        for (oname, o) in &file.tcp_outlets {
            let service = o.from.clone().unwrap_or_else(|| {
                if file.tcp_outlets.len() == 1 {
                    "outlet".into()
                } else {
                    oname.clone()
                }
            });
            validate_name("outlet", &service)
                .map_err(|e| named(path, subs, "tcp-outlet from", &service, e))?;
            ctx.state.insert_outlet(&name, &service, &o.to)?;
        }
        for (iname, i) in &file.tcp_inlets {
            validate_name("inlet", iname).map_err(|e| named(path, subs, "tcp-inlet", iname, e))?;
            let to = match (&i.via, &i.to) {
                (Some(via), to) => {
                    let p = project
                        .clone()
                        .context("--via needs a project: give a ticket (or enroll first)")?;
                    format!(
                        "/project/{p}/service/forward_to_{via}/secure/api/service/{}",
                        to.as_deref().unwrap_or("outlet")
                    )
                }
                (None, Some(to)) => to.clone(),
                (None, None) => bail!("{path}: tcp-inlet {iname} needs `to` or `via`"),
            };
            i.from.parse::<std::net::SocketAddr>().with_context(|| {
                format!(
                    "{path}: tcp-inlet {iname}: {} is not IP:PORT",
                    subs.field("from", &i.from)
                )
            })?;
            ctx.state
                .insert_inlet(&name, iname, &i.from, &to, &i.authorized)?;
        }
        Ok(())
    };
    if let Err(e) = record() {
        ctx.state.delete_node(&name)?;
        return Err(e);
    }
    if foreground {
        return super::node::run_node(ctx, &name, opts);
    }
    super::node::start_background(&ctx, &name, run).inspect_err(|_| {
        let _ = ctx.state.delete_node(&name);
    })
}

/// A name check's error, for `field` of the file: the check's own message when the value was
/// written in the file, or one naming the variable when it came from the environment.
fn named(
    path: &str,
    subs: &Substitutions,
    field: &str,
    value: &str,
    e: anyhow::Error,
) -> anyhow::Error {
    if subs.sources(value).is_empty() {
        anyhow::anyhow!("{path}: {e}")
    } else {
        let rule = e.to_string();
        let rule = rule.rsplit_once(": ").map(|(_, r)| r).unwrap_or("");
        anyhow::anyhow!(
            "{path}: {} is not a valid name: {rule}",
            subs.field(field, value)
        )
    }
}

/// A policy that does not parse: the expression shown under the error, unless it came from
/// the environment (then the variable is named and the position given).
fn policy_error(
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
fn ticket_problem(ticket: &str) -> Option<String> {
    match airlock_authority::Ticket::decode(ticket) {
        Ok(_) => None,
        // The decoder's format errors quote the start of the string or a character of it.
        Err(airlock_authority::TicketError::Format(detail)) => Some(
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
    fn interpolation_and_errors_name_the_line() {
        let env = |k: &str| (k == "T").then(|| "abc".to_string());
        assert_eq!(
            interpolate("a: $T\nb: ${T}x\nc: $$\n", env).unwrap().0,
            "a: abc\nb: abcx\nc: $$\n"
        );
        let e = interpolate("a: 1\nb: ${MISSING}\n", env)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("line 2:"), "{e}");
    }

    #[test]
    fn errors_name_the_variable_not_its_value() {
        const SECRET: &str = "tok_4e1f9a0b7c2d5e8f3a6b9c0d1e2f";
        let env = |k: &str| match k {
            "TICKET" => Some(SECRET.to_string()),
            "PORT" => Some("1".to_string()),
            _ => None,
        };
        let (text, subs) = interpolate("ticket: ${TICKET}\nport: $PORT\n", env).unwrap();
        assert_eq!(text, format!("ticket: {SECRET}\nport: 1\n"));
        assert_eq!(
            subs.secret_field("ticket", SECRET),
            "ticket (from ${TICKET})"
        );
        assert_eq!(subs.secret_field("ticket", "inline"), "ticket");
        assert_eq!(
            subs.field("at", &format!("/ip4/{SECRET}")),
            "at (from ${TICKET})"
        );
        assert_eq!(subs.field("port", "1"), "port (from ${PORT})");
        // A short value is recognised only whole: "10" is not from $PORT.
        assert_eq!(subs.field("port", "10"), "port \"10\"");
        // Scrubbing: as written, escaped by a quoting message, and a truncated echo.
        let msg = format!("bad {SECRET:?}; starts {}…; line 1", &SECRET[..20]);
        let clean = subs.scrub(&msg);
        assert!(!clean.contains(&SECRET[..16]), "{clean}");
        assert_eq!(clean, "bad \"${TICKET}\"; starts ${TICKET}…; line 1");
        let (_, subs) = interpolate("a: ${Q}\n", |_| Some(format!("{SECRET}\"x"))).unwrap();
        let clean = subs.scrub(&format!(
            "invalid type: string {:?}",
            format!("{SECRET}\"x")
        ));
        assert_eq!(clean, "invalid type: string \"${Q}\"");
        // Nothing to hide: the same error comes back.
        let e = subs.scrub_error(anyhow::anyhow!("plain"));
        assert_eq!(e.to_string(), "plain");
    }

    #[test]
    fn comment_lines_are_not_interpolated() {
        let text = "# the ticket comes from $ENROLLMENT_TICKET\nname: ${N}\n";
        let (out, _) = interpolate(text, |k| (k == "N").then(|| "bank".to_string())).unwrap();
        assert_eq!(
            out,
            "# the ticket comes from $ENROLLMENT_TICKET\nname: bank\n"
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let e = serde_yaml::from_str::<NodeFile>("name: a\nbogus: 1\n").unwrap_err();
        assert_eq!(e.location().unwrap().line(), 2);
        let ok: NodeFile = serde_yaml::from_str(
            "name: bank\nticket: t\nrelay: mongodb\npolicies:\n  - resource-type: tcp-outlet\n    expression: (= subject.a \"true\")\ntcp-outlets:\n  db: { to: 127.0.0.1:1 }\ntcp-inlets:\n  db: { from: 127.0.0.1:2, via: mongodb }\n",
        )
        .unwrap();
        assert_eq!(ok.tcp_inlets["db"].via.as_deref(), Some("mongodb"));
    }

    #[test]
    fn relays_are_names_or_entries() {
        let f: NodeFile = serde_yaml::from_str(
            "relays:\n  - mongodb\n  - { name: edge, at: /ip4/10.0.0.1/tcp/4000, authorized: [I00] }\n",
        )
        .unwrap();
        let Some(serde_yaml::Value::Sequence(v)) = f.relay else {
            panic!("a list")
        };
        let v: Vec<RelayEntry> = v
            .iter()
            .map(|e| RelayEntry::from_yaml(e).unwrap())
            .collect();
        assert!(matches!(&v[0], RelayEntry::Name(n) if n == "mongodb"));
        assert!(matches!(&v[1], RelayEntry::At(a) if a.name == "edge" && a.authorized == ["I00"]));
        let f: NodeFile = serde_yaml::from_str("relay: { name: x, bogus: 1 }\n").unwrap();
        let e = RelayEntry::from_yaml(&f.relay.unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `bogus`"), "{e}");
        let f: NodeFile = serde_yaml::from_str("relay: [[a]]\n").unwrap();
        let Some(serde_yaml::Value::Sequence(v)) = f.relay else {
            panic!("a list")
        };
        assert!(RelayEntry::from_yaml(&v[0]).is_err());
    }
}
