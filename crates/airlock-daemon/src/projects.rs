//! The projects a node belongs to and the ones it hosts: recorded memberships become routes
//! (`/project/NAME`), trusted authorities and credential refreshers; a hosted project's
//! authority and the relay service are registered on the node.

use crate::home::{Home, Membership};
use airlock_identity::{ChangeHistory, VerifiedIdentity};
use airlock_node::{unix_now, Node, ProjectRoute};
use std::sync::Arc;

/// Why a recorded membership or hosted project cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// A recorded identity (the project node's, an authority's) does not import or verify.
    #[error(transparent)]
    Identity(#[from] airlock_identity::IdentityError),
    /// A recorded project route is not a route.
    #[error(transparent)]
    Route(#[from] airlock_wire::multiaddr::MultiAddrError),
    /// The home could not be read (or a hosted project's authority store opened).
    #[error(transparent)]
    Home(#[from] crate::home::HomeError),
}

type Result<T, E = ProjectError> = std::result::Result<T, E>;

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

/// Hosts the authority of projects whose node this is, and joins the projects the node's
/// identity is a member of (routes, trusted authorities, credential refresh).
pub async fn start_project_services(
    home: &Home,
    node: &Node,
    name: &str,
    identity: &str,
) -> Result<Vec<tokio::sync::oneshot::Receiver<()>>> {
    use airlock_project::relay::{RelayAccess, RelayBindings, RelayService};
    let mut trusted = Vec::new();
    let mut relay_access = RelayAccess::Policy;
    let mut hosted = Vec::new();
    // A project node binds relay names in its authority store (persistent); any other node in
    // memory (until it restarts).
    let mut relay_bindings: Option<Arc<dyn RelayBindings>> = None;
    for hp in home
        .hosted_projects()?
        .into_iter()
        .filter(|p| p.node == name)
    {
        let (authority, _) = home.load_identity(&hp.authority_identity)?;
        let verified = authority.history().verify(airlock_node::unix_now())?;
        // The hosted project owns this node's resources (docs/protocol.md §9.7).
        node.set_authority_project(verified.identifier, &hp.name);
        hosted.push(verified.identifier);
        trusted.push(verified);
        let store = Arc::new(home.open_authority_store(&hp)?);
        if let Some(set) = airlock_project::authority::revoked_set(&store).await {
            node.set_revoked(&hp.name, set);
        }
        airlock_project::authority::spawn_revocation_sync(
            node.clone(),
            hp.name.clone(),
            store.clone(),
        );
        relay_access = RelayAccess::ProjectPermission;
        relay_bindings = Some(store.clone());
        let authority_config = || airlock_project::AuthorityConfig {
            project: hp.name.clone(),
            identity: authority.clone(),
            credential_ttl: hp.credential_ttl,
            store: store.clone(),
        };
        // The Kafka key directory shares the authority's store and identity (it lists
        // consumer keys with fresh credentials).
        airlock_project::kafka_keys::KeyDirectory::new(authority_config()).register(node);
        airlock_project::Authority::new(authority_config()).register(node);
        tracing::info!(project = %hp.name, "hosting the project authority");
    }
    if let [only] = hosted[..] {
        node.set_home_authority(Some(only));
    }
    match relay_bindings {
        Some(b) => RelayService::with_bindings(relay_access, b),
        None => RelayService::new(relay_access),
    }
    .register(node);
    let memberships = home.memberships(Some(identity))?;
    let mut known = Vec::new();
    for m in &memberships {
        match known_project(m) {
            Ok(k) => known.push(k),
            Err(e) => tracing::error!(project = %m.project, "cannot use project membership: {e:#}"),
        }
    }
    apply_projects(node, &known);
    // Encrypting Kafka inlets take their data keys from the (first) project's key directory.
    if let Some(k) = known.first() {
        node.kafka()
            .set_key_source(airlock_project::kafka_keys::DirectoryKeySource::new(
                node, &k.name,
            ));
    }
    trusted.extend(known.iter().map(|k| k.authority.clone()));
    node.set_trusted_authorities(trusted);
    let mut first = Vec::new();
    // Each project's refresh outcome is recorded for `project list` (a home handle of its own: the
    // hook runs on the refresher's task, the write on a blocking thread).
    let recorder = Home::open()
        .ok()
        .map(|s| Arc::new(std::sync::Mutex::new(s)));
    for k in known {
        // One channel to the project serves both background tasks.
        let session = airlock_project::refresh::AuthoritySession::new(node.clone(), k.name.clone());
        if let Some(rec) = recorder.clone() {
            let who = identity.to_string();
            session.on_outcome(Arc::new(move |project, outcome| {
                let (rec, who, project, outcome) = (
                    rec.clone(),
                    who.clone(),
                    project.to_string(),
                    outcome.clone(),
                );
                tokio::task::spawn_blocking(move || {
                    let r = rec
                        .lock()
                        .expect("home")
                        .put_membership_status(&who, &project, &outcome);
                    if let Err(e) = r {
                        tracing::warn!(%project, "cannot record the membership status: {e:#}");
                    }
                });
            }));
        }
        first.push(airlock_project::refresh::spawn_refresher(session.clone()));
        airlock_project::refresh::spawn_revocation_watch(session);
    }
    Ok(first)
}
