//! The portals' own registry: the node's inlets and outlets by name, with creating, listing,
//! deleting, re-checking access and stopping them.

use super::inlet::{InletError, LinkRefused, INITIAL_WAIT};
use super::outlet::OutletWorker;
use super::PortalContext;
use super::{Inlet, InletInfo, InletSpec, Outlet, OutletInfo, OutletSpec};
use crate::flow_control::Access;
use airlock_wire::Address;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Names that services and portals may not take.
pub const RESERVED_ADDRESSES: &[&str] = &["api", "echo", "uppercase"];

/// Inlets and outlets by name.
#[derive(Default)]
pub struct Portals {
    inlets: Mutex<HashMap<String, Arc<Inlet>>>,
    outlets: Mutex<HashMap<String, Arc<Outlet>>>,
}

/// Why an outlet could not be created ([`Portals::create_outlet`], [`Portals::add_outlet`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateOutletError {
    /// The name is one of [`RESERVED_ADDRESSES`] or starts like the node's own addresses
    /// (`sc.`, `tcp.`, `portal.`).
    #[error("{name:?} is reserved; choose another name")]
    ReservedName {
        /// The name given.
        name: String,
    },
    /// The name is not a valid address.
    #[error("invalid name {name:?}: {error}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why (part of the message, not a separate cause).
        error: airlock_wire::DecodeError,
    },
    /// An outlet of that name exists on this node.
    #[error("an outlet named {name:?} already exists on node {node}")]
    Exists {
        /// The name given.
        name: String,
        /// This node's name.
        node: String,
    },
    /// Another worker of this node has that address.
    #[error("the address {name:?} is already in use on node {node}")]
    AddressInUse {
        /// The name given.
        name: String,
        /// This node's name.
        node: String,
    },
}

/// Why an inlet could not be created ([`Portals::create_inlet`],
/// [`Portals::create_inlet_and_wait`]). Whether retrying can help:
/// [`Classify::failure_kind`](crate::Classify::failure_kind).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateInletError {
    /// An inlet of that name exists on this node.
    #[error("an inlet named {name:?} already exists on node {node}")]
    Exists {
        /// The name given.
        name: String,
        /// This node's name.
        node: String,
    },
    /// The inlet could not start: an invalid spec, or its address cannot be listened on.
    #[error(transparent)]
    Start(#[from] InletError),
    /// Its link was refused for good while the create waited (it was removed again).
    #[error(transparent)]
    Refused(#[from] LinkRefused),
}

fn check_name(name: &str) -> Result<Address, CreateOutletError> {
    if RESERVED_ADDRESSES.contains(&name)
        || name.starts_with("sc.")
        || name.starts_with("tcp.")
        || name.starts_with("portal.")
    {
        return Err(CreateOutletError::ReservedName { name: name.into() });
    }
    Address::new(name).map_err(|error| CreateOutletError::InvalidName {
        name: name.into(),
        error,
    })
}

impl Portals {
    /// Creates an outlet and registers it at its service address.
    pub fn create_outlet(
        &self,
        ctx: &PortalContext,
        spec: OutletSpec,
    ) -> Result<OutletInfo, CreateOutletError> {
        self.add_outlet(ctx, Outlet::new(spec))
    }

    /// Registers an outlet made with [`Outlet::with_target`] (e.g. one whose streams go to a
    /// service in this process) at its service address.
    pub fn add_outlet(
        &self,
        ctx: &PortalContext,
        outlet: Arc<Outlet>,
    ) -> Result<OutletInfo, CreateOutletError> {
        let spec = outlet.spec().clone();
        let addr = check_name(&spec.name)?;
        let mut outlets = self.outlets.lock().expect("outlets");
        if outlets.contains_key(&spec.name) {
            return Err(CreateOutletError::Exists {
                name: spec.name,
                node: ctx.node_name().to_string(),
            });
        }
        if !ctx.router().register(
            addr,
            Access::Service,
            Arc::new(OutletWorker {
                outlet: outlet.clone(),
                ctx: ctx.clone(),
            }),
        ) {
            return Err(CreateOutletError::AddressInUse {
                name: spec.name,
                node: ctx.node_name().to_string(),
            });
        }
        outlets.insert(spec.name.clone(), outlet.clone());
        tracing::info!(outlet = %spec.name, to = %spec.to, "outlet created");
        Ok(outlet.info())
    }

    /// Outlets, by name.
    pub fn outlets(&self) -> Vec<OutletInfo> {
        let mut v: Vec<_> = self
            .outlets
            .lock()
            .expect("outlets")
            .values()
            .map(|o| o.info())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Deletes an outlet (its links close); returns false if none had that name.
    pub fn delete_outlet(&self, ctx: &PortalContext, name: &str) -> bool {
        let Some(o) = self.outlets.lock().expect("outlets").remove(name) else {
            return false;
        };
        if let Ok(a) = Address::new(name) {
            ctx.router().unregister(&a);
        }
        o.stop(ctx);
        true
    }

    /// Creates an inlet (it starts listening at once) and waits up to [`INITIAL_WAIT`] for its
    /// first link; the inlet is kept whatever the link's fate (for restoring recorded inlets).
    pub async fn create_inlet(
        &self,
        ctx: &PortalContext,
        spec: InletSpec,
    ) -> Result<InletInfo, CreateInletError> {
        let inlet = self.add_inlet(ctx, spec).await?;
        let _ = inlet.wait_first(INITIAL_WAIT).await;
        Ok(inlet.info())
    }

    /// Creates an inlet and waits up to `wait` until its link is up or fails permanently. A
    /// permanent failure (the outlet's or this node's policy, a trust policy, a revocation)
    /// removes the inlet again and is the error ([`CreateInletError::Refused`]); when the time
    /// passes first,
    /// the inlet is kept and keeps trying (its status says `down`, with the last error).
    pub async fn create_inlet_and_wait(
        &self,
        ctx: &PortalContext,
        spec: InletSpec,
        wait: Duration,
    ) -> Result<InletInfo, CreateInletError> {
        let name = spec.name.clone();
        let inlet = self.add_inlet(ctx, spec).await?;
        match inlet.wait_first(wait).await {
            Ok(_) => Ok(inlet.info()),
            Err(e) => {
                let mine = {
                    let mut inlets = self.inlets.lock().expect("inlets");
                    let mine = inlets.get(&name).is_some_and(|i| Arc::ptr_eq(i, &inlet));
                    if mine {
                        inlets.remove(&name);
                    }
                    mine
                };
                if mine {
                    inlet.stop(ctx).await;
                }
                tracing::warn!(inlet = %name, "inlet not created: {e}");
                Err(e.into())
            }
        }
    }

    async fn add_inlet(
        &self,
        ctx: &PortalContext,
        spec: InletSpec,
    ) -> Result<Arc<Inlet>, CreateInletError> {
        let exists = || CreateInletError::Exists {
            name: spec.name.clone(),
            node: ctx.node_name().to_string(),
        };
        if self.inlets.lock().expect("inlets").contains_key(&spec.name) {
            return Err(exists());
        }
        let inlet = Inlet::start(ctx, spec.clone()).await?;
        let taken = {
            let mut inlets = self.inlets.lock().expect("inlets");
            let taken = inlets.contains_key(&spec.name);
            if !taken {
                inlets.insert(spec.name.clone(), inlet.clone());
            }
            taken
        };
        if taken {
            inlet.stop(ctx).await;
            return Err(exists());
        }
        tracing::info!(inlet = %spec.name, from = %inlet.bound(), to = %spec.to, "inlet created");
        Ok(inlet)
    }

    /// The inlet with that name.
    pub fn inlet(&self, name: &str) -> Option<Arc<Inlet>> {
        self.inlets.lock().expect("inlets").get(name).cloned()
    }

    /// Inlets, by name.
    pub fn inlets(&self) -> Vec<InletInfo> {
        let mut v: Vec<_> = self
            .inlets
            .lock()
            .expect("inlets")
            .values()
            .map(|i| i.info())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Deletes an inlet (stops listening, closes its link); returns false if none had that name.
    pub async fn delete_inlet(&self, ctx: &PortalContext, name: &str) -> bool {
        let Some(i) = self.inlets.lock().expect("inlets").remove(name) else {
            return false;
        };
        i.stop(ctx).await;
        true
    }

    /// Re-checks every open link against current policies and credentials.
    pub fn recheck(&self, ctx: &PortalContext) {
        let outlets: Vec<_> = self
            .outlets
            .lock()
            .expect("outlets")
            .values()
            .cloned()
            .collect();
        for o in outlets {
            o.recheck(ctx);
        }
        let inlets: Vec<_> = self
            .inlets
            .lock()
            .expect("inlets")
            .values()
            .cloned()
            .collect();
        for i in inlets {
            i.recheck(ctx);
        }
    }

    /// Inlets stop accepting new client connections (open ones go on).
    pub fn stop_accepting(&self) {
        let inlets: Vec<_> = self
            .inlets
            .lock()
            .expect("inlets")
            .values()
            .cloned()
            .collect();
        for i in inlets {
            i.stop_accepting();
        }
    }

    /// Stops and forgets every inlet and outlet.
    pub async fn stop_all(&self, ctx: &PortalContext) {
        let inlets: Vec<_> = self
            .inlets
            .lock()
            .expect("inlets")
            .drain()
            .map(|(_, i)| i)
            .collect();
        for i in inlets {
            i.stop(ctx).await;
        }
        let outlets: Vec<_> = self
            .outlets
            .lock()
            .expect("outlets")
            .drain()
            .map(|(_, o)| o)
            .collect();
        for o in outlets {
            if let Ok(a) = Address::new(o.spec().name.as_str()) {
                ctx.router().unregister(&a);
            }
            o.stop(ctx);
        }
    }
}
