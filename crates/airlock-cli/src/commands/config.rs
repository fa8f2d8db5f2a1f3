//! `airlock node create ./airlock.yaml`: enrolls the node's identity with the file's ticket,
//! records the node and its resources (policies, relays, portals), then starts it. Resources are
//! recorded first and the node creates them as it starts, so the same file works in the
//! background and with `--foreground`. The file itself is described in [`crate::node_file`].

use crate::cli::{NodeCreateArgs, RunArgs};
use crate::context::Ctx;
use crate::home::{validate_name, KafkaInletRow};
use crate::node_file::{
    interpolate, named, policy_error, ticket_problem, NodeFile, RelayEntry, Substitutions,
};
use crate::operations::kafka::{
    check_encrypted_fields, check_outlet_node_route, check_ports, parse_broker_ports, via_route,
    DEFAULT_FROM, DEFAULT_OUTLET, DEFAULT_VIA,
};
use crate::operations::{enrollment, process};
use airlock_daemon::{run_node, RunOptions};
use anyhow::{bail, Context, Result};

/// Reads, checks and applies a node file: enroll, record resources, start the node.
pub fn create_from_file(ctx: Ctx, args: NodeCreateArgs) -> Result<()> {
    let path = args.name.as_deref().unwrap_or_default();
    let (foreground, run) = (args.foreground, &args.run);
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
    run: &RunArgs,
    opts: &RunOptions,
) -> Result<()> {
    let file = NodeFile::parse(path, text)?;
    let name = file.name.clone().unwrap_or_else(|| "default".into());
    validate_name("node", &name).map_err(|e| named(path, subs, "name", &name, e))?;
    let identity = match &file.identity {
        Some(i) => {
            validate_name("identity", i).map_err(|e| named(path, subs, "identity", i, e))?;
            i.clone()
        }
        None => name.clone(),
    };
    let created_identity = ctx.home.identity_row(&identity)?.is_none();
    if created_identity {
        ctx.home.create_identity(&identity)?;
    }
    // An identity made for this file leaves no trace if the file cannot be applied before the
    // node is recorded (a bad ticket, an unreachable project).
    let forget_identity = |e: anyhow::Error| {
        if created_identity && ctx.home.delete_identity(&identity).is_ok() {
            eprintln!("Removed identity {identity} again.");
        }
        e
    };
    if let Some(ticket) = &file.ticket {
        let already = !ctx.home.memberships(Some(&identity))?.is_empty();
        if !already {
            let label = subs.secret_field("ticket", ticket);
            if !std::path::Path::new(ticket).is_file() {
                if let Some(problem) = ticket_problem(ticket) {
                    return Err(forget_identity(anyhow::anyhow!(
                        "{path}: {label} is not a valid ticket: {problem}"
                    )));
                }
            }
            // Progress on stderr only: in the foreground, stdout carries the (JSON) logs.
            enrollment::enroll_identity(
                &ctx.home,
                Some(ticket.clone()),
                Some(identity.clone()),
                None,
            )
            .with_context(|| format!("{path}: enrolling with the {label}"))
            .map_err(forget_identity)?;
        }
    }
    let project = match &file.project {
        Some(p) => Some(p.clone()),
        None => ctx
            .home
            .memberships(Some(&identity))?
            .first()
            .map(|m| m.project.clone()),
    };
    if ctx.home.node(&name)?.is_some() {
        // The file is the source of truth: a node recorded by an earlier run of the same
        // command (a container restarting on kept state) is recorded again from the file.
        if process::is_running(&ctx.home, &name) {
            bail!("a node named {name:?} is already running (stop it with `airlock node stop {name}`)");
        }
        ctx.home.delete_node(&name)?;
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
    ctx.home
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
            ctx.home.put_policy(
                &name,
                p.resource.as_deref().unwrap_or(""),
                p.resource_type.as_deref().unwrap_or(""),
                &policy.to_string(),
            )?;
        }
        for r in &file.relays().with_context(|| path.to_string())? {
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
            ctx.home.put_relay(&name, relay, &at, authorized)?;
        }
        // `allow` of one portal: its policy, by resource name and type.
        let allow = |resource: &str, resource_type: &str, allow: &Option<String>| -> Result<()> {
            let Some(a) = allow else { return Ok(()) };
            let policy = crate::node_file::parse_allow(a)
                .map_err(|err| policy_error(path, subs, "allow", a, &err))?;
            ctx.home
                .put_policy(&name, resource, resource_type, &policy.to_string())?;
            Ok(())
        };
        let tcp_outlets = file.tcp_outlets().with_context(|| path.to_string())?;
        let several = tcp_outlets.len() > 1;
        for (oname, o) in &tcp_outlets {
            let service = o.from.clone().unwrap_or_else(|| {
                if several {
                    oname.clone()
                } else {
                    crate::node_file::SINGLE_OUTLET_NAME.into()
                }
            });
            validate_name("outlet", &service)
                .map_err(|e| named(path, subs, "tcp-outlet from", &service, e))?;
            ctx.home.insert_outlet(&name, &service, &o.to)?;
            allow(&service, "tcp-outlet", &o.allow)?;
        }
        for (iname, i) in &file.tcp_inlets().with_context(|| path.to_string())? {
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
            ctx.home
                .insert_inlet(&name, iname, &i.from, &to, &i.authorized)?;
            allow(iname, "tcp-inlet", &i.allow)?;
        }
        for (oname, o) in file.kafka_outlets().with_context(|| path.to_string())? {
            validate_name("Kafka outlet", &oname)
                .map_err(|e| named(path, subs, "kafka-outlet", &oname, e))?;
            let server = o.bootstrap_server.trim();
            crate::routes::address_to_route(server).map_err(|_| {
                anyhow::anyhow!(
                    "{path}: kafka-outlet {oname}: {} is not HOST:PORT",
                    subs.field("bootstrap-server", &o.bootstrap_server)
                )
            })?;
            // A relative CA file is the node file's neighbour.
            let ca = o.tls_ca_file.as_deref().map(|ca| {
                let dir = std::path::Path::new(path)
                    .parent()
                    .unwrap_or(std::path::Path::new(""));
                dir.join(ca)
            });
            let spec = crate::commands::kafka::outlet_spec(&oname, server, o.tls, ca.as_deref())
                .map_err(|e| anyhow::anyhow!("{path}: kafka-outlet {oname}: {e:#}"))?;
            ctx.home.insert_kafka_outlet(&name, &spec)?;
        }
        for (iname, i) in file.kafka_inlets().with_context(|| path.to_string())? {
            validate_name("Kafka inlet", &iname)
                .map_err(|e| named(path, subs, "kafka-inlet", &iname, e))?;
            let at = |e: String| anyhow::anyhow!("{path}: kafka-inlet {iname}: {e}");
            let from = i.from.as_deref().unwrap_or(DEFAULT_FROM);
            let bind: std::net::SocketAddr = from
                .parse()
                .map_err(|_| at(format!("{} is not IP:PORT", subs.field("from", from))))?;
            let broker_ports = match &i.brokers_port_range {
                Some(r) => Some(
                    parse_broker_ports(r)
                        .map_err(|e| at(format!("{}: {e}", subs.field("brokers-port-range", r))))?,
                ),
                None => None,
            };
            check_ports(bind, broker_ports).map_err(at)?;
            let outlet = i.outlet.clone().unwrap_or_else(|| DEFAULT_OUTLET.into());
            validate_name("Kafka outlet", &outlet)
                .map_err(|e| named(path, subs, "kafka-inlet outlet", &outlet, e))?;
            let to = match (&i.via, &i.to) {
                (Some(_), Some(_)) => return Err(at("give `to` or `via`, not both".into())),
                (None, Some(to)) => {
                    check_outlet_node_route(to)
                        .map_err(|e| at(format!("{}: {e}", subs.field("to", to))))?;
                    to.clone()
                }
                (via, None) => {
                    let via = via.as_deref().unwrap_or(DEFAULT_VIA);
                    let p = project.clone().ok_or_else(|| {
                        at(format!("reaching the Kafka outlet through relay {via} needs a project: give a ticket (or enroll first), or `to`"))
                    })?;
                    via_route(&p, via)
                }
            };
            if i.disable_content_encryption && !i.encrypted_fields.is_empty() {
                return Err(at(
                    "`encrypted-fields` encrypts fields and `disable-content-encryption` turns encryption off: give one of them".into(),
                ));
            }
            check_encrypted_fields(&i.encrypted_fields)
                .map_err(|e| at(format!("encrypted-fields: {e}")))?;
            // `consumer-relay` (the seeds' files) needs nothing: data keys go through the
            // project's key directory.
            ctx.home.insert_kafka_inlet(
                &name,
                &KafkaInletRow {
                    name: iname.clone(),
                    bind: bind.to_string(),
                    route: to,
                    outlet,
                    broker_ports,
                    authorized: i.authorized.clone(),
                    encrypt: !i.disable_content_encryption,
                    encrypted_fields: i.encrypted_fields.clone(),
                },
            )?;
        }
        Ok(())
    };
    if let Err(e) = record() {
        ctx.home.delete_node(&name)?;
        return Err(e);
    }
    ctx.home.set_node_run_args(&name, &run.to_args())?;
    if foreground {
        return Ok(run_node(ctx.home, &name, opts)?);
    }
    match process::spawn(&ctx.home, &name, run) {
        Ok(started) => {
            ctx.print_started(&name, &started);
            Ok(())
        }
        Err(e) => {
            let _ = ctx.home.delete_node(&name);
            Err(e)
        }
    }
}
