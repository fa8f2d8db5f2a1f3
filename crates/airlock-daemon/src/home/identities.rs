//! The identities of the home: their keys (identity secret and purpose key, re-attested when
//! they need it), which one is the default, and which identifiers a node of this home knows.

use super::{validate_name, Home, HomeError, Result};
use airlock_identity::{IdentitySecret, PurposeKeySecret, DEFAULT_PURPOSE_KEY_TTL};
use airlock_node::unix_now;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// An identity row.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityRow {
    /// Local name.
    pub name: String,
    /// Identifier.
    pub identifier: String,
    /// Is it the default identity?
    pub is_default: bool,
    /// Unix seconds.
    pub created_at: u64,
}

impl Home {
    /// Creates and stores a new identity.
    pub fn create_identity(&self, name: &str) -> Result<IdentitySecret> {
        validate_name("identity", name)?;
        if self.identity_row(name)?.is_some() {
            return Err(HomeError::IdentityExists {
                name: name.to_string(),
            });
        }
        let now = unix_now();
        let secret = IdentitySecret::create(now);
        let purpose = PurposeKeySecret::create(&secret, now, DEFAULT_PURPOSE_KEY_TTL);
        self.db.execute(
            "INSERT INTO identities(name, identifier, secret, purpose_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, secret.identifier().to_string(), secret.to_secret_bytes(), purpose.to_secret_bytes(), now as i64],
        )?;
        if self.setting("default_identity")?.is_none() {
            self.set_setting("default_identity", name)?;
        }
        Ok(secret)
    }

    /// Stores identity `name` from its secret bytes (a project's keys loaded from a shared
    /// database), with a fresh purpose key. Keeping an existing identity with the same
    /// identifier is fine; one with another identifier is an error.
    pub fn import_identity_secret(
        &self,
        name: &str,
        secret_bytes: &[u8],
    ) -> Result<IdentitySecret> {
        let now = unix_now();
        let secret = IdentitySecret::from_secret_bytes(secret_bytes, now).map_err(|source| {
            HomeError::CorruptImportedKey {
                name: name.to_string(),
                source,
            }
        })?;
        if let Some(row) = self.identity_row(name)? {
            if row.identifier != secret.identifier().to_string() {
                return Err(HomeError::IdentityConflict {
                    name: name.to_string(),
                    identifier: row.identifier,
                });
            }
            return Ok(secret);
        }
        validate_name("identity", name)?;
        let purpose = PurposeKeySecret::create(&secret, now, DEFAULT_PURPOSE_KEY_TTL);
        self.db.execute(
            "INSERT INTO identities(name, identifier, secret, purpose_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, secret.identifier().to_string(), secret.to_secret_bytes(), purpose.to_secret_bytes(), now as i64],
        )?;
        Ok(secret)
    }

    /// Loads an identity's keys.
    pub fn load_identity(&self, name: &str) -> Result<(IdentitySecret, PurposeKeySecret)> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .db
            .query_row(
                "SELECT secret, purpose_key FROM identities WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (s, p) = row.ok_or_else(|| HomeError::UnknownIdentity {
            name: name.to_string(),
        })?;
        let now = unix_now();
        let secret = IdentitySecret::from_secret_bytes(&s, now).map_err(|source| {
            HomeError::CorruptIdentity {
                name: name.to_string(),
                source,
            }
        })?;
        let mut purpose = PurposeKeySecret::from_secret_bytes(&p).map_err(|source| {
            HomeError::CorruptPurposeKey {
                name: name.to_string(),
                source,
            }
        })?;
        // After a rotation of the identity key, or near expiry, re-attest.
        let verified = secret.history().verify(now)?;
        if purpose.needs_rotation(now) || purpose.attestation.verify(&verified, now).is_err() {
            purpose = PurposeKeySecret::create(&secret, now, DEFAULT_PURPOSE_KEY_TTL);
            self.store_purpose_key(name, &purpose)?;
        }
        Ok((secret, purpose))
    }

    /// Saves a rotated purpose key.
    pub fn store_purpose_key(&self, name: &str, purpose: &PurposeKeySecret) -> Result<()> {
        self.db.execute(
            "UPDATE identities SET purpose_key = ?2 WHERE name = ?1",
            params![name, purpose.to_secret_bytes()],
        )?;
        Ok(())
    }

    /// Saves a rotated identity.
    pub fn store_identity(&self, name: &str, secret: &IdentitySecret) -> Result<()> {
        self.db.execute(
            "UPDATE identities SET secret = ?2 WHERE name = ?1",
            params![name, secret.to_secret_bytes()],
        )?;
        Ok(())
    }

    /// One identity's row.
    pub fn identity_row(&self, name: &str) -> Result<Option<IdentityRow>> {
        Ok(self.identities()?.into_iter().find(|i| i.name == name))
    }

    /// All identities.
    pub fn identities(&self) -> Result<Vec<IdentityRow>> {
        let default = self.setting("default_identity")?;
        let mut st = self
            .db
            .prepare("SELECT name, identifier, created_at FROM identities ORDER BY name")?;
        let rows = st.query_map([], |r| {
            Ok(IdentityRow {
                name: r.get(0)?,
                identifier: r.get(1)?,
                is_default: false,
                created_at: r.get::<_, i64>(2)? as u64,
            })
        })?;
        let mut v = Vec::new();
        for r in rows {
            let mut r = r?;
            r.is_default = default.as_deref() == Some(&r.name);
            v.push(r);
        }
        Ok(v)
    }

    /// The identifiers node `node` knows (docs/protocol.md §5.4: a node outside any project
    /// admits only these, its own and those its policies name): every identity in this
    /// home, and the peers the `--authorized` lists of its inlets (TCP and Kafka) and relays
    /// name.
    pub fn known_identifiers(&self, node: &str) -> Result<Vec<String>> {
        let mut ids: Vec<String> = self
            .identities()?
            .into_iter()
            .map(|i| i.identifier)
            .collect();
        ids.extend(self.inlets(node)?.into_iter().flat_map(|i| i.authorized));
        ids.extend(
            self.kafka_inlets(node)?
                .into_iter()
                .flat_map(|i| i.authorized),
        );
        ids.extend(self.relays(node)?.into_iter().flat_map(|(_, _, a)| a));
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Deletes an identity that no node uses.
    pub fn delete_identity(&self, name: &str) -> Result<()> {
        let users: Vec<String> = self
            .db
            .prepare("SELECT name FROM nodes WHERE identity = ?1")?
            .query_map([name], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if !users.is_empty() {
            return Err(HomeError::IdentityInUse {
                name: name.to_string(),
                nodes: users,
            });
        }
        let n = self
            .db
            .execute("DELETE FROM identities WHERE name = ?1", [name])?;
        if n == 0 {
            return Err(HomeError::NoSuchIdentity {
                name: name.to_string(),
            });
        }
        if self.setting("default_identity")?.as_deref() == Some(name) {
            self.db
                .execute("DELETE FROM settings WHERE key = 'default_identity'", [])?;
        }
        Ok(())
    }

    /// The default identity, created as `default` if there is none.
    pub fn default_identity(&self) -> Result<String> {
        if let Some(n) = self.setting("default_identity")? {
            if self.identity_row(&n)?.is_some() {
                return Ok(n);
            }
        }
        if self.identity_row("default")?.is_none() {
            self.create_identity("default")?;
        }
        self.set_setting("default_identity", "default")?;
        Ok("default".into())
    }
}
