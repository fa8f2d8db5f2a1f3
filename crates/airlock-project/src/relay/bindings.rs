//! Relay bindings: which identity a relay name belongs to (the first that registered it), kept
//! in the authority store on a project node and in memory elsewhere.

use crate::store::AuthorityStore;
use airlock_identity::Identifier;
use std::collections::HashMap;
use std::sync::Mutex;

/// Why a relay binding could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindingError {
    /// The authority store failed.
    #[error("cannot read the relay bindings")]
    Store(#[from] crate::store::StoreError),
    /// The stored owner is not an identifier.
    #[error("relay {name:?} is bound to a malformed identifier {owner:?}")]
    MalformedOwner {
        /// The relay name.
        name: String,
        /// What is stored.
        owner: String,
    },
}

/// Where a relay service records which identity each relay name is bound to: the identity that
/// first registered it. Nobody else may register the name until the binding is released.
///
/// A project node uses its authority store ([`AuthorityStore`]: persistent, shared by the
/// project nodes of one database, released by `airlock project relay release NAME` or by
/// deleting the owner); any other node keeps bindings in memory ([`MemoryBindings`]: they last
/// until the node restarts).
pub trait RelayBindings: Send + Sync {
    /// Binds `name` to `owner` unless it is bound already, atomically; returns the owner it is
    /// bound to afterwards. An error means the binding could not be read or written (the
    /// registration is refused, the relay keeper tries again).
    fn bind<'a>(&'a self, name: &'a str, owner: &'a Identifier) -> BindFuture<'a>;

    /// What the refusal of a bound name tells the registrant about releasing it.
    fn release_hint(&self, name: &str) -> String;
}

/// What [`RelayBindings::bind`] returns: the owner the name is bound to afterwards.
pub type BindFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Identifier, BindingError>> + Send + 'a>,
>;

impl RelayBindings for AuthorityStore {
    fn bind<'a>(&'a self, name: &'a str, owner: &'a Identifier) -> BindFuture<'a> {
        Box::pin(async move {
            let b = self.bind_relay(name, &owner.to_string()).await?;
            b.owner.parse().map_err(|_| BindingError::MalformedOwner {
                name: name.to_string(),
                owner: b.owner.clone(),
            })
        })
    }

    fn release_hint(&self, name: &str) -> String {
        format!(
            "a project administrator can release it with `airlock project relay release {name}`"
        )
    }
}

/// Relay bindings kept in memory, for a node that hosts no project: a name stays with the
/// identity that first registered it until the node restarts.
#[derive(Default)]
pub struct MemoryBindings(Mutex<HashMap<String, Identifier>>);

impl RelayBindings for MemoryBindings {
    fn bind<'a>(&'a self, name: &'a str, owner: &'a Identifier) -> BindFuture<'a> {
        let held = *self
            .0
            .lock()
            .expect("bindings")
            .entry(name.to_string())
            .or_insert(*owner);
        Box::pin(std::future::ready(Ok(held)))
    }

    fn release_hint(&self, _name: &str) -> String {
        "this node hosts no project and keeps relay bindings in memory: the name is free again \
         when the node restarts"
            .to_string()
    }
}
