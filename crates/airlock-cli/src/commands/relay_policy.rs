//! `airlock policy …` and `airlock relay …`

use crate::cli::{PolicyCmd, RelayCmd};
use crate::context::{json_table, Ctx};
use crate::control::Request;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

pub fn policy(ctx: &Ctx, cmd: PolicyCmd) -> Result<()> {
    match cmd {
        PolicyCmd::Create {
            resource,
            resource_type,
            expression,
            allow,
            at,
        } => {
            let node = ctx.node_name(at.as_deref())?;
            let policy = match (expression, allow) {
                (Some(e), None) => airlock_abac::Policy::parse(&e)
                    .map_err(|err| anyhow::anyhow!("invalid --expression:\n{}", err.render(&e)))?,
                (None, Some(a)) => airlock_abac::Policy::parse_boolean(&a)
                    .map_err(|err| anyhow::anyhow!("invalid --allow:\n{}", err.render(&a)))?,
                _ => bail!("give the policy with --expression S-EXPR or --allow 'a and not b'"),
            };
            if resource.is_none() && resource_type.is_none() {
                bail!("give --resource NAME or --resource-type TYPE");
            }
            let expression = policy.to_string();
            let v = ctx.request(
                &node,
                Request::PolicyCreate {
                    resource: resource.clone(),
                    resource_type: resource_type.clone(),
                    expression: expression.clone(),
                },
                T,
            )?;
            ctx.state.put_policy(
                &node,
                resource.as_deref().unwrap_or(""),
                resource_type.as_deref().unwrap_or(""),
                &expression,
            )?;
            eprintln!(
                "Policy for {} on node {node}: {expression}",
                match (resource.as_deref(), resource_type.as_deref()) {
                    (Some(r), Some(t)) => format!("{t} {r}"),
                    (Some(r), None) => format!("resource {r} (any type)"),
                    (None, t) => format!("type {}", t.unwrap_or_default()),
                }
            );
            ctx.print(&v, |v| {
                v["expression"].as_str().unwrap_or_default().to_string()
            });
        }
        PolicyCmd::List { at } => {
            let node = ctx.node_name(at.as_deref())?;
            let v = ctx.request(&node, Request::PolicyList, T)?;
            ctx.print(&v, |v| {
                json_table(
                    v,
                    &[
                        ("RESOURCE", "resource"),
                        ("TYPE", "resource_type"),
                        ("EXPRESSION", "expression"),
                    ],
                )
            });
        }
        PolicyCmd::Show {
            resource,
            resource_type,
            at,
        } => {
            let node = ctx.node_name(at.as_deref())?;
            let v = ctx.request(&node, Request::PolicyList, T)?;
            let found = v
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .find(|p| {
                            p["resource"].as_str() == resource.as_deref() && p["resource_type"].as_str() == resource_type.as_deref()
                        })
                        .cloned()
                })
                .context("no policy was created for exactly this --resource/--resource-type (see `airlock policy list`)")?;
            ctx.print(&found, |p| {
                p["expression"].as_str().unwrap_or_default().to_string()
            });
        }
        PolicyCmd::Delete {
            resource,
            resource_type,
            at,
        } => {
            let node = ctx.node_name(at.as_deref())?;
            ctx.request(
                &node,
                Request::PolicyDelete {
                    resource: resource.clone(),
                    resource_type: resource_type.clone(),
                },
                T,
            )?;
            ctx.state.delete_policy(
                &node,
                resource.as_deref().unwrap_or(""),
                resource_type.as_deref().unwrap_or(""),
            )?;
            eprintln!("Deleted the policy on node {node}");
        }
    }
    Ok(())
}

pub fn relay(ctx: &Ctx, cmd: RelayCmd) -> Result<()> {
    match cmd {
        RelayCmd::Create {
            name,
            at,
            to,
            project,
            authorized,
        } => {
            let node = ctx.node_name(to.as_deref())?;
            let at = match (at, project) {
                (Some(at), _) => ctx.resolve_node_route(&at)?,
                (None, Some(p)) => format!("/project/{p}"),
                (None, None) => format!("/project/{}", ctx.state.default_project()?),
            };
            eprintln!("Registering relay {name} at {at}…");
            let v = ctx.request(
                &node,
                Request::RelayCreate {
                    name: name.clone(),
                    at: at.clone(),
                    authorized: authorized.clone(),
                },
                Duration::from_secs(30),
            )?;
            // A node still running an older binary would drop the pin without a word.
            if !authorized.is_empty()
                && v["authorized"].as_array().map(Vec::len) != Some(authorized.len())
            {
                let undone = match ctx.request(&node, Request::RelayDelete { name: name.clone() }, T) {
                    Ok(_) => "the relay was removed again".to_string(),
                    Err(e) => format!("removing the unpinned relay failed too ({e:#}): delete it with `airlock relay delete {name} --to {node}`"),
                };
                bail!("node {node} did not pin the relay host (it runs an older airlock; {undone}): restart it with `airlock node stop {node} && airlock node start {node}` and try again");
            }
            ctx.state.put_relay(&node, &name, &at, &authorized)?;
            if let Some(w) = v["warning"].as_str() {
                eprintln!("Relay {name} is not registered yet ({w}); the node keeps trying.");
            } else {
                eprintln!(
                    "Relay {name} is up: others reach this node at {}",
                    v["address"].as_str().unwrap_or("")
                );
            }
            ctx.print(&v, |v| {
                v["address"].as_str().unwrap_or_default().to_string()
            });
        }
        RelayCmd::List { to } => {
            let node = ctx.node_name(to.as_deref())?;
            let v = ctx.request(&node, Request::RelayList, T)?;
            ctx.print(&v, |v| {
                json_table(
                    v,
                    &[
                        ("NAME", "name"),
                        ("AT", "at"),
                        ("STATUS", "status"),
                        ("ADDRESS", "address"),
                    ],
                )
            });
        }
        RelayCmd::Show { name, to } => {
            let node = ctx.node_name(to.as_deref())?;
            let v = ctx.request(&node, Request::RelayList, T)?;
            let r: Value = v
                .as_array()
                .and_then(|a| a.iter().find(|r| r["name"] == name.as_str()).cloned())
                .with_context(|| format!("no relay named {name:?} on node {node}"))?;
            ctx.print(&r, |r| serde_json::to_string_pretty(r).unwrap_or_default());
        }
        RelayCmd::Delete { name, to } => {
            let node = ctx.node_name(to.as_deref())?;
            ctx.request(&node, Request::RelayDelete { name: name.clone() }, T)?;
            ctx.state.delete_relay(&node, &name)?;
            eprintln!("Deleted relay {name} on node {node}");
        }
    }
    Ok(())
}
