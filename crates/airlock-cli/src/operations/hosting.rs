//! Hosting a project: a project node with its authority state in SQLite, or in PostgreSQL
//! shared with other project nodes of the same project (`project create`).

use super::{process, progress};
use crate::home::{validate_name, Home, HostedProject, Membership};
use crate::routes::{address_to_route, parse_duration};
use airlock_credential::Attributes;
use airlock_node::unix_now;
use airlock_project::store::ProjectKeys;
use airlock_project::{AuthorityStore, Member};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// Records and starts the project node, with its authority state in SQLite or in the shared
/// PostgreSQL database (creating the project there, or joining it). Progress goes to stderr;
/// returns what `project create` prints.
pub fn host_project(
    home: &Home,
    name: &str,
    listen: &str,
    public: Option<&str>,
    ttl: &str,
    identity: Option<String>,
    database: Option<String>,
) -> Result<Value> {
    validate_name("project", name)?;
    if let Some(url) = &database {
        if !airlock_project::store::is_postgres_url(url) {
            bail!("--database must be a PostgreSQL URL (postgres://user[:password]@host[:port]/database); without it the project keeps its state in a local SQLite file");
        }
    }
    if home.hosted_projects()?.iter().any(|p| p.name == name) {
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
    // A taken port is found before anything is created, and named by this command's flag.
    if let Err(e) = std::net::TcpListener::bind(listen_addr) {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            bail!("cannot listen on {listen_addr}: the port is already in use (choose another with --listen IP:PORT)");
        }
    }
    let route = address_to_route(public.unwrap_or(listen))?;
    let admin = match identity {
        Some(i) => i,
        None => home.default_identity()?,
    };
    let node_name = format!("project-{name}");
    if home.node(&node_name)?.is_some() {
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
    let store = progress::while_waiting("opening the project's database", || {
        home.open_authority_store(&hosted)
    })?;
    // The store is async: one short-lived runtime for the few calls below.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let joined = match &database {
        Some(_) => rt.block_on(share_keys(
            home,
            &store,
            name,
            &node_identity,
            &authority_identity,
        ))?,
        None => {
            for id in [&node_identity, &authority_identity] {
                if home.identity_row(id)?.is_none() {
                    home.create_identity(id)?;
                }
            }
            false
        }
    };
    let (admin_secret, _) = home.load_identity(&admin)?;
    rt.block_on(store.put_member(&Member {
        identifier: admin_secret.identifier().to_string(),
        attributes: Attributes::new(),
        relay: Some("*".into()),
        enroller: true,
        admin: true,
        added_at: unix_now(),
    }))?;
    let held_in = store.describe();
    drop(store);
    drop(rt);
    home.insert_node(&node_name, &node_identity, &listen_addr.to_string())?;
    home.insert_hosted_project(&hosted)?;
    let started = progress::while_waiting(
        format!("starting project node {node_name} on {listen_addr}"),
        || process::spawn_default(home, &node_name),
    );
    if let Err(e) = started {
        home.delete_hosted_project(name)?;
        home.delete_node(&node_name)?;
        // The node names its own flag; here the address comes from --listen.
        let reason = format!("{e:#}").replace("--tcp-listener-address", "--listen");
        return Err(anyhow::anyhow!(reason));
    }
    let (pn, _) = home.load_identity(&node_identity)?;
    let (au, _) = home.load_identity(&authority_identity)?;
    home.put_membership(&Membership {
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
    Ok(v)
}

/// Makes the local project and authority identities those of the project the shared database
/// holds; creates them (and records them in the database) if it holds none yet. Returns true if
/// the project existed before (this node joins it).
async fn share_keys(
    home: &Home,
    store: &AuthorityStore,
    name: &str,
    node_identity: &str,
    authority_identity: &str,
) -> Result<bool> {
    let (held, joined) = match store.project_keys().await? {
        Some(keys) => (keys, true),
        None => {
            // Keys not yet saved locally: if another node claims the database at the same
            // moment, this node takes its keys instead and has nothing to undo.
            let mine = ProjectKeys {
                name: name.to_string(),
                project_identity: local_or_new_key(home, node_identity)?,
                authority_identity: local_or_new_key(home, authority_identity)?,
            };
            let held = store.claim_project(&mine).await?;
            let won = held == mine;
            (held, !won)
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
    home.import_identity_secret(node_identity, &held.project_identity)?;
    home.import_identity_secret(authority_identity, &held.authority_identity)?;
    Ok(joined)
}

/// The secret key of local identity `name`, or a new one kept in memory only.
fn local_or_new_key(home: &Home, name: &str) -> Result<Vec<u8>> {
    if home.identity_row(name)?.is_some() {
        return Ok(home.load_identity(name)?.0.to_secret_bytes());
    }
    Ok(airlock_identity::IdentitySecret::create(unix_now()).to_secret_bytes())
}
