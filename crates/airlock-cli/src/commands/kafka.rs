//! `airlock kafka-outlet …` and `airlock kafka-inlet …`

use crate::cli::{KafkaClientArgs, KafkaClientCmd, KafkaInletCmd, KafkaOutletCmd};
use crate::context::{table, Ctx};
use crate::control::protocol::LinkStatus;
use crate::home::{validate_name, KafkaInletRow};
use crate::operations::kafka::{
    check_encrypted_fields, check_outlet_node_route, check_ports, via_route, DEFAULT_VIA,
};
use crate::operations::progress;
use crate::output::{last_error, KafkaInletReport};
use airlock_node::kafka::{KafkaInletSpec, KafkaOutletSpec};
use anyhow::{anyhow, bail, Context, Result};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

pub fn outlet(ctx: &Ctx, cmd: KafkaOutletCmd) -> Result<()> {
    match cmd {
        KafkaOutletCmd::Create {
            name,
            bootstrap_server,
            tls,
            tls_ca_file,
            at,
        } => {
            let node = ctx.node_name(at.as_deref())?;
            let name = name.trim_start_matches("/service/").to_string();
            validate_name("Kafka outlet", &name)?;
            let spec = outlet_spec(&name, &bootstrap_server, tls, tls_ca_file.as_deref())?;
            let outlet = ctx.client(&node)?.create_kafka_outlet(spec.clone(), T)?;
            ctx.home.insert_kafka_outlet(&node, &spec)?;
            eprintln!(
                "Created Kafka outlet /service/{name} on node {node}, forwarding to the Kafka cluster at {}{}.",
                spec.bootstrap_server,
                tls_note(&spec)
            );
            ctx.show(&outlet, |o| o.address.clone());
        }
        KafkaOutletCmd::List { at } => {
            let node = ctx.node_name(at.as_deref())?;
            let outlets = ctx.client(&node)?.kafka_outlets(T)?;
            let empty = format!("No Kafka outlets on node {node}.");
            ctx.show_list(&outlets, &empty, |outlets| {
                let rows = outlets.iter().map(|o| {
                    vec![
                        o.name.clone(),
                        o.address.clone(),
                        o.bootstrap_server.clone(),
                        match (&o.tls, &o.tls_ca_file) {
                            (false, _) => "no".to_string(),
                            (true, None) => "yes".to_string(),
                            (true, Some(ca)) => format!("yes (CA {ca})"),
                        },
                        o.brokers.len().to_string(),
                        o.connections.to_string(),
                    ]
                });
                table(
                    &[
                        "NAME",
                        "ADDRESS",
                        "BOOTSTRAP SERVER",
                        "TLS",
                        "BROKERS",
                        "CONNECTIONS",
                    ],
                    rows.collect(),
                )
            });
        }
        KafkaOutletCmd::Show { name, at } => {
            let node = ctx.node_name(at.as_deref())?;
            let outlet = ctx
                .client(&node)?
                .kafka_outlets(T)?
                .into_iter()
                .find(|o| o.name == name)
                .with_context(|| format!("no Kafka outlet named {name:?} on node {node}"))?;
            ctx.show_fields(&outlet);
        }
        KafkaOutletCmd::Delete { name, at } => {
            let node = ctx.node_name(at.as_deref())?;
            ctx.client(&node)?.delete_kafka_outlet(&name, T)?;
            ctx.home.delete_kafka_outlet(&node, &name)?;
            eprintln!("Deleted Kafka outlet {name} on node {node}");
        }
    }
    Ok(())
}

/// `airlock kafka-producer …` and `airlock kafka-consumer …` (`kind`): an encrypting Kafka inlet
/// named `KIND-N` unless named; `list` and `delete` are `kafka-inlet`'s.
pub fn client(ctx: &Ctx, kind: &str, cmd: KafkaClientCmd) -> Result<()> {
    let cmd = match cmd {
        KafkaClientCmd::List { at } => KafkaInletCmd::List { at },
        KafkaClientCmd::Delete { name, at } => KafkaInletCmd::Delete { name, at },
        KafkaClientCmd::Create(args) => {
            let KafkaClientArgs {
                name,
                bootstrap_server,
                brokers_port_range,
                to,
                via,
                project,
                outlet,
                authorized,
                encrypted_fields,
                at,
                wait,
            } = args;
            let name = match name {
                Some(n) => n,
                None => {
                    let node = ctx.node_name(at.as_deref())?;
                    let existing: Vec<String> = ctx
                        .home
                        .kafka_inlets(&node)?
                        .into_iter()
                        .map(|i| i.name)
                        .collect();
                    (1..)
                        .map(|i| format!("{kind}-{i}"))
                        .find(|n| !existing.contains(n))
                        .expect("infinite")
                }
            };
            eprintln!(
                "Creating {kind} {name}: an encrypting Kafka inlet at {bootstrap_server} (see `airlock kafka-inlet show {name}`)."
            );
            KafkaInletCmd::Create {
                name: Some(name),
                from: bootstrap_server,
                to,
                via,
                project,
                outlet,
                brokers_port_range,
                authorized,
                disable_content_encryption: false,
                encrypted_fields,
                at,
                wait,
            }
        }
    };
    inlet(ctx, cmd)
}

/// The spec of `kafka-outlet create` (and of the project's Kafka add-on): a HOST:PORT
/// bootstrap server, and a CA file made absolute (the node reads it, from its own directory).
pub fn outlet_spec(
    name: &str,
    bootstrap_server: &str,
    tls: bool,
    tls_ca_file: Option<&std::path::Path>,
) -> Result<KafkaOutletSpec> {
    let server = bootstrap_server.trim().to_string();
    if crate::routes::address_to_route(&server).is_err() {
        bail!(
            "--bootstrap-server {bootstrap_server:?} is not HOST:PORT (for example 127.0.0.1:9092)"
        );
    }
    if tls_ca_file.is_some() && !tls {
        bail!("--tls-ca-file is for --tls");
    }
    let tls_ca_file = match tls_ca_file {
        None => None,
        Some(p) => {
            let abs = std::fs::canonicalize(p)
                .with_context(|| format!("--tls-ca-file {}", p.display()))?;
            Some(
                abs.to_str()
                    .with_context(|| format!("--tls-ca-file {}: not UTF-8", abs.display()))?
                    .to_string(),
            )
        }
    };
    Ok(KafkaOutletSpec {
        name: name.to_string(),
        bootstrap_server: server,
        tls,
        tls_ca_file,
    })
}

/// ` over TLS (CA …)` for messages.
pub fn tls_note(spec: &KafkaOutletSpec) -> String {
    match (spec.tls, &spec.tls_ca_file) {
        (false, _) => String::new(),
        (true, None) => " over TLS".to_string(),
        (true, Some(ca)) => format!(" over TLS (trusting the CA in {ca})"),
    }
}

pub fn inlet(ctx: &Ctx, cmd: KafkaInletCmd) -> Result<()> {
    match cmd {
        KafkaInletCmd::Create {
            name,
            from,
            to,
            via,
            project,
            outlet,
            brokers_port_range,
            authorized,
            disable_content_encryption,
            encrypted_fields,
            at,
            wait,
        } => {
            let node = ctx.node_name(at.as_deref())?;
            validate_name("Kafka outlet", &outlet)?;
            check_encrypted_fields(&encrypted_fields)
                .map_err(|e| anyhow!("--encrypted-field: {e}"))?;
            let from: std::net::SocketAddr = from.parse().with_context(|| {
                format!("--from {from:?} is not IP:PORT (for example 127.0.0.1:9092)")
            })?;
            check_ports(from, brokers_port_range).map_err(|e| anyhow!("{e}"))?;
            let (to, authorized) = match to {
                Some(to) => {
                    check_outlet_node_route(&to).map_err(|e| anyhow!("--to {e}"))?;
                    (to, authorized)
                }
                None => {
                    let chosen = via.is_some();
                    let via = via.unwrap_or_else(|| DEFAULT_VIA.to_string());
                    let project = match project {
                        Some(p) => p,
                        None => ctx.home.default_project().with_context(|| {
                            if chosen {
                                format!("--via {via} reaches the Kafka outlet's node through a project relay")
                            } else {
                                format!(
                                    "give the route to the Kafka outlet's node with --to ROUTE (e.g. /node/n1/secure/api), or a project relay with --via RELAY (the default, `{via}`, needs a project)"
                                )
                            }
                        })?,
                    };
                    // Pin the node the project has the relay bound to (docs/protocol.md §9.5),
                    // unless --authorized chooses.
                    let authorized = if authorized.is_empty() {
                        crate::operations::enrollment::via_relay_pin(
                            &ctx.home, &node, &project, &via,
                        )?
                    } else {
                        authorized
                    };
                    (via_route(&project, &via), authorized)
                }
            };
            let name = match name {
                Some(n) => n,
                None => {
                    let existing: Vec<String> = ctx
                        .home
                        .kafka_inlets(&node)?
                        .into_iter()
                        .map(|i| i.name)
                        .collect();
                    (1..)
                        .map(|i| format!("kafka-inlet-{i}"))
                        .find(|n| !existing.contains(n))
                        .expect("infinite")
                }
            };
            validate_name("Kafka inlet", &name)?;
            let resolved = ctx.resolve_node_route(&to)?;
            let spec = KafkaInletSpec {
                name: name.clone(),
                from,
                to: resolved,
                outlet: outlet.clone(),
                broker_ports: brokers_port_range,
                authorized: authorized.clone(),
                encrypt: !disable_content_encryption,
                encrypted_fields: encrypted_fields.clone(),
            };
            // The node waits for the bootstrap link (up, or refused for good: then this is an
            // error and the node kept nothing); a transient failure leaves the inlet trying.
            let timeout = wait.unwrap_or(Duration::from_secs(3)) + Duration::from_secs(30);
            let mut client = ctx.client(&node)?;
            let mut inlet = progress::while_waiting(
                format!("Connecting Kafka inlet {name} to {to}/service/{outlet}…"),
                || client.create_kafka_inlet(spec, wait, timeout),
            )
            .with_context(|| format!("cannot create Kafka inlet {name} on node {node}"))?;
            inlet.authorized = authorized.clone();
            let bound = inlet.from.clone();
            ctx.home.insert_kafka_inlet(
                &node,
                &KafkaInletRow {
                    name: name.clone(),
                    bind: bound.clone(),
                    route: to.clone(),
                    outlet: outlet.clone(),
                    broker_ports: brokers_port_range,
                    authorized: authorized.clone(),
                    encrypt: !disable_content_encryption,
                    encrypted_fields: encrypted_fields.clone(),
                },
            )?;
            let what = format!(
                "Kafka inlet {name} on node {node}: {bound} (brokers {}) -> {to}/service/{outlet}",
                inlet.broker_ports
            );
            if inlet.status == LinkStatus::Up {
                eprintln!("Created {what}");
            } else {
                let why = inlet
                    .last_error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                if let Some(w) = wait {
                    bail!(
                        "{what} is not up after {}s{why}; the node keeps trying (see `airlock kafka-inlet show {name}`, or remove it with `airlock kafka-inlet delete {name}`)",
                        w.as_secs()
                    );
                }
                eprintln!(
                    "Created {what}, not up yet{why}; the node keeps trying (see `airlock kafka-inlet show {name}`)"
                );
            }
            // The route as the user gave it, beside the one the node dials (as `show` prints).
            let report = KafkaInletReport::from_views(&ctx.home, &node, vec![inlet])
                .into_iter()
                .next()
                .expect("one view in, one report out");
            ctx.show(&report, |r| r.inlet.from.clone());
        }
        KafkaInletCmd::List { at } => {
            let node = ctx.node_name(at.as_deref())?;
            let inlets =
                KafkaInletReport::from_views(&ctx.home, &node, ctx.client(&node)?.kafka_inlets(T)?);
            let empty = format!("No Kafka inlets on node {node}.");
            ctx.show_list(&inlets, &empty, |inlets| {
                let rows = inlets.iter().map(|KafkaInletReport { inlet: i, .. }| {
                    vec![
                        i.name.clone(),
                        i.from.clone(),
                        i.broker_ports.clone(),
                        format!("{}/service/{}", i.to, i.outlet),
                        i.status.to_string(),
                        i.connections.to_string(),
                        last_error(i.last_error.as_deref(), i.last_error_kind),
                    ]
                });
                table(
                    &[
                        "NAME",
                        "FROM",
                        "BROKER PORTS",
                        "TO",
                        "STATUS",
                        "CONNECTIONS",
                        "LAST ERROR",
                    ],
                    rows.collect(),
                )
            });
        }
        KafkaInletCmd::Show { name, at } => {
            let node = ctx.node_name(at.as_deref())?;
            let views = ctx.client(&node)?.kafka_inlets(T)?;
            let inlet = KafkaInletReport::from_views(&ctx.home, &node, views)
                .into_iter()
                .find(|i| i.inlet.name == name)
                .with_context(|| format!("no Kafka inlet named {name:?} on node {node}"))?;
            ctx.show_fields(&inlet);
        }
        KafkaInletCmd::Delete { name, at } => {
            let node = ctx.node_name(at.as_deref())?;
            ctx.client(&node)?.delete_kafka_inlet(&name, T)?;
            ctx.home.delete_kafka_inlet(&node, &name)?;
            eprintln!("Deleted Kafka inlet {name} on node {node}");
        }
    }
    Ok(())
}
