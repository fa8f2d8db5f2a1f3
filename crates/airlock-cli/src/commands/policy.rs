//! `airlock policy …`: who may use a node's resources (ABAC policies), set on the running node
//! and recorded so that it restores them when it starts.

use crate::cli::PolicyCmd;
use crate::context::{table, Ctx};
use anyhow::{bail, Context, Result};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

pub fn run(ctx: &Ctx, cmd: PolicyCmd) -> Result<()> {
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
            ctx.home.put_policy(
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
            let empty = format!("No policies on node {node}.");
            ctx.show_list(&policies, &empty, |policies| {
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
            ctx.home.delete_policy(
                &node,
                resource.as_deref().unwrap_or(""),
                resource_type.as_deref().unwrap_or(""),
            )?;
            eprintln!("Deleted the policy on node {node}");
        }
    }
    Ok(())
}
