//! `airlock policy …` and `airlock relay …`

use crate::cli::{PolicyCmd, RelayCmd};
use crate::context::{pretty_json, table, Ctx};
use anyhow::{bail, Context, Result};
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
            let set = ctx.client(&node)?.set_policy(
                resource.clone(),
                resource_type.clone(),
                expression.clone(),
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
            ctx.show(&set, |p| p.expression.clone());
        }
        PolicyCmd::List { at } => {
            let node = ctx.node_name(at.as_deref())?;
            let policies = ctx.client(&node)?.policies(T)?;
            ctx.show(&policies, |policies| {
                let rows = policies.iter().map(|p| {
                    let resource = p.resource.clone().unwrap_or_default();
                    let rtype = p.resource_type.clone().unwrap_or_default();
                    vec![resource, rtype, p.expression.clone()]
                });
                table(&["RESOURCE", "TYPE", "EXPRESSION"], rows.collect())
            });
        }
        PolicyCmd::Show {
            resource,
            resource_type,
            at,
        } => {
            let node = ctx.node_name(at.as_deref())?;
            let found = ctx
                .client(&node)?
                .policies(T)?
                .into_iter()
                .find(|p| p.resource == resource && p.resource_type == resource_type)
                .context("no policy was created for exactly this --resource/--resource-type (see `airlock policy list`)")?;
            ctx.show(&found, |p| p.expression.clone());
        }
        PolicyCmd::Delete {
            resource,
            resource_type,
            at,
        } => {
            let node = ctx.node_name(at.as_deref())?;
            ctx.client(&node)?
                .delete_policy(resource.clone(), resource_type.clone(), T)?;
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
            let created = ctx.client(&node)?.create_relay(
                name.clone(),
                at.clone(),
                authorized.clone(),
                Duration::from_secs(30),
            )?;
            // A node still running an older binary would drop the pin without a word.
            if created.relay.authorized.len() != authorized.len() {
                let undone = match ctx.client(&node).and_then(|mut c| c.delete_relay(&name, T)) {
                    Ok(_) => "the relay was removed again".to_string(),
                    Err(e) => format!("removing the unpinned relay failed too ({e:#}): delete it with `airlock relay delete {name} --to {node}`"),
                };
                bail!("node {node} did not pin the relay host (it runs an older airlock; {undone}): restart it with `airlock node stop {node} && airlock node start {node}` and try again");
            }
            ctx.state.put_relay(&node, &name, &at, &authorized)?;
            if let Some(w) = &created.warning {
                eprintln!("Relay {name} is not registered yet ({w}); the node keeps trying.");
            } else {
                eprintln!(
                    "Relay {name} is up: others reach this node at {}",
                    created.relay.address
                );
            }
            ctx.show(&created, |c| c.relay.address.clone());
        }
        RelayCmd::List { to } => {
            let node = ctx.node_name(to.as_deref())?;
            let relays = ctx.client(&node)?.relays(T)?;
            ctx.show(&relays, |relays| {
                let rows = relays.iter().map(|r| {
                    let status = r.status.to_string();
                    vec![r.name.clone(), r.at.clone(), status, r.address.clone()]
                });
                table(&["NAME", "AT", "STATUS", "ADDRESS"], rows.collect())
            });
        }
        RelayCmd::Show { name, to } => {
            let node = ctx.node_name(to.as_deref())?;
            let relay = ctx
                .client(&node)?
                .relays(T)?
                .into_iter()
                .find(|r| r.name == name)
                .with_context(|| format!("no relay named {name:?} on node {node}"))?;
            ctx.show(&relay, pretty_json);
        }
        RelayCmd::Delete { name, to } => {
            let node = ctx.node_name(to.as_deref())?;
            ctx.client(&node)?.delete_relay(&name, T)?;
            ctx.state.delete_relay(&node, &name)?;
            eprintln!("Deleted relay {name} on node {node}");
        }
    }
    Ok(())
}
