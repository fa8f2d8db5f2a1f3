//! `airlock identity …`

use crate::cli::IdentityCmd;
use crate::context::{table, Ctx};
use crate::output::identity_json;
use airlock_identity::ChangeHistory;
use airlock_node::unix_now;
use anyhow::{Context, Result};
use serde_json::json;

pub fn run(ctx: &Ctx, cmd: IdentityCmd) -> Result<()> {
    match cmd {
        IdentityCmd::Create { name } => {
            let id = ctx.home.create_identity(&name)?;
            let v = json!({"name": name, "identifier": id.identifier().to_string()});
            ctx.print(&v, |v| {
                v["identifier"].as_str().unwrap_or_default().to_string()
            });
        }
        IdentityCmd::Show { name, full } => {
            // Showing never creates: without an identity, say how to make one.
            let name = match name {
                Some(n) => n,
                None => ctx.existing_default_identity()?,
            };
            let row = ctx.home.identity_row(&name)?.with_context(|| {
                format!("no identity named {name:?} (create it with `airlock identity create {name}`, see `airlock identity list`)")
            })?;
            let (secret, purpose) = ctx.home.load_identity(&name)?;
            let changes: Vec<_> = secret
                .history()
                .changes()
                .iter()
                .map(|c| json!({"public_key": hex::encode(c.public_key), "created_at": c.created_at, "expires_at": c.expires_at}))
                .collect();
            let v = json!({
                "name": row.name,
                "identifier": row.identifier,
                "default": row.is_default,
                "changes": changes,
                "purpose_key": {
                    "public_key": hex::encode(purpose.attestation.public_key),
                    "expires_at": purpose.attestation.expires_at,
                },
                "export": secret.history().export(),
            });
            ctx.print(&v, |v| {
                if full {
                    v["export"].as_str().unwrap_or_default().to_string()
                } else {
                    v["identifier"].as_str().unwrap_or_default().to_string()
                }
            });
        }
        IdentityCmd::List => {
            let rows = ctx.home.identities()?;
            let v: Vec<_> = rows.iter().map(identity_json).collect();
            let empty = "No identities. Create one with `airlock identity create NAME`.";
            ctx.show_list(&v, empty, |_| {
                table(
                    &["NAME", "IDENTIFIER", "DEFAULT"],
                    rows.iter()
                        .map(|r| {
                            vec![
                                r.name.clone(),
                                r.identifier.clone(),
                                if r.is_default {
                                    "yes".into()
                                } else {
                                    String::new()
                                },
                            ]
                        })
                        .collect(),
                )
            });
        }
        IdentityCmd::Rotate { name } => {
            let (mut secret, _) = ctx.home.load_identity(&name)?;
            secret.rotate(unix_now())?;
            ctx.home.store_identity(&name, &secret)?;
            // Re-attest the purpose key with the new identity key.
            let (_, purpose) = ctx.home.load_identity(&name)?;
            let v = json!({
                "name": name,
                "identifier": secret.identifier().to_string(),
                "changes": secret.history().len(),
                "purpose_key": hex::encode(purpose.attestation.public_key),
            });
            eprintln!(
                "Rotated the key of identity {name}; running nodes pick it up when restarted."
            );
            ctx.print(&v, |v| {
                v["identifier"].as_str().unwrap_or_default().to_string()
            });
        }
        IdentityCmd::Verify { export } => {
            let v = ChangeHistory::import_text(&export, unix_now())?;
            let out = json!({"identifier": v.identifier.to_string(), "changes": v.history.len(), "expires_at": v.expires_at});
            ctx.print(&out, |o| {
                o["identifier"].as_str().unwrap_or_default().to_string()
            });
        }
        IdentityCmd::Default { name } => {
            ctx.home
                .identity_row(&name)?
                .with_context(|| format!("no identity named {name:?}"))?;
            ctx.home.set_setting("default_identity", &name)?;
        }
        IdentityCmd::Delete { name } => {
            ctx.home.delete_identity(&name)?;
            eprintln!("Deleted identity {name}");
        }
    }
    Ok(())
}
