//! Project membership from this machine: enrolling an identity with a ticket, asking a
//! project's authority (tickets, members, relay bindings) through a short-lived in-process node,
//! and pinning the node that holds a relay.

use super::progress;
use crate::home::{Home, Membership};
use crate::routes::address_to_route;
use airlock_credential::Ticket;
use airlock_daemon::projects::{apply_projects, known_project, KnownProject};
use airlock_node::{unix_now, Node, NodeConfig, NodeIdentity, ProjectRoute};
use airlock_project::{AuthorityClient, AuthorityRequest};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::future::Future;
use std::time::Duration;

/// How long one exchange with a project's authority may take.
const T: Duration = Duration::from_secs(15);

/// Runs `f` on a short-lived in-process node with `identity`.
pub fn with_client_node<T, F, Fut>(
    home: &Home,
    identity: &str,
    projects: Vec<KnownProject>,
    f: F,
) -> Result<T>
where
    F: FnOnce(Node) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let (secret, purpose) = home.load_identity(identity)?;
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
pub fn via_relay_pin(home: &Home, node: &str, project: &str, relay: &str) -> Result<Vec<String>> {
    let identity = home.require_node(node)?.identity;
    let m = membership(home, &identity, project)?;
    let kp = known_project(&m)?;
    let (p, r) = (project.to_string(), relay.to_string());
    let pinned = with_client_node(home, &identity, vec![kp], |node| async move {
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
             accepts any outlet node its inlet policy (tcp-inlet or kafka-inlet) admits (by default: any member with a \
             valid project credential). Give --authorized IDENTIFIER, or create the inlet again \
             once the relay is registered, to pin the outlet node."
        ),
    }
    Ok(pinned)
}

pub fn membership(home: &Home, identity: &str, project: &str) -> Result<Membership> {
    home
        .memberships(Some(identity))?
        .into_iter()
        .find(|m| m.project == project)
        .with_context(|| format!("identity {identity:?} is not a member of project {project:?} (enroll it with `airlock project enroll TICKET --identity {identity}`)"))
}

pub fn authority_request(
    home: &Home,
    identity: &str,
    project: &str,
    req: AuthorityRequest,
) -> Result<Value> {
    let m = membership(home, identity, project)?;
    let kp = known_project(&m)?;
    let project = project.to_string();
    with_client_node(home, identity, vec![kp], |node| async move {
        let client = AuthorityClient::connect(&node, &project, T).await?;
        Ok(client.request(&req, T).await?)
    })
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

/// Enrolls `identity` with a ticket; returns what `enroll` prints (progress goes to stderr).
pub fn enroll_identity(
    home: &Home,
    ticket: Option<String>,
    identity: Option<String>,
    project_address: Option<&str>,
) -> Result<Value> {
    let mut ticket = read_ticket(ticket)?;
    if let Some(addr) = project_address {
        ticket.route = address_to_route(addr)?;
    }
    let (project_node, authority) = ticket.verify(unix_now())?;
    // An identity made for this enrollment is removed again if the enrollment fails.
    let (identity, created) = match identity {
        Some(i) => {
            let created = home.identity_row(&i)?.is_none();
            if created {
                home.create_identity(&i)?;
                eprintln!("Created identity {i}");
            }
            (i, created)
        }
        None => {
            let had_one = !home.identities()?.is_empty();
            let i = home.default_identity()?;
            if !had_one {
                eprintln!("Created identity {i}");
            }
            (i, !had_one)
        }
    };
    let result = enroll_as(home, &ticket, project_node, authority, &identity);
    if result.is_err() && created {
        match home.delete_identity(&identity) {
            Ok(()) => eprintln!("Removed identity {identity} again: the enrollment failed."),
            Err(e) => eprintln!(
                "Could not remove identity {identity}: {:#}",
                anyhow::Error::from(e)
            ),
        }
    }
    result
}

/// Where a route of the form `/ip4/H/tcp/P` (or `ip6`, `dnsaddr`) leads, as `H:P`; other
/// routes as they are.
pub fn route_host_port(route: &str) -> String {
    let parts: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    match parts[..] {
        ["ip4" | "dnsaddr", host, "tcp", port] => format!("{host}:{port}"),
        ["ip6", host, "tcp", port] => format!("[{host}]:{port}"),
        _ => route.to_string(),
    }
}

/// Redeems `ticket` for `identity` at the project and records the membership.
fn enroll_as(
    home: &Home,
    ticket: &Ticket,
    project_node: airlock_identity::VerifiedIdentity,
    authority: airlock_identity::VerifiedIdentity,
    identity: &str,
) -> Result<Value> {
    let kp = KnownProject {
        name: ticket.project.clone(),
        route: ProjectRoute {
            route: ticket.route.parse()?,
            identifier: project_node.identifier,
        },
        authority,
    };
    let (project, secret) = (ticket.project.clone(), hex::encode(ticket.secret));
    let at = route_host_port(&ticket.route);
    eprintln!("Enrolling identity {identity} with project {project} at {at}…");
    let v = progress::while_waiting(format!("waiting for project {project} at {at}"), || {
        with_client_node(home, identity, vec![kp], |node| async move {
            let client = AuthorityClient::connect(&node, &project, T).await?;
            Ok(client
                .request(&AuthorityRequest::Enroll { secret }, T)
                .await?)
        })
    })
    .with_context(|| {
        format!(
            "enrolling with project {} at {at} failed (is the project node running and reachable from here? another project node can be given with --project-address HOST:PORT)",
            ticket.project
        )
    })?;
    home.put_membership(&Membership {
        identity: identity.to_string(),
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
