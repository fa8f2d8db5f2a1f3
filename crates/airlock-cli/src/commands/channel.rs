//! `airlock secure-channel …` and `airlock message send`.

use crate::cli::{ChannelCmd, MessageCmd};
use crate::context::{table, Ctx};
use anyhow::Result;
use std::time::Duration;

pub fn channel(ctx: &Ctx, cmd: ChannelCmd) -> Result<()> {
    match cmd {
        ChannelCmd::Create {
            from,
            to,
            authorized,
            timeout,
        } => {
            let node = ctx.node_name(from.as_deref())?;
            let to = ctx.resolve_node_route(&to)?;
            let handshake = Duration::from_secs(timeout);
            let opened = ctx.client(&node)?.open_channel(
                to,
                authorized,
                handshake,
                handshake + Duration::from_secs(5),
            )?;
            ctx.show(&opened, |c| c.address.clone());
        }
        ChannelCmd::List { at } => {
            let node = ctx.node_name(at.as_deref())?;
            let channels = ctx.client(&node)?.channels(Duration::from_secs(5))?;
            let empty = format!("No secure channels on node {node}.");
            ctx.show_list(&channels, &empty, |channels| {
                let rows = channels.iter().map(|c| {
                    vec![
                        format!("/service/{}", c.address),
                        c.role.clone(),
                        c.peer.clone().unwrap_or_else(|| "-".into()),
                        c.status.clone(),
                    ]
                });
                table(&["ADDRESS", "ROLE", "PEER", "STATUS"], rows.collect())
            });
        }
        ChannelCmd::Delete { address, at } => {
            let node = ctx.node_name(at.as_deref())?;
            ctx.client(&node)?
                .close_channel(&address, Duration::from_secs(5))?;
            eprintln!("Closed secure channel {address} on node {node}");
        }
    }
    Ok(())
}

pub fn message(ctx: &Ctx, cmd: MessageCmd) -> Result<()> {
    match cmd {
        MessageCmd::Send {
            message,
            from,
            to,
            authorized,
            timeout,
        } => {
            let node = ctx.node_name(from.as_deref())?;
            let to = ctx.resolve_node_route(&to)?;
            let wait = Duration::from_secs(timeout);
            let reply = ctx.client(&node)?.send_message(
                to,
                message,
                authorized,
                wait,
                wait + Duration::from_secs(5),
            )?;
            ctx.show(&reply, |r| r.reply.clone());
        }
    }
    Ok(())
}
