//! `airlock project …`: hosting a project, tickets, enrollment, members.

use super::{table, Ctx};
use crate::cli::{MemberCmd, ProjectCmd, ProjectRelayCmd};
use crate::state::Membership;
use airlock_authority::{Attributes, Ticket};
use airlock_identity::{ChangeHistory, VerifiedIdentity};
use airlock_node::{unix_now, Node, NodeConfig, NodeIdentity, ProjectRoute};
use airlock_project::api::TicketRequest;
use airlock_project::{AuthorityClient, AuthorityRequest};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::future::Future;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// Parses `10m`, `2h`, `1d`, `30s` or plain seconds.
pub fn parse_duration(s: &str) -> Result<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        Some('d') => (&s[..s.len() - 1], 86400),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .with_context(|| format!("{s:?} is not a duration (use e.g. 30s, 10m, 2h, 1d)"))?;
    Ok(n * mult)
}

/// `HOST:PORT` → `/ip4/…/tcp/…`, `/ip6/…` or `/dnsaddr/…`.
pub fn address_to_route(addr: &str) -> Result<String> {
    if let Ok(sa) = addr.parse::<std::net::SocketAddr>() {
        let ip = if sa.ip().is_unspecified() {
            "127.0.0.1".parse().expect("valid")
        } else {
            sa.ip()
        };
        return Ok(match ip {
            std::net::IpAddr::V4(v) => format!("/ip4/{v}/tcp/{}", sa.port()),
            std::net::IpAddr::V6(v) => format!("/ip6/{v}/tcp/{}", sa.port()),
        });
    }
    let (host, port) = addr
        .rsplit_once(':')
        .with_context(|| format!("{addr:?} is not HOST:PORT"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("{port:?} is not a port"))?;
    let route = format!("/dnsaddr/{host}/tcp/{port}");
    route.parse::<airlock_wire::MultiAddr>()?;
    Ok(route)
}

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

/// A project a node knows: how to reach it and whom to trust.
pub struct KnownProject {
    /// Name.
    pub name: String,
    /// Route and project node identifier.
    pub route: ProjectRoute,
    /// The authority.
    pub authority: VerifiedIdentity,
}

/// Turns a stored membership into what a node needs.
pub fn known_project(m: &Membership) -> Result<KnownProject> {
    let now = unix_now();
    let project = ChangeHistory::import(&m.project_identity, now)?;
    let authority = ChangeHistory::import(&m.authority_identity, now)?;
    Ok(KnownProject {
        name: m.project.clone(),
        route: ProjectRoute {
            route: m.route.parse()?,
            identifier: project.identifier,
        },
        authority,
    })
}

/// Applies known projects to a node: `/project/NAME` routes, trusted authorities and the
/// project each authority speaks for (`subject.project`).
pub fn apply_projects(node: &Node, projects: &[KnownProject]) {
    for p in projects {
        node.set_project(&p.name, p.route.clone());
        node.set_authority_project(p.authority.identifier, &p.name);
    }
    node.set_trusted_authorities(projects.iter().map(|p| p.authority.clone()).collect());
}

/// Runs `f` on a short-lived in-process node with `identity`.
fn with_client_node<T, F, Fut>(
    ctx: &Ctx,
    identity: &str,
    projects: Vec<KnownProject>,
    f: F,
) -> Result<T>
where
    F: FnOnce(Node) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let (secret, purpose) = ctx.state.load_identity(identity)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let node = Node::start(NodeConfig {
            name: format!("client-{identity}"),
            identity: NodeIdentity { secret, purpose },
            tcp_listen: "127.0.0.1:0".parse().expect("valid"),
            authorized: Vec::new(),
            trust_unknown: false,
            known_identities: None,
            rekey: Default::default(),
            purpose_key_store: None,
        })
        .await?;
        apply_projects(&node, &projects);
        let r = f(node.clone()).await;
        node.shutdown().await;
        r
    })
}

/// What an inlet on node `node` made with `--via RELAY` accepts at the outlet's end when no
/// `--authorized` is given (docs/protocol.md §9.5): the identity project `project` has RELAY
/// bound to, asked with the node's own identity. Empty, with a note, if nobody registered the
/// name yet; an error if the project cannot be asked.
pub fn via_relay_pin(ctx: &Ctx, node: &str, project: &str, relay: &str) -> Result<Vec<String>> {
    let identity = ctx.state.require_node(node)?.identity;
    let m = membership(ctx, &identity, project)?;
    let kp = known_project(&m)?;
    let (p, r) = (project.to_string(), relay.to_string());
    let pinned = with_client_node(ctx, &identity, vec![kp], |node| async move {
        airlock_project::relay::inlet_authorized_via(&node, &p, &r, &[])
            .await
            .map_err(anyhow::Error::from)
    })
    .with_context(|| {
        format!(
            "cannot learn from project {project} which node holds relay {relay}, to pin it as the \
             outlet node; give --authorized IDENTIFIER to choose the outlet node yourself"
        )
    })?;
    match pinned.first() {
        Some(id) => eprintln!("Pinned the outlet node: relay {relay} is bound to {id}"),
        None => eprintln!(
            "Note: relay {relay} is not bound to anyone in project {project} yet, so the inlet \
             accepts any outlet node its tcp-inlet policy admits (by default: any member with a \
             valid project credential). Give --authorized IDENTIFIER, or create the inlet again \
             once the relay is registered, to pin the outlet node."
        ),
    }
    Ok(pinned)
}

fn membership(ctx: &Ctx, identity: &str, project: &str) -> Result<Membership> {
    ctx.state
        .memberships(Some(identity))?
        .into_iter()
        .find(|m| m.project == project)
        .with_context(|| format!("identity {identity:?} is not a member of project {project:?} (enroll it with `airlock project enroll TICKET --identity {identity}`)"))
}

fn authority_request(
    ctx: &Ctx,
    identity: &str,
    project: &str,
    req: AuthorityRequest,
) -> Result<Value> {
    let m = membership(ctx, identity, project)?;
    let kp = known_project(&m)?;
    let project = project.to_string();
    with_client_node(ctx, identity, vec![kp], |node| async move {
        let client = AuthorityClient::connect(&node, &project, T).await?;
        Ok(client.request(&req, T).await?)
    })
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
            let database = super::db_password::database_url(
                database,
                database_password_file.as_deref(),
                std::env::var_os(super::db_password::PASSWORD_ENV),
            )?;
            super::project_host::create(
                ctx,
                &name,
                &listen,
                public_address.as_deref(),
                &credential_ttl,
                identity,
                database,
            )
        }
        ProjectCmd::Show { name } => {
            let name = match name {
                Some(n) => n,
                None => ctx.state.default_project()?,
            };
            let v = project_json(ctx, &name)?;
            ctx.print(&v, |v| serde_json::to_string_pretty(v).unwrap_or_default());
            Ok(())
        }
        ProjectCmd::List => {
            let mut names: Vec<String> = ctx
                .state
                .hosted_projects()?
                .into_iter()
                .map(|p| p.name)
                .collect();
            names.extend(ctx.state.memberships(None)?.into_iter().map(|m| m.project));
            names.sort();
            names.dedup();
            let v = Value::Array(
                names
                    .iter()
                    .map(|n| project_json(ctx, n))
                    .collect::<Result<_>>()?,
            );
            ctx.print(&v, |v| {
                table(
                    &["PROJECT", "ROUTE", "HOSTED HERE", "MEMBERS HERE"],
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
                None => ctx.state.default_project()?,
            };
            let identity = match identity {
                Some(i) => i,
                None => ctx.state.default_identity()?,
            };
            let m = membership(ctx, &identity, &project)?;
            let req = AuthorityRequest::CreateTicket {
                ticket: TicketRequest {
                    usage_count,
                    expires_in_secs: parse_duration(&expires_in)?,
                    attributes: parse_attributes(&attributes)?,
                    relay,
                    enroller,
                },
            };
            let v = authority_request(ctx, &identity, &project, req)?;
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
    }
}

fn project_json(ctx: &Ctx, name: &str) -> Result<Value> {
    let hosted = ctx
        .state
        .hosted_projects()?
        .into_iter()
        .find(|p| p.name == name);
    let members: Vec<Membership> = ctx
        .state
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
    }))
}

fn read_ticket(arg: Option<String>) -> Result<Ticket> {
    let text = match arg {
        Some(a) if std::path::Path::new(&a).is_file() => {
            std::fs::read_to_string(&a).with_context(|| format!("cannot read ticket file {a}"))?
        }
        Some(a) => a,
        None => std::env::var("ENROLLMENT_TICKET").map_err(|_| {
            anyhow::anyhow!(
                "no ticket given: pass it as an argument, a file path, or in ENROLLMENT_TICKET"
            )
        })?,
    };
    Ok(Ticket::decode(&text)?)
}

/// Enrolls `identity` with a ticket (inline, file path or $ENROLLMENT_TICKET); prints the
/// result.
pub fn enroll(
    ctx: &Ctx,
    ticket: Option<String>,
    identity: Option<String>,
    project_address: Option<&str>,
) -> Result<()> {
    let out = enroll_identity(ctx, ticket, identity, project_address)?;
    ctx.print(&out, |o| {
        o["identifier"].as_str().unwrap_or_default().to_string()
    });
    Ok(())
}

/// Enrolls `identity` with a ticket; returns what `enroll` prints (progress goes to stderr).
pub fn enroll_identity(
    ctx: &Ctx,
    ticket: Option<String>,
    identity: Option<String>,
    project_address: Option<&str>,
) -> Result<Value> {
    let mut ticket = read_ticket(ticket)?;
    if let Some(addr) = project_address {
        ticket.route = address_to_route(addr)?;
    }
    let (project_node, authority) = ticket.verify(unix_now())?;
    let identity = match identity {
        Some(i) => {
            if ctx.state.identity_row(&i)?.is_none() {
                ctx.state.create_identity(&i)?;
                eprintln!("Created identity {i}");
            }
            i
        }
        None => ctx.state.default_identity()?,
    };
    let kp = KnownProject {
        name: ticket.project.clone(),
        route: ProjectRoute {
            route: ticket.route.parse()?,
            identifier: project_node.identifier,
        },
        authority,
    };
    let (project, secret) = (ticket.project.clone(), hex::encode(ticket.secret));
    eprintln!(
        "Enrolling identity {identity} in project {project} at {}…",
        ticket.route
    );
    let v = with_client_node(ctx, &identity, vec![kp], |node| async move {
        let client = AuthorityClient::connect(&node, &project, T).await?;
        Ok(client
            .request(&AuthorityRequest::Enroll { secret }, T)
            .await?)
    })?;
    ctx.state.put_membership(&Membership {
        identity: identity.clone(),
        project: ticket.project.clone(),
        route: ticket.route.clone(),
        project_identity: ticket.project_identity.clone(),
        authority_identity: ticket.authority_identity.clone(),
    })?;
    let out = json!({
        "project": ticket.project,
        "identity": identity,
        "identifier": v["member"]["identifier"],
        "attributes": v["attributes"],
    });
    eprintln!(
        "Enrolled: nodes created with identity {identity} are now members of project {}.",
        ticket.project
    );
    Ok(out)
}

fn member(ctx: &Ctx, cmd: MemberCmd) -> Result<()> {
    let identity = ctx.state.default_identity()?;
    let project_of = |p: Option<String>| -> Result<String> {
        match p {
            Some(p) => Ok(p),
            None => ctx.state.default_project(),
        }
    };
    match cmd {
        MemberCmd::List { project } => {
            let project = project_of(project)?;
            let v = authority_request(ctx, &identity, &project, AuthorityRequest::MemberList)?;
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
            let v = authority_request(
                ctx,
                &identity,
                &project,
                AuthorityRequest::MemberShow { identifier },
            )?;
            ctx.print(&v, |v| serde_json::to_string_pretty(v).unwrap_or_default());
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
            let v = authority_request(ctx, &identity, &project, req)?;
            ctx.print(&v, |v| {
                v["identifier"].as_str().unwrap_or_default().to_string()
            });
        }
        MemberCmd::Delete {
            identifier,
            project,
        } => {
            let project = project_of(project)?;
            authority_request(
                ctx,
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
    let identity = ctx.state.default_identity()?;
    let project_of = |p: Option<String>| -> Result<String> {
        match p {
            Some(p) => Ok(p),
            None => ctx.state.default_project(),
        }
    };
    match cmd {
        ProjectRelayCmd::List { project } => {
            let project = project_of(project)?;
            let v = authority_request(ctx, &identity, &project, AuthorityRequest::RelayList)?;
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
            let v = authority_request(
                ctx,
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
            let v = authority_request(
                ctx,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_addresses() {
        assert_eq!(parse_duration("10m").unwrap(), 600);
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert_eq!(parse_duration("45").unwrap(), 45);
        assert!(parse_duration("ten").is_err());
        assert_eq!(
            address_to_route("0.0.0.0:4000").unwrap(),
            "/ip4/127.0.0.1/tcp/4000"
        );
        assert_eq!(
            address_to_route("project.example:4000").unwrap(),
            "/dnsaddr/project.example/tcp/4000"
        );
        assert!(address_to_route("nope").is_err());
    }
}
