//! `airlock secure-channel …` and `airlock message send`.

use crate::cli::{ChannelCmd, MessageCmd};
use crate::context::{table, Ctx};
use crate::control::Request;
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
            let v = ctx.request(
                &node,
                Request::ChannelCreate {
                    to,
                    authorized,
                    timeout_ms: timeout * 1000,
                },
                Duration::from_secs(timeout + 5),
            )?;
            ctx.print(&v, |v| {
                v["address"].as_str().unwrap_or_default().to_string()
            });
        }
        ChannelCmd::List { at } => {
            let node = ctx.node_name(at.as_deref())?;
            let v = ctx.request(&node, Request::ChannelList, Duration::from_secs(5))?;
            ctx.print(&v, |v| {
                table(
                    &["ADDRESS", "ROLE", "PEER", "STATUS"],
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| {
                            vec![
                                format!("/service/{}", c["address"].as_str().unwrap_or("")),
                                c["role"].as_str().unwrap_or("").into(),
                                c["peer"].as_str().unwrap_or("-").into(),
                                c["status"].as_str().unwrap_or("").into(),
                            ]
                        })
                        .collect(),
                )
            });
        }
        ChannelCmd::Delete { address, at } => {
            let node = ctx.node_name(at.as_deref())?;
            ctx.request(
                &node,
                Request::ChannelDelete {
                    address: address.clone(),
                },
                Duration::from_secs(5),
            )?;
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
            let v = ctx.request(
                &node,
                Request::MessageSend {
                    to,
                    payload: message,
                    timeout_ms: timeout * 1000,
                    authorized,
                },
                Duration::from_secs(timeout + 5),
            )?;
            ctx.print(&v, |v| v["reply"].as_str().unwrap_or_default().to_string());
        }
    }
    Ok(())
}
