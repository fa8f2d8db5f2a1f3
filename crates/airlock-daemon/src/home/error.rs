//! What goes wrong reading or writing the home: [`HomeError`], one variant per failure, each
//! saying what to do next where the user can do something. The rest of the home module returns
//! these; the CLI prints them.

use airlock_identity::IdentityError;
use std::path::PathBuf;

/// Why reading or writing the home failed.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// Neither `$AIRLOCK_HOME` nor `$HOME` says where the home is.
    #[error("neither AIRLOCK_HOME nor HOME is set")]
    NoHome,
    /// The home folder could not be created.
    #[error("cannot create the state folder {}", path.display())]
    CreateFolder {
        /// The home folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The home's database could not be opened.
    #[error("cannot open the state database {}", path.display())]
    OpenDatabase {
        /// The database file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer airlock.
    #[error("the state in {} was written by a newer airlock (schema {version}); upgrade airlock or run `airlock reset`", path.display())]
    NewerSchema {
        /// The home folder.
        path: PathBuf,
        /// The database's schema version.
        version: usize,
    },
    /// A schema migration failed.
    #[error("migration {number}")]
    Migration {
        /// The migration's number (from 1).
        number: usize,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// A database query failed.
    #[error(transparent)]
    Database(#[from] rusqlite::Error),
    /// A file or folder in the home could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A name that is not 1–64 letters, digits, `-`, `_` or `.`.
    #[error("invalid {kind} name {name:?}: {}", NAME_RULE)]
    InvalidName {
        /// What it names (`node`, `identity`, …).
        kind: String,
        /// The name.
        name: String,
    },
    /// Creating an identity whose name is taken.
    #[error("an identity named {name:?} already exists (see `airlock identity list`)")]
    IdentityExists {
        /// The name.
        name: String,
    },
    /// Importing an identity whose name is taken by another key.
    #[error("a local identity named {name:?} already exists with another key ({identifier}); delete it first")]
    IdentityConflict {
        /// The name.
        name: String,
        /// The identifier of the local identity of that name.
        identifier: String,
    },
    /// No identity of that name (loading it).
    #[error("no identity named {name:?} (see `airlock identity list`)")]
    UnknownIdentity {
        /// The name.
        name: String,
    },
    /// No identity of that name (deleting it).
    #[error("no identity named {name:?}")]
    NoSuchIdentity {
        /// The name.
        name: String,
    },
    /// An identity that nodes still use cannot be deleted.
    #[error("identity {name:?} is used by node(s) {}; delete them first", nodes.join(", "))]
    IdentityInUse {
        /// The identity.
        name: String,
        /// The nodes using it.
        nodes: Vec<String>,
    },
    /// Key bytes given to import an identity are not a key.
    #[error("the stored key of identity {name:?} is corrupt")]
    CorruptImportedKey {
        /// The identity.
        name: String,
        /// Why.
        #[source]
        source: IdentityError,
    },
    /// A stored identity's key does not load.
    #[error("identity {name:?} is corrupt")]
    CorruptIdentity {
        /// The identity.
        name: String,
        /// Why.
        #[source]
        source: IdentityError,
    },
    /// A stored purpose key does not load.
    #[error("purpose key of {name:?} is corrupt")]
    CorruptPurposeKey {
        /// The identity.
        name: String,
        /// Why.
        #[source]
        source: IdentityError,
    },
    /// A stored identity's change history does not verify.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// No node of that name.
    #[error("{}", unknown_node(name, known))]
    UnknownNode {
        /// The name.
        name: String,
        /// The nodes there are.
        known: Vec<String>,
    },
    /// There is no node at all.
    #[error("there is no node yet; create one with `airlock node create`")]
    NoNode,
    /// There is no project at all.
    #[error("no project yet: create one with `airlock project create` or enroll with `airlock project enroll TICKET`")]
    NoProject,
    /// A hosted project's authority store could not be opened.
    #[error(transparent)]
    AuthorityStore(#[from] airlock_project::store::StoreError),
    /// A recorded value could not be encoded.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// What a valid name is (see [`validate_name`](super::validate_name)), as
/// [`HomeError::InvalidName`] says it.
pub const NAME_RULE: &str = "use 1-64 letters, digits, '-', '_' or '.'";

fn unknown_node(name: &str, known: &[String]) -> String {
    if known.is_empty() {
        format!(
            "unknown node {name:?}: there are no nodes yet (create one with `airlock node create`)"
        )
    } else {
        format!("unknown node {name:?} (known nodes: {})", known.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::validate_name;

    #[test]
    fn typed_errors_keep_their_messages() {
        let e = validate_name("node", ".x").unwrap_err();
        assert!(
            matches!(&e, HomeError::InvalidName { kind, name } if kind == "node" && name == ".x")
        );
        assert_eq!(
            e.to_string(),
            "invalid node name \".x\": use 1-64 letters, digits, '-', '_' or '.'"
        );
        let none = HomeError::UnknownNode {
            name: "n".into(),
            known: vec![],
        };
        assert_eq!(
            none.to_string(),
            "unknown node \"n\": there are no nodes yet (create one with `airlock node create`)"
        );
        let some = HomeError::UnknownNode {
            name: "n".into(),
            known: vec!["a".into(), "b".into()],
        };
        assert_eq!(some.to_string(), "unknown node \"n\" (known nodes: a, b)");
    }
}
