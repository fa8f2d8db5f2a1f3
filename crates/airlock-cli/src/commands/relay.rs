//! `airlock relay …`: the relays a node keeps registered, so that others reach it through the
//! project (or another node) without an inbound port.

use crate::cli::RelayCmd;
use crate::context::{table, Ctx};
use crate::control::protocol::RelayStatus;
use crate::operations::progress;
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
            wait,
        } => {
            let node = ctx.node_name(to.as_deref())?;
            let at = match (at, project) {
                (Some(at), _) => ctx.resolve_node_route(&at)?,
                (None, Some(p)) => format!("/project/{p}"),
                (None, None) => format!("/project/{}", ctx.home.default_project()?),
            };
            eprintln!("Registering relay {name} at {at}…");
            // The node waits for the registration (or a refusal for good: then this is an
            // error and the node kept nothing); a transient failure leaves it trying.
            let timeout = wait.unwrap_or(Duration::from_secs(10)) + Duration::from_secs(30);
            let mut client = ctx.client(&node)?;
            let created = progress::while_waiting("waiting for the registration", || {
                client.create_relay(name.clone(), at.clone(), authorized.clone(), wait, timeout)
            })
            .with_context(|| format!("cannot create relay {name} on node {node}"))?;
            // A node still running an older binary would drop the pin without a word.
            if created.relay.authorized.len() != authorized.len() {
                let undone = match ctx.client(&node).and_then(|mut c| Ok(c.delete_relay(&name, T)?)) {
                    Ok(_) => "the relay was removed again".to_string(),
                    Err(e) => format!("removing the unpinned relay failed too ({e:#}): delete it with `airlock relay delete {name} --to {node}`"),
                };
                bail!("node {node} did not pin the relay host (it runs an older airlock; {undone}): restart it with `airlock node stop {node} && airlock node start {node}` and try again");
            }
            ctx.home.put_relay(&node, &name, &at, &authorized)?;
            if created.relay.status != RelayStatus::Up {
                let why = created
                    .warning
                    .as_deref()
                    .or(created.relay.last_error.as_deref())
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default();
                if let Some(w) = wait {
                    bail!(
                        "relay {name} on node {node} is not registered after {}s{why}; the node keeps trying (see `airlock relay show {name}`, or remove it with `airlock relay delete {name}`)",
                        w.as_secs()
                    );
                }
                eprintln!("Relay {name} is not registered yet{why}; the node keeps trying (see `airlock relay show {name}`).");
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
                    let error = match (&r.last_error, r.last_error_kind) {
                        (Some(e), Some(k)) => format!("{k}: {e}"),
                        (Some(e), None) => e.clone(),
                        (None, _) => String::new(),
                    };
                    vec![
                        r.name.clone(),
                        r.at.clone(),
                        status,
                        r.address.clone(),
                        error,
                    ]
                });
                table(
                    &["NAME", "AT", "STATUS", "ADDRESS", "LAST ERROR"],
                    rows.collect(),
                )
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
            ctx.home.delete_relay(&node, &name)?;
            eprintln!("Deleted relay {name} on node {node}");
        }
    }
    Ok(())
}
