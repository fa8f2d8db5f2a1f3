//! `airlock project …`: hosting a project, tickets, enrollment, members.

use super::{table, Ctx};
use crate::cli::{MemberCmd, ProjectCmd};
use crate::state::{validate_name, HostedProject, Membership};
use airlock_authority::{Attributes, Ticket};
use airlock_identity::{ChangeHistory, VerifiedIdentity};
use airlock_node::{unix_now, Node, NodeConfig, NodeIdentity, ProjectRoute};
use airlock_project::api::TicketRequest;
use airlock_project::store::ProjectKeys;
use airlock_project::{AuthorityClient, AuthorityRequest, AuthorityStore, Member};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::future::Future;
use std::os::unix::fs::DirBuilderExt;
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

/// Applies known projects to a node: `/project/NAME` routes and trusted authorities.
pub fn apply_projects(node: &Node, projects: &[KnownProject]) {
    for p in projects {
        node.set_project(&p.name, p.route.clone());
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
        client.request(&req, T).await
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
        } => create(
            ctx,
            &name,
            &listen,
            public_address.as_deref(),
            &credential_ttl,
            identity,
            database,
        ),
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

fn create(
    ctx: &Ctx,
    name: &str,
    listen: &str,
    public: Option<&str>,
    ttl: &str,
    identity: Option<String>,
    database: Option<String>,
) -> Result<()> {
    validate_name("project", name)?;
    if let Some(url) = &database {
        if !airlock_project::store::is_postgres_url(url) {
            bail!("--database must be a PostgreSQL URL (postgres://user[:password]@host[:port]/database); without it the project keeps its state in a local SQLite file");
        }
    }
    if ctx.state.hosted_projects()?.iter().any(|p| p.name == name) {
        bail!(
            "a project named {name:?} is already hosted here (see `airlock project show {name}`)"
        );
    }
    let credential_ttl = parse_duration(ttl)?;
    if !(60..=30 * 86400).contains(&credential_ttl) {
        bail!("--credential-ttl must be between 1m and 30d");
    }
    let listen_addr: std::net::SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen:?} is not IP:PORT"))?;
    let route = address_to_route(public.unwrap_or(listen))?;
    let admin = match identity {
        Some(i) => i,
        None => ctx.state.default_identity()?,
    };
    let node_name = format!("project-{name}");
    if ctx.state.node(&node_name)?.is_some() {
        bail!("a node named {node_name:?} already exists; delete it first");
    }
    let node_identity = format!("project-{name}");
    let authority_identity = format!("authority-{name}");
    let hosted = HostedProject {
        name: name.to_string(),
        node: node_name.clone(),
        authority_identity: authority_identity.clone(),
        route: route.clone(),
        credential_ttl,
        database: database.clone(),
    };
    if let Some(url) = &database {
        eprintln!("Connecting to {}…", airlock_project::store::redact_url(url));
    }
    let store = open_store(ctx, &hosted)?;
    let joined = match &database {
        Some(_) => share_keys(ctx, &store, name, &node_identity, &authority_identity)?,
        None => {
            for id in [&node_identity, &authority_identity] {
                if ctx.state.identity_row(id)?.is_none() {
                    ctx.state.create_identity(id)?;
                }
            }
            false
        }
    };
    let (admin_secret, _) = ctx.state.load_identity(&admin)?;
    store.put_member(&Member {
        identifier: admin_secret.identifier().to_string(),
        attributes: Attributes::new(),
        relay: Some("*".into()),
        enroller: true,
        admin: true,
        added_at: unix_now(),
    })?;
    let held_in = store.describe();
    drop(store);
    ctx.state
        .insert_node(&node_name, &node_identity, &listen_addr.to_string())?;
    ctx.state.insert_hosted_project(&hosted)?;
    if let Err(e) = super::node::spawn_background_quiet(ctx, &node_name) {
        ctx.state.delete_hosted_project(name)?;
        ctx.state.delete_node(&node_name)?;
        return Err(e);
    }
    let (pn, _) = ctx.state.load_identity(&node_identity)?;
    let (au, _) = ctx.state.load_identity(&authority_identity)?;
    ctx.state.put_membership(&Membership {
        identity: admin.clone(),
        project: name.to_string(),
        route: route.clone(),
        project_identity: pn.history().encode(),
        authority_identity: au.history().encode(),
    })?;
    let v = json!({
        "name": name,
        "route": route,
        "node": node_name,
        "project_identifier": pn.identifier().to_string(),
        "authority_identifier": au.identifier().to_string(),
        "admin": admin_secret.identifier().to_string(),
        "joined": joined,
        "database": database.as_deref().map(airlock_project::store::redact_url),
    });
    if joined {
        eprintln!("Joined project {name}, held in {held_in}: this node serves it too.");
    }
    eprintln!(
        "Project {name} is running on node {node_name} ({listen_addr}); members reach it at {route}.\nYou ({admin}) are its administrator: create tickets with `airlock project ticket`."
    );
    ctx.print(&v, |v| v["name"].as_str().unwrap_or_default().to_string());
    Ok(())
}

/// Opens the authority state of a project hosted here: its PostgreSQL database, or the SQLite
/// file in the state folder.
pub fn open_store(ctx: &Ctx, hp: &HostedProject) -> Result<AuthorityStore> {
    match &hp.database {
        Some(url) => AuthorityStore::postgres(url),
        None => {
            let dir = ctx.state.home().join("projects").join(&hp.name);
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)?;
            AuthorityStore::open(&dir.join("authority.sqlite"))
        }
    }
}

/// Makes the local project and authority identities those of the project the shared database
/// holds; creates them (and records them in the database) if it holds none yet. Returns true if
/// the project existed before (this node joins it).
fn share_keys(
    ctx: &Ctx,
    store: &AuthorityStore,
    name: &str,
    node_identity: &str,
    authority_identity: &str,
) -> Result<bool> {
    let held = match store.project_keys()? {
        Some(keys) => keys,
        None => {
            let mine = ProjectKeys {
                name: name.to_string(),
                project_identity: local_or_new_identity(ctx, node_identity)?,
                authority_identity: local_or_new_identity(ctx, authority_identity)?,
            };
            let held = store.claim_project(&mine)?;
            if held == mine {
                return Ok(false);
            }
            held // another node created the project at the same moment
        }
    };
    if held.name != name {
        bail!(
            "the database {} already holds project {:?}: give --name {} to serve that project from here too, or use another database",
            store.describe(),
            held.name,
            held.name
        );
    }
    ctx.state
        .import_identity_secret(node_identity, &held.project_identity)?;
    ctx.state
        .import_identity_secret(authority_identity, &held.authority_identity)?;
    Ok(true)
}

fn local_or_new_identity(ctx: &Ctx, name: &str) -> Result<Vec<u8>> {
    if ctx.state.identity_row(name)?.is_none() {
        ctx.state.create_identity(name)?;
    }
    Ok(ctx.state.load_identity(name)?.0.to_secret_bytes())
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
        client
            .request(&AuthorityRequest::Enroll { secret }, T)
            .await
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
