//! `airlock tcp-outlet …` and `airlock tcp-inlet …`

use crate::cli::{InletCmd, OutletCmd};
use crate::context::{table, Ctx};
use crate::control::protocol::LinkStatus;
use crate::home::validate_name;
use crate::operations::progress;
use crate::output::{last_error, InletReport};
use airlock_node::portal::{InletSpec, OutletSpec};
use anyhow::{bail, Context, Result};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

pub fn outlet(ctx: &Ctx, cmd: OutletCmd) -> Result<()> {
    match cmd {
        OutletCmd::Create { to, from, at } => {
            let node = ctx.node_name(at.as_deref())?;
            let name = from.trim_start_matches("/service/").to_string();
            validate_name("outlet", &name)?;
            if to.parse::<std::net::SocketAddr>().is_err() && !to.contains(':') {
                bail!("--to {to:?} is not HOST:PORT (for example 127.0.0.1:5432)");
            }
            let spec = OutletSpec {
                name: name.clone(),
                to: to.clone(),
            };
            let outlet = ctx.client(&node)?.create_outlet(spec, T)?;
            ctx.home.insert_outlet(&node, &name, &to)?;
            eprintln!("Created outlet /service/{name} on node {node}, forwarding to {to}.");
            ctx.show(&outlet, |o| o.address.clone());
        }
        OutletCmd::List { at } => {
            let node = ctx.node_name(at.as_deref())?;
            let outlets = ctx.client(&node)?.outlets(T)?;
            let empty = format!("No outlets on node {node}.");
            ctx.show_list(&outlets, &empty, |outlets| {
                let rows = outlets.iter().map(|o| {
                    let connections = o.connections.to_string();
                    vec![o.name.clone(), o.address.clone(), o.to.clone(), connections]
                });
                table(&["NAME", "ADDRESS", "TO", "CONNECTIONS"], rows.collect())
            });
        }
        OutletCmd::Show { name, at } => {
            let node = ctx.node_name(at.as_deref())?;
            let outlet = ctx
                .client(&node)?
                .outlets(T)?
                .into_iter()
                .find(|o| o.name == name)
                .with_context(|| format!("no outlet named {name:?} on node {node}"))?;
            ctx.show_fields(&outlet);
        }
        OutletCmd::Delete { name, at } => {
            let node = ctx.node_name(at.as_deref())?;
            ctx.client(&node)?.delete_outlet(&name, T)?;
            ctx.home.delete_outlet(&node, &name)?;
            eprintln!("Deleted outlet {name} on node {node}");
        }
    }
    Ok(())
}

pub fn inlet(ctx: &Ctx, cmd: InletCmd) -> Result<()> {
    match cmd {
        InletCmd::Create {
            from,
            to,
            via,
            project,
            alias,
            authorized,
            at,
            wait,
        } => {
            let node = ctx.node_name(at.as_deref())?;
            let (to, authorized) = match (via, to) {
                (Some(via), to) => {
                    if to.as_deref().is_some_and(|t| t.starts_with('/')) {
                        bail!(
                            "--via takes the outlet's name in --to, not a route (got {})",
                            to.unwrap_or_default()
                        );
                    }
                    let project = match project {
                        Some(p) => p,
                        None => ctx.home.default_project()?,
                    };
                    let route = format!(
                        "/project/{project}/service/forward_to_{via}/secure/api/service/{}",
                        to.as_deref().unwrap_or("outlet")
                    );
                    // Pin the node the project has the relay bound to (docs/protocol.md §9.5),
                    // unless --authorized chooses.
                    let authorized = if authorized.is_empty() {
                        crate::operations::enrollment::via_relay_pin(
                            &ctx.home, &node, &project, &via,
                        )?
                    } else {
                        authorized
                    };
                    (route, authorized)
                }
                (None, Some(to)) => (to, authorized),
                (None, None) => {
                    bail!("give the outlet's route with --to ROUTE, or a relay with --via NAME")
                }
            };
            let from: std::net::SocketAddr = from.parse().with_context(|| {
                format!("--from {from:?} is not IP:PORT (for example 127.0.0.1:15432)")
            })?;
            let name = match alias {
                Some(a) => a,
                None => {
                    let existing: Vec<String> = ctx
                        .home
                        .inlets(&node)?
                        .into_iter()
                        .map(|i| i.name)
                        .collect();
                    (1..)
                        .map(|i| format!("inlet-{i}"))
                        .find(|n| !existing.contains(n))
                        .expect("infinite")
                }
            };
            validate_name("inlet", &name)?;
            let resolved = ctx.resolve_node_route(&to)?;
            let spec = InletSpec {
                name: name.clone(),
                from,
                to: resolved,
                authorized: authorized.clone(),
            };
            // The node waits for the link (up, or refused for good: then this is an error and
            // the node kept nothing); a transient failure leaves the inlet trying.
            let timeout = wait.unwrap_or(Duration::from_secs(3)) + Duration::from_secs(30);
            let mut client = ctx.client(&node)?;
            let mut inlet =
                progress::while_waiting(format!("Connecting inlet {name} to {to}…"), || {
                    client.create_inlet(spec, wait, timeout)
                })
                .with_context(|| format!("cannot create inlet {name} on node {node}"))?;
            inlet.authorized = authorized.clone();
            let bound = inlet.from.clone();
            ctx.home
                .insert_inlet(&node, &name, &bound, &to, &authorized)?;
            if inlet.status == LinkStatus::Up {
                eprintln!("Created inlet {name} on node {node}: {bound} -> {to}");
            } else {
                let why = inlet
                    .last_error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                if let Some(w) = wait {
                    bail!(
                        "inlet {name} on node {node} ({bound} -> {to}) is not up after {}s{why}; the node keeps trying (see `airlock tcp-inlet show {name}`, or remove it with `airlock tcp-inlet delete {name}`)",
                        w.as_secs()
                    );
                }
                eprintln!(
                    "Created inlet {name} on node {node}: {bound} -> {to}, not up yet{why}; the node keeps trying (see `airlock tcp-inlet show {name}`)"
                );
            }
            // The route as the user gave it, beside the one the node dials (as `show` prints).
            let report = InletReport::from_views(&ctx.home, &node, vec![inlet])
                .into_iter()
                .next()
                .expect("one view in, one report out");
            ctx.show(&report, |r| r.inlet.from.clone());
        }
        InletCmd::List { at } => {
            let node = ctx.node_name(at.as_deref())?;
            let inlets = InletReport::from_views(&ctx.home, &node, ctx.client(&node)?.inlets(T)?);
            let empty = format!("No inlets on node {node}.");
            ctx.show_list(&inlets, &empty, |inlets| {
                let rows = inlets.iter().map(|InletReport { inlet: i, .. }| {
                    let (status, connections) = (i.status.to_string(), i.connections.to_string());
                    vec![
                        i.name.clone(),
                        i.from.clone(),
                        i.to.clone(),
                        status,
                        connections,
                        last_error(i.last_error.as_deref(), i.last_error_kind),
                    ]
                });
                table(
                    &["NAME", "FROM", "TO", "STATUS", "CONNECTIONS", "LAST ERROR"],
                    rows.collect(),
                )
            });
        }
        InletCmd::Show { name, at } => {
            let node = ctx.node_name(at.as_deref())?;
            let inlet = InletReport::from_views(&ctx.home, &node, ctx.client(&node)?.inlets(T)?)
                .into_iter()
                .find(|i| i.inlet.name == name)
                .with_context(|| format!("no inlet named {name:?} on node {node}"))?;
            ctx.show_fields(&inlet);
        }
        InletCmd::Delete { name, at } => {
            let node = ctx.node_name(at.as_deref())?;
            ctx.client(&node)?.delete_inlet(&name, T)?;
            ctx.home.delete_inlet(&node, &name)?;
            eprintln!("Deleted inlet {name} on node {node}");
        }
    }
    Ok(())
}
