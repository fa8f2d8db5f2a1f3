//! `airlock project …`: hosting a project, tickets, enrollment, members.

use crate::cli::{AddonCmd, KafkaAddonCmd, MemberCmd, Output, ProjectCmd, ProjectRelayCmd};
use crate::context::{table, Ctx};
use crate::home::Membership;
use crate::operations::enrollment::{self, membership};
use crate::operations::{db_password, hosting};
use crate::routes::parse_duration;
use airlock_credential::{Attributes, Ticket};
use airlock_daemon::projects::known_project;
use airlock_project::api::TicketRequest;
use airlock_project::AuthorityRequest;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

fn parse_attributes(pairs: &[String]) -> Result<Attributes> {
    let mut out = Attributes::new();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("--attribute {p:?} must be KEY=VALUE"))?;
        out.insert(k.trim().to_string(), v.to_string());
    }
    Ok(out)
}

pub fn run(ctx: &Ctx, cmd: ProjectCmd) -> Result<()> {
    match cmd {
        ProjectCmd::Create {
            name,
            listen,
            public_address,
            credential_ttl,
            identity,
            database,
            database_password_file,
        } => {
            let database = db_password::database_url(
                database,
                database_password_file.as_deref(),
                std::env::var_os(db_password::PASSWORD_ENV),
            )?;
            let v = hosting::host_project(
                &ctx.home,
                &name,
                &listen,
                public_address.as_deref(),
                &credential_ttl,
                identity,
                database,
            )?;
            ctx.print(&v, |v| v["name"].as_str().unwrap_or_default().to_string());
            Ok(())
        }
        ProjectCmd::Show { name } => {
            let name = match name {
                Some(n) => n,
                None => ctx.home.default_project()?,
            };
            let v = project_json(ctx, &name)?;
            ctx.show_fields(&v);
            Ok(())
        }
        ProjectCmd::List => {
            let mut names: Vec<String> = ctx
                .home
                .hosted_projects()?
                .into_iter()
                .map(|p| p.name)
                .collect();
            names.extend(ctx.home.memberships(None)?.into_iter().map(|m| m.project));
            names.sort();
            names.dedup();
            if names.is_empty() && ctx.output == Output::Plain {
                eprintln!("No projects here: create one with `airlock project create` or join one with `airlock project enroll TICKET`.");
                return Ok(());
            }
            let v = Value::Array(
                names
                    .iter()
                    .map(|n| project_json(ctx, n))
                    .collect::<Result<_>>()?,
            );
            ctx.print(&v, |v| {
                table(
                    &[
                        "PROJECT",
                        "ROUTE",
                        "HOSTED HERE",
                        "MEMBERS HERE",
                        "MEMBERSHIP",
                    ],
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| {
                            vec![
                                p["name"].as_str().unwrap_or("").into(),
                                p["route"].as_str().unwrap_or("").into(),
                                if p["hosted"]["node"].is_string() {
                                    "yes".into()
                                } else {
                                    String::new()
                                },
                                p["members_here"]
                                    .as_array()
                                    .map(|a| {
                                        a.iter()
                                            .filter_map(|x| x.as_str())
                                            .collect::<Vec<_>>()
                                            .join(",")
                                    })
                                    .unwrap_or_default(),
                                membership_column(&p["membership"]),
                            ]
                        })
                        .collect(),
                )
            });
            Ok(())
        }
        ProjectCmd::Ticket {
            project,
            usage_count,
            expires_in,
            attributes,
            relay,
            enroller,
            identity,
        } => {
            let project = match project {
                Some(p) => p,
                None => ctx.home.default_project()?,
            };
            let identity = match identity {
                Some(i) => i,
                None => ctx.existing_default_identity()?,
            };
            let m = membership(&ctx.home, &identity, &project)?;
            let req = AuthorityRequest::CreateTicket {
                ticket: TicketRequest {
                    usage_count,
                    expires_in_secs: parse_duration(&expires_in)?,
                    attributes: parse_attributes(&attributes)?,
                    relay,
                    enroller,
                },
            };
            let v = enrollment::authority_request(&ctx.home, &identity, &project, req)?;
            let mut secret = [0u8; 32];
            hex::decode_to_slice(v["secret"].as_str().unwrap_or_default(), &mut secret)
                .context("malformed ticket secret from the project")?;
            let ticket = Ticket {
                project: project.clone(),
                route: m.route.clone(),
                project_identity: m.project_identity.clone(),
                authority_identity: m.authority_identity.clone(),
                secret,
                expires_at: v["expires_at"].as_u64().unwrap_or(0),
                usage_count,
            };
            let out = json!({"ticket": ticket.encode(), "project": project, "expires_at": ticket.expires_at, "usage_count": usage_count});
            ctx.print(&out, |o| {
                o["ticket"].as_str().unwrap_or_default().to_string()
            });
            Ok(())
        }
        ProjectCmd::Enroll {
            ticket,
            identity,
            project_address,
        } => enroll(ctx, ticket, identity, project_address.as_deref()),
        ProjectCmd::Member(c) => member(ctx, c),
        ProjectCmd::Relay(c) => relay(ctx, c),
        ProjectCmd::Addon(c) => addon(ctx, c),
    }
}

/// The Kafka add-on's outlet name on the project node (members' inlets default to it).
const KAFKA_ADDON_OUTLET: &str = crate::operations::kafka::DEFAULT_OUTLET;

/// `project addon …`: the add-ons run by the node of a project hosted here. The Kafka add-on
/// is the project node's Kafka outlet `kafka`, recorded like any Kafka outlet of that node (so
/// the node recreates it when it restarts).
fn addon(ctx: &Ctx, cmd: AddonCmd) -> Result<()> {
    let hosted = |project: Option<String>| -> Result<crate::home::HostedProject> {
        let name = match project {
            Some(p) => p,
            None => ctx.home.default_project()?,
        };
        ctx.home
            .hosted_projects()?
            .into_iter()
            .find(|p| p.name == name)
            .with_context(|| {
                format!("project {name:?} is not hosted here: configure its add-ons where its project node runs")
            })
    };
    const T: std::time::Duration = std::time::Duration::from_secs(10);
    match cmd {
        AddonCmd::Configure(KafkaAddonCmd::Kafka {
            bootstrap_server,
            tls,
            tls_ca_file,
            project,
        }) => {
            let hp = hosted(project)?;
            let spec = crate::commands::kafka::outlet_spec(
                KAFKA_ADDON_OUTLET,
                &bootstrap_server,
                tls,
                tls_ca_file.as_deref(),
            )?;
            let mut client = ctx.client(&hp.node)?;
            if client
                .kafka_outlets(T)?
                .iter()
                .any(|o| o.name == KAFKA_ADDON_OUTLET)
            {
                client.delete_kafka_outlet(KAFKA_ADDON_OUTLET, T)?;
            }
            let outlet = client.create_kafka_outlet(spec.clone(), T)?;
            ctx.home.insert_kafka_outlet(&hp.node, &spec)?;
            eprintln!(
                "Configured the Kafka add-on of project {}: its node {} forwards to the Kafka cluster at {}{}.\nMembers reach it with `airlock kafka-producer create --to /project/{}` (or kafka-consumer, kafka-inlet).",
                hp.name,
                hp.node,
                spec.bootstrap_server,
                crate::commands::kafka::tls_note(&spec),
                hp.name
            );
            ctx.show(&outlet, |o| o.address.clone());
        }
        AddonCmd::Remove { addon: _, project } => {
            let hp = hosted(project)?;
            ctx.client(&hp.node)?
                .delete_kafka_outlet(KAFKA_ADDON_OUTLET, T)?;
            ctx.home.delete_kafka_outlet(&hp.node, KAFKA_ADDON_OUTLET)?;
            eprintln!("Removed the Kafka add-on of project {}", hp.name);
        }
    }
    Ok(())
}

fn project_json(ctx: &Ctx, name: &str) -> Result<Value> {
    let hosted = ctx
        .home
        .hosted_projects()?
        .into_iter()
        .find(|p| p.name == name);
    let members: Vec<Membership> = ctx
        .home
        .memberships(None)?
        .into_iter()
        .filter(|m| m.project == name)
        .collect();
    if hosted.is_none() && members.is_empty() {
        bail!("unknown project {name:?} (see `airlock project list`)");
    }
    let route = hosted
        .as_ref()
        .map(|h| h.route.clone())
        .or_else(|| members.first().map(|m| m.route.clone()));
    let ids = members.first().and_then(|m| known_project(m).ok());
    Ok(json!({
        "name": name,
        "route": route,
        "project_identifier": ids.as_ref().map(|k| k.route.identifier.to_string()),
        "authority_identifier": ids.as_ref().map(|k| k.authority.identifier.to_string()),
        "hosted": hosted,
        "members_here": members.iter().map(|m| m.identity.clone()).collect::<Vec<_>>(),
        // The last credential refresh of each member identity here, as its node recorded it
        // (`null` before the first): identity → outcome.
        "membership": members
            .iter()
            .map(|m| {
                let status = ctx.home.membership_status(&m.identity, name).ok().flatten();
                (m.identity.clone(), json!(status))
            })
            .collect::<serde_json::Map<_, _>>(),
    }))
}

/// `member`, `revoked: REASON`, `unreachable: REASON` or `unknown` (no refresh recorded yet)
/// for each member identity here (`IDENTITY=…` when there are several).
fn membership_column(membership: &Value) -> String {
    use airlock_project::refresh::RefreshOutcome;
    let rows: Vec<(&String, &Value)> = membership.as_object().into_iter().flatten().collect();
    let label = |v: &Value| match serde_json::from_value::<RefreshOutcome>(v.clone()) {
        Ok(RefreshOutcome::Member { .. }) => "member".to_string(),
        Ok(RefreshOutcome::Refused { reason, .. }) => format!("revoked: {reason}"),
        Ok(RefreshOutcome::Unreachable { reason, .. }) => format!("unreachable: {reason}"),
        Err(_) => "unknown".to_string(),
    };
    match rows.as_slice() {
        [(_, one)] => label(one),
        many => many
            .iter()
            .map(|(identity, v)| format!("{identity}={}", label(v)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Enrolls `identity` with a ticket (inline, file path or $ENROLLMENT_TICKET); prints the
/// result.
fn enroll(
    ctx: &Ctx,
    ticket: Option<String>,
    identity: Option<String>,
    project_address: Option<&str>,
) -> Result<()> {
    let out = enrollment::enroll_identity(&ctx.home, ticket, identity, project_address)?;
    ctx.print(&out, |o| {
        o["identifier"].as_str().unwrap_or_default().to_string()
    });
    Ok(())
}

fn member(ctx: &Ctx, cmd: MemberCmd) -> Result<()> {
    let identity = ctx.existing_default_identity()?;
    let project_of = |p: Option<String>| -> Result<String> {
        match p {
            Some(p) => Ok(p),
            None => Ok(ctx.home.default_project()?),
        }
    };
    match cmd {
        MemberCmd::List { project } => {
            let project = project_of(project)?;
            let v = enrollment::authority_request(
                &ctx.home,
                &identity,
                &project,
                AuthorityRequest::MemberList,
            )?;
            if v.as_array().is_some_and(|a| a.is_empty()) && ctx.output == Output::Plain {
                eprintln!("No members in project {project}.");
                return Ok(());
            }
            ctx.print(&v, |v| {
                table(
                    &["IDENTIFIER", "ATTRIBUTES", "RELAY", "ROLE"],
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .map(|m| {
                            vec![
                                m["identifier"].as_str().unwrap_or("").into(),
                                m["attributes"]
                                    .as_object()
                                    .map(|o| {
                                        o.iter()
                                            .map(|(k, v)| {
                                                format!("{k}={}", v.as_str().unwrap_or(""))
                                            })
                                            .collect::<Vec<_>>()
                                            .join(",")
                                    })
                                    .unwrap_or_default(),
                                m["relay"].as_str().unwrap_or("").into(),
                                if m["admin"] == true {
                                    "admin"
                                } else if m["enroller"] == true {
                                    "enroller"
                                } else {
                                    "member"
                                }
                                .into(),
                            ]
                        })
                        .collect(),
                )
            });
        }
        MemberCmd::Show {
            identifier,
            project,
        } => {
            let project = project_of(project)?;
            let v = enrollment::authority_request(
                &ctx.home,
                &identity,
                &project,
                AuthorityRequest::MemberShow { identifier },
            )?;
            ctx.show_fields(&v);
        }
        MemberCmd::Add {
            identifier,
            attributes,
            relay,
            enroller,
            project,
        } => {
            let project = project_of(project)?;
            let req = AuthorityRequest::MemberAdd {
                identifier,
                attributes: parse_attributes(&attributes)?,
                relay,
                enroller,
            };
            let v = enrollment::authority_request(&ctx.home, &identity, &project, req)?;
            ctx.print(&v, |v| {
                v["identifier"].as_str().unwrap_or_default().to_string()
            });
        }
        MemberCmd::Delete {
            identifier,
            project,
        } => {
            let project = project_of(project)?;
            enrollment::authority_request(
                &ctx.home,
                &identity,
                &project,
                AuthorityRequest::MemberDelete {
                    identifier: identifier.clone(),
                },
            )?;
            eprintln!("Deleted member {identifier} from project {project}");
        }
    }
    Ok(())
}

/// `project relay …`: the project's relay bindings.
fn relay(ctx: &Ctx, cmd: ProjectRelayCmd) -> Result<()> {
    let identity = ctx.existing_default_identity()?;
    let project_of = |p: Option<String>| -> Result<String> {
        match p {
            Some(p) => Ok(p),
            None => Ok(ctx.home.default_project()?),
        }
    };
    match cmd {
        ProjectRelayCmd::List { project } => {
            let project = project_of(project)?;
            let v = enrollment::authority_request(
                &ctx.home,
                &identity,
                &project,
                AuthorityRequest::RelayList,
            )?;
            if v.as_array().is_some_and(|a| a.is_empty()) && ctx.output == Output::Plain {
                eprintln!("No relay names are bound in project {project}.");
                return Ok(());
            }
            ctx.print(&v, |v| {
                table(
                    &["NAME", "OWNER", "BOUND AT"],
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .map(|b| {
                            vec![
                                b["name"].as_str().unwrap_or("").into(),
                                b["owner"].as_str().unwrap_or("").into(),
                                b["bound_at"].as_u64().unwrap_or(0).to_string(),
                            ]
                        })
                        .collect(),
                )
            });
        }
        ProjectRelayCmd::Show { name, project } => {
            let project = project_of(project)?;
            let v = enrollment::authority_request(
                &ctx.home,
                &identity,
                &project,
                AuthorityRequest::RelayOwner { name },
            )?;
            ctx.print(&v, |v| match v["owner"].as_str() {
                Some(o) => o.to_string(),
                None => format!("relay {} is not bound", v["name"].as_str().unwrap_or("")),
            });
        }
        ProjectRelayCmd::Release { name, project } => {
            let project = project_of(project)?;
            let v = enrollment::authority_request(
                &ctx.home,
                &identity,
                &project,
                AuthorityRequest::RelayRelease { name: name.clone() },
            )?;
            eprintln!(
                "Released relay {name} of project {project} (it was bound to {})",
                v["owner"].as_str().unwrap_or("?")
            );
            ctx.print(&v, |_| String::new());
        }
    }
    Ok(())
}
