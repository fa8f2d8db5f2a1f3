//! `airlock tcp-outlet …` and `airlock tcp-inlet …`

use crate::cli::{InletCmd, OutletCmd};
use crate::context::{json_table, Ctx};
use crate::control::Request;
use crate::state::validate_name;
use airlock_node::portal::{InletSpec, OutletSpec};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn find(list: Value, name: &str, kind: &str, node: &str) -> Result<Value> {
    list.as_array()
        .and_then(|a| a.iter().find(|o| o["name"] == name).cloned())
        .with_context(|| format!("no {kind} named {name:?} on node {node}"))
}

pub fn outlet(ctx: &Ctx, cmd: OutletCmd) -> Result<()> {
    match cmd {
        OutletCmd::Create { to, from, at } => {
            let node = ctx.node_name(at.as_deref())?;
            let name = from.trim_start_matches("/service/").to_string();
            validate_name("outlet", &name)?;
            if to.parse::<std::net::SocketAddr>().is_err() && !to.contains(':') {
                bail!("--to {to:?} is not HOST:PORT (for example 127.0.0.1:5432)");
            }
            let v = ctx.request(
                &node,
                Request::OutletCreate {
                    spec: OutletSpec {
                        name: name.clone(),
                        to: to.clone(),
                    },
                },
                T,
            )?;
            ctx.state.insert_outlet(&node, &name, &to)?;
            eprintln!("Created outlet /service/{name} on node {node}, forwarding to {to}.");
            ctx.print(&v, |v| {
                v["address"].as_str().unwrap_or_default().to_string()
            });
        }
        OutletCmd::List { at } => {
            let node = ctx.node_name(at.as_deref())?;
            let v = ctx.request(&node, Request::OutletList, T)?;
            ctx.print(&v, |v| {
                json_table(
                    v,
                    &[
                        ("NAME", "name"),
                        ("ADDRESS", "address"),
                        ("TO", "to"),
                        ("CONNECTIONS", "connections"),
                    ],
                )
            });
        }
        OutletCmd::Show { name, at } => {
            let node = ctx.node_name(at.as_deref())?;
            let v = find(
                ctx.request(&node, Request::OutletList, T)?,
                &name,
                "outlet",
                &node,
            )?;
            ctx.print(&v, |v| serde_json::to_string_pretty(v).unwrap_or_default());
        }
        OutletCmd::Delete { name, at } => {
            let node = ctx.node_name(at.as_deref())?;
            ctx.request(&node, Request::OutletDelete { name: name.clone() }, T)?;
            ctx.state.delete_outlet(&node, &name)?;
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
                        None => ctx.state.default_project()?,
                    };
                    let route = format!(
                        "/project/{project}/service/forward_to_{via}/secure/api/service/{}",
                        to.as_deref().unwrap_or("outlet")
                    );
                    // Pin the node the project has the relay bound to (docs/protocol.md §9.5),
                    // unless --authorized chooses.
                    let authorized = if authorized.is_empty() {
                        crate::operations::enrollment::via_relay_pin(
                            &ctx.state, &node, &project, &via,
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
                        .state
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
            let v = ctx.request(
                &node,
                Request::InletCreate { spec },
                Duration::from_secs(30),
            )?;
            let mut v = v;
            if !authorized.is_empty() {
                v["authorized"] = serde_json::json!(authorized);
            }
            let bound = v["from"].as_str().unwrap_or_default().to_string();
            ctx.state
                .insert_inlet(&node, &name, &bound, &to, &authorized)?;
            let status = v["status"].as_str().unwrap_or("down");
            eprintln!(
                "Created inlet {name} on node {node}: {bound} -> {to}{}",
                if status == "up" {
                    ""
                } else {
                    " (the outlet is not reachable yet; the inlet keeps trying)"
                }
            );
            ctx.print(&v, |v| v["from"].as_str().unwrap_or_default().to_string());
        }
        InletCmd::List { at } => {
            let node = ctx.node_name(at.as_deref())?;
            let v = ctx.request(&node, Request::InletList, T)?;
            ctx.print(&v, |v| {
                json_table(
                    v,
                    &[
                        ("NAME", "name"),
                        ("FROM", "from"),
                        ("TO", "to"),
                        ("STATUS", "status"),
                        ("CONNECTIONS", "connections"),
                    ],
                )
            });
        }
        InletCmd::Show { name, at } => {
            let node = ctx.node_name(at.as_deref())?;
            let v = find(
                ctx.request(&node, Request::InletList, T)?,
                &name,
                "inlet",
                &node,
            )?;
            ctx.print(&v, |v| serde_json::to_string_pretty(v).unwrap_or_default());
        }
        InletCmd::Delete { name, at } => {
            let node = ctx.node_name(at.as_deref())?;
            ctx.request(&node, Request::InletDelete { name: name.clone() }, T)?;
            ctx.state.delete_inlet(&node, &name)?;
            eprintln!("Deleted inlet {name} on node {node}");
        }
    }
    Ok(())
}
