//! `airlock relay …`: the relays a node keeps registered, so that others reach it through the
//! project (or another node) without an inbound port.

use crate::cli::RelayCmd;
use crate::context::{table, Ctx};
use anyhow::{bail, Context, Result};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

pub fn run(ctx: &Ctx, cmd: RelayCmd) -> Result<()> {
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
            let empty = format!("No relays on node {node}.");
            ctx.show_list(&relays, &empty, |relays| {
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
            ctx.show_fields(&relay);
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
