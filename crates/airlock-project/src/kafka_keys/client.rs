//! The member side of the key directory: one secure channel to the project (trusting only the
//! project identity, as the authority client does) and a call per request.
//!
//! What comes back is checked, not trusted: listed consumer keys must verify against the
//! change history listed with them, and a fetched key record against its producer's history
//! and carry exactly the caller's grant. A lying directory yields [`ClientError::BadAnswer`].

use super::{ClientError, KeyDirectoryRequest, RefusalCode, KAFKA_KEYS_ADDRESS};
use crate::api::{request_answer, RequestError};
use airlock_credential::{Attributes, Credential};
use airlock_identity::{ChangeHistory, Identifier, VerifiedIdentity};
use airlock_kafka_keys::{ConsumerKeyAttestation, GrantAddition, KeyId, KeyRecord};
use airlock_node::channel::SecureChannel;
use airlock_node::{resolve, Node};
use airlock_wire::{MultiAddr, Reader, Route};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A member's consumer key as listed by the directory, checked against its history.
#[derive(Debug, Clone)]
pub struct ListedConsumer {
    /// The member.
    pub identifier: Identifier,
    /// Its verified identity (the history the attestation verified against).
    pub identity: VerifiedIdentity,
    /// Its consumer key attestation (verified).
    pub attestation: ConsumerKeyAttestation,
    /// A credential the authority issued for it at listing time (decoded, not verified: the
    /// producer verifies it against the authorities it trusts).
    pub credential: Credential,
    /// Its attributes as the authority holds them.
    pub attributes: Attributes,
}

/// A key record fetched with the caller's grant, checked against its producer.
#[derive(Debug, Clone)]
pub struct FetchedKey {
    /// The record, with exactly one grant: the caller's.
    pub record: KeyRecord,
    /// The producer's verified identity.
    pub producer: VerifiedIdentity,
}

/// A connection to a project's key directory.
pub struct KeyDirectoryClient {
    node: Node,
    route: Route,
    channels: Vec<Arc<SecureChannel>>,
    timeout: Duration,
}

fn bad(detail: impl std::fmt::Display) -> ClientError {
    ClientError::BadAnswer(detail.to_string())
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a str> {
    v[name]
        .as_str()
        .ok_or_else(|| bad(format!("no {name:?} in the answer")))
}

fn hex_field(v: &Value, name: &str) -> Result<Vec<u8>> {
    hex::decode(field(v, name)?).map_err(|_| bad(format!("{name:?} is not hex")))
}

fn verified_history(bytes: &[u8], now: u64) -> Result<VerifiedIdentity> {
    let mut r = Reader::new(bytes);
    let h = ChangeHistory::decode(&mut r).map_err(bad)?;
    r.finish("change history").map_err(bad)?;
    h.verify(now).map_err(bad)
}

impl KeyDirectoryClient {
    /// Opens a channel to the key directory of `project` (which the node must know, see
    /// [`Node::set_project`]); each call waits at most `timeout` for its answer.
    pub async fn connect(node: &Node, project: &str, timeout: Duration) -> Result<Self> {
        let ma: MultiAddr = format!("/project/{project}/service/{KAFKA_KEYS_ADDRESS}")
            .parse()
            .map_err(|source| RequestError::InvalidProject {
                project: project.to_string(),
                source,
            })?;
        let r = resolve::resolve(node, &ma, airlock_channel::TrustPolicy::Everyone, timeout)
            .await
            .map_err(|source| RequestError::Unreachable {
                project: project.to_string(),
                source,
            })?;
        Ok(KeyDirectoryClient {
            node: node.clone(),
            route: r.route,
            channels: r.opened,
            timeout,
        })
    }

    /// Sends `req`; the `result` of a positive answer.
    async fn call(&self, req: &KeyDirectoryRequest) -> Result<Value> {
        let body = serde_json::to_value(req).expect("a request serializes");
        let v = request_answer(&self.node, &self.route, &body, self.timeout).await?;
        let reason = v["error"]
            .as_str()
            .unwrap_or("the key directory refused the request")
            .to_string();
        match v["ok"].as_bool() {
            Some(true) => Ok(v["result"].clone()),
            Some(false) if v["retry"].as_bool() == Some(true) => {
                Err(RequestError::Undecided { reason }.into())
            }
            Some(false) => Err(ClientError::Refused {
                code: v["code"]
                    .as_str()
                    .and_then(RefusalCode::parse)
                    .unwrap_or(RefusalCode::Internal),
                reason,
            }),
            None => Err(bad("no \"ok\"")),
        }
    }

    /// Publishes this node's consumer key (`history` is the node identity's change history,
    /// which the attestation must verify against). Returns the attestation's expiry.
    pub async fn publish_consumer_key(
        &self,
        history: &ChangeHistory,
        attestation: &ConsumerKeyAttestation,
    ) -> Result<u64> {
        let v = self
            .call(&KeyDirectoryRequest::PublishConsumerKey {
                history: hex::encode(history.encode()),
                attestation: hex::encode(attestation.encode()),
            })
            .await?;
        v["expires_at"].as_u64().ok_or_else(|| bad("no expires_at"))
    }

    /// Every current member's consumer key (all pages) whose attestation verifies at `now`
    /// against the history listed with it; entries that do not are left out and logged.
    pub async fn list_consumers(&self, now: u64) -> Result<Vec<ListedConsumer>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let v = self
                .call(&KeyDirectoryRequest::ListConsumers {
                    after: after.clone(),
                })
                .await?;
            let entries = v["consumers"]
                .as_array()
                .ok_or_else(|| bad("no consumers"))?;
            for e in entries {
                match listed(e, now) {
                    Ok(c) => out.push(c),
                    Err(err) => {
                        tracing::warn!("kafka key directory listed an unusable consumer key: {err}")
                    }
                }
            }
            let last = entries.last().and_then(|e| e["identifier"].as_str());
            match (v["more"].as_bool(), last) {
                (Some(true), Some(last)) if after.as_deref() != Some(last) => {
                    after = Some(last.to_string())
                }
                _ => return Ok(out),
            }
        }
    }

    /// Stores `record`, produced and signed by this node's identity (`history`).
    pub async fn put_key_record(&self, history: &ChangeHistory, record: &KeyRecord) -> Result<()> {
        self.call(&KeyDirectoryRequest::PutKeyRecord {
            history: hex::encode(history.encode()),
            record: hex::encode(record.encode()),
        })
        .await?;
        Ok(())
    }

    /// Adds grants to key record `key_id`, which this node produced. Returns how many.
    pub async fn add_grants(&self, key_id: KeyId, grants: &[GrantAddition]) -> Result<u64> {
        let v = self
            .call(&KeyDirectoryRequest::AddGrants {
                key_id: key_id.to_string(),
                grants: grants.iter().map(|g| hex::encode(g.encode())).collect(),
            })
            .await?;
        v["added"].as_u64().ok_or_else(|| bad("no added"))
    }

    /// Key record `key_id` with this node's grant, checked against its producer at `now`.
    /// A record without a grant for this node is refused with [`RefusalCode::NoGrant`].
    pub async fn get_key(&self, key_id: KeyId, now: u64) -> Result<FetchedKey> {
        let v = self
            .call(&KeyDirectoryRequest::GetKey {
                key_id: key_id.to_string(),
            })
            .await?;
        let record = KeyRecord::decode(&hex_field(&v, "record")?).map_err(bad)?;
        let producer = verified_history(&hex_field(&v, "producer_history")?, now)?;
        if record.key_id != key_id {
            return Err(bad(format!(
                "asked for key {key_id}, got {}",
                record.key_id
            )));
        }
        record.verify(&producer).map_err(bad)?;
        let me = self.node.identifier();
        if record.grants.len() != 1 || record.grants[0].grant.recipient != me {
            return Err(bad("the record does not hold exactly this node's grant"));
        }
        Ok(FetchedKey { record, producer })
    }

    /// The key records this node produced since `since` that hold its own grant (all pages),
    /// each checked against `me` (this node's verified identity) and carrying exactly that
    /// grant, with the recipients the directory lists for it. Records that do not check out
    /// are left out and logged.
    pub async fn own_keys(&self, me: &VerifiedIdentity, since: u64) -> Result<Vec<OwnKey>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let v = self
                .call(&KeyDirectoryRequest::OwnKeys {
                    since,
                    after: after.clone(),
                })
                .await?;
            let entries = v["keys"].as_array().ok_or_else(|| bad("no keys"))?;
            for e in entries {
                match own_key(e, me) {
                    Ok(k) => out.push(k),
                    Err(err) => {
                        tracing::warn!("kafka key directory returned an unusable key record of this node: {err}")
                    }
                }
            }
            match (v["more"].as_bool(), v["last"].as_str()) {
                (Some(true), Some(last)) if after.as_deref() != Some(last) => {
                    after = Some(last.to_string())
                }
                _ => return Ok(out),
            }
        }
    }

    /// True once a channel under this client closed (the client must be replaced).
    pub fn is_closed(&self) -> bool {
        self.channels.iter().any(|c| c.is_closed())
    }

    /// Closes the channel.
    pub fn close(&self) {
        for ch in self.channels.iter().rev() {
            ch.close(&self.node, true);
        }
    }
}

impl Drop for KeyDirectoryClient {
    fn drop(&mut self) {
        self.close();
    }
}

/// A key record this node produced, with its own grant, as `own-keys` returns it.
#[derive(Debug, Clone)]
pub struct OwnKey {
    /// The record, verified against this node's identity, with exactly this node's grant.
    pub record: KeyRecord,
    /// Who holds a grant for it (this node included), as the directory lists them.
    pub recipients: std::collections::BTreeSet<Identifier>,
}

/// One entry of an `own-keys` answer, checked.
fn own_key(e: &Value, me: &VerifiedIdentity) -> Result<OwnKey> {
    let record = KeyRecord::decode(&hex_field(e, "record")?).map_err(bad)?;
    if record.producer != me.identifier {
        return Err(bad(format!(
            "key {} is {}'s",
            record.key_id, record.producer
        )));
    }
    record.verify(me).map_err(bad)?;
    if record.grants.len() != 1 || record.grants[0].grant.recipient != me.identifier {
        return Err(bad("the record does not hold exactly this node's grant"));
    }
    let recipients = e["recipients"]
        .as_array()
        .ok_or_else(|| bad("no recipients"))?
        .iter()
        .map(|r| {
            r.as_str()
                .ok_or_else(|| bad("a recipient is not text"))?
                .parse()
                .map_err(bad)
        })
        .collect::<Result<_>>()?;
    Ok(OwnKey { record, recipients })
}

/// One entry of a `list-consumers` answer, checked.
fn listed(e: &Value, now: u64) -> Result<ListedConsumer> {
    let identifier: Identifier = field(e, "identifier")?.parse().map_err(bad)?;
    let identity = verified_history(&hex_field(e, "history")?, now)?;
    if identity.identifier != identifier {
        return Err(bad(format!(
            "the history listed for {identifier} is {}'s",
            identity.identifier
        )));
    }
    let attestation = ConsumerKeyAttestation::decode(&hex_field(e, "attestation")?).map_err(bad)?;
    attestation.verify(&identity, now).map_err(bad)?;
    let credential = Credential::decode(&hex_field(e, "credential")?).map_err(bad)?;
    let attributes = serde_json::from_value(e["attributes"].clone()).map_err(bad)?;
    Ok(ListedConsumer {
        identifier,
        identity,
        attestation,
        credential,
        attributes,
    })
}
