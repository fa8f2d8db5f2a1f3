//! Deciding one key directory request of an authenticated caller.
//!
//! Who may do what (docs/protocol.md §9.9): every request needs a current member; a consumer
//! key, or a key record, is accepted only from the identity it names (checked against the
//! change history the caller sends, whose identifier must be the caller's); grants are added
//! only by the record's producer; a member reads a record with its own grant only.

use super::{KeyDirectoryError, LIST_PAGE, OWN_KEYS_PAGE};
use crate::authority::{credential_for, AuthorityConfig};
use crate::store::{StoredConsumerKey, StoredGrant, StoredKeyRecord};
use airlock_identity::{ChangeHistory, Identifier, VerifiedIdentity};
use airlock_kafka_keys::{
    ConsumerKeyAttestation, GrantAddition, KeyError, KeyId, KeyRecord, SignedGrant, MAX_GRANTS,
};
use airlock_wire::Reader;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

type Result<T, E = KeyDirectoryError> = std::result::Result<T, E>;

/// A request to the key directory. Binary values travel as lowercase hex.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum KeyDirectoryRequest {
    /// Publish (or renew) the caller's consumer key. → `{identifier, expires_at}`.
    PublishConsumerKey {
        /// The caller's change history (encoding).
        history: String,
        /// Its consumer key attestation (134 bytes).
        attestation: String,
    },
    /// Consumer keys of current members, by identifier, after `after`; at most
    /// [`LIST_PAGE`](super::LIST_PAGE) per answer. → `{consumers: [{identifier, history,
    /// attestation, credential, attributes}], more}`.
    ListConsumers {
        /// Start after this identifier (text form); none: from the first.
        #[serde(default)]
        after: Option<String>,
    },
    /// Store a key record the caller produced. → `{key_id}`.
    PutKeyRecord {
        /// The caller's change history (encoding); the record must verify with it.
        history: String,
        /// The key record (encoding).
        record: String,
    },
    /// Add grants to a key record the caller produced. → `{key_id, added}`.
    AddGrants {
        /// The record's key id (16 hex digits).
        key_id: String,
        /// Grant additions (encodings), each for this key id.
        grants: Vec<String>,
    },
    /// A key record with the caller's grant only. → `{record, producer_history}`.
    GetKey {
        /// The record's key id (16 hex digits).
        key_id: String,
    },
    /// The key records the caller produced since `since` that hold a grant for the caller
    /// itself, each with that grant only and the list of its recipients, by key id after
    /// `after`; at most [`OWN_KEYS_PAGE`](super::OWN_KEYS_PAGE) per answer (how a restarted
    /// producer gets back the keys it made). → `{keys: [{record, recipients}], more}`.
    OwnKeys {
        /// Only records created at or after this time (Unix seconds).
        since: u64,
        /// Start after this key id (16 hex digits); none: from the first.
        #[serde(default)]
        after: Option<String>,
    },
}

fn unhex(what: &str, s: &str) -> Result<Vec<u8>> {
    hex::decode(s).map_err(|_| KeyDirectoryError::BadRequest(format!("{what} is not hex")))
}

fn key_id(s: &str) -> Result<KeyId> {
    Ok(s.parse::<KeyId>()?)
}

/// Decodes and verifies a change history at `now`.
fn history(bytes: &[u8], now: u64) -> Result<VerifiedIdentity> {
    let mut r = Reader::new(bytes);
    let h = ChangeHistory::decode(&mut r)?;
    r.finish("change history").map_err(KeyError::from)?;
    Ok(h.verify(now)?)
}

/// Decodes `hex_history` and checks it is `caller`'s.
fn callers_history(
    caller: &Identifier,
    hex_history: &str,
    now: u64,
) -> Result<(Vec<u8>, VerifiedIdentity)> {
    let bytes = unhex("history", hex_history)?;
    let verified = history(&bytes, now)?;
    if verified.identifier != *caller {
        return Err(KeyDirectoryError::NotYours(format!(
            "the change history is {}'s, not the caller's ({caller})",
            verified.identifier
        )));
    }
    Ok((bytes, verified))
}

/// Decides one request of `caller` at `now`.
pub(super) async fn process(
    cfg: &AuthorityConfig,
    caller: &Identifier,
    req: KeyDirectoryRequest,
    now: u64,
) -> Result<Value> {
    let store = &cfg.store;
    let caller_s = caller.to_string();
    if store.member(&caller_s).await?.is_none() {
        return Err(KeyDirectoryError::NotMember {
            caller: *caller,
            project: cfg.project.clone(),
        });
    }
    match req {
        KeyDirectoryRequest::PublishConsumerKey {
            history,
            attestation,
        } => {
            let (history, verified) = callers_history(caller, &history, now)?;
            let bytes = unhex("attestation", &attestation)?;
            let att = ConsumerKeyAttestation::decode(&bytes)?;
            att.verify(&verified, now)?;
            store
                .put_consumer_key(&StoredConsumerKey {
                    identifier: caller_s.clone(),
                    history,
                    attestation: bytes,
                    expires_at: att.expires_at,
                })
                .await?;
            tracing::info!(member = %caller, expires_at = att.expires_at, "kafka consumer key published");
            Ok(json!({"identifier": caller_s, "expires_at": att.expires_at}))
        }
        KeyDirectoryRequest::ListConsumers { after } => {
            let page = store
                .consumer_keys(after.as_deref().unwrap_or(""), now, LIST_PAGE)
                .await?;
            let more = page.len() == LIST_PAGE as usize;
            let mut consumers = Vec::with_capacity(page.len());
            for k in page {
                // Deleted since the page was read: leave it out.
                let Some(m) = store.member(&k.identifier).await? else {
                    continue;
                };
                let c = credential_for(cfg, &m)?;
                consumers.push(json!({
                    "identifier": k.identifier,
                    "history": hex::encode(&k.history),
                    "attestation": hex::encode(&k.attestation),
                    "credential": c["credential"],
                    "attributes": c["attributes"],
                }));
            }
            Ok(json!({"consumers": consumers, "more": more}))
        }
        KeyDirectoryRequest::PutKeyRecord { history, record } => {
            let (history, verified) = callers_history(caller, &history, now)?;
            let record = KeyRecord::decode(&unhex("record", &record)?)?;
            if record.producer != *caller {
                return Err(KeyDirectoryError::NotYours(format!(
                    "key record {} names producer {}, not the caller ({caller})",
                    record.key_id, record.producer
                )));
            }
            record.verify(&verified)?;
            let grants = stored_grants(&record.grants);
            let header = KeyRecord {
                grants: Vec::new(),
                ..record.clone()
            };
            let stored = store
                .put_key_record(
                    &StoredKeyRecord {
                        key_id: record.key_id.0,
                        producer: caller_s,
                        topic: record.topic.clone(),
                        created: record.created,
                        header: header.encode(),
                        producer_history: history,
                    },
                    &grants,
                )
                .await?;
            if !stored {
                return Err(KeyDirectoryError::KeyIdTaken(record.key_id));
            }
            tracing::info!(producer = %caller, key_id = %record.key_id, topic = %record.topic,
                grants = grants.len(), "kafka key record stored");
            Ok(json!({"key_id": record.key_id.to_string()}))
        }
        KeyDirectoryRequest::AddGrants { key_id: id, grants } => {
            let id = key_id(&id)?;
            let stored = store
                .key_record(id.0)
                .await?
                .ok_or(KeyDirectoryError::UnknownKey(id))?;
            if stored.producer != caller_s {
                return Err(KeyDirectoryError::NotProducer {
                    key_id: id,
                    producer: stored.producer,
                });
            }
            let producer = history(&stored.producer_history, now)?;
            if grants.len() > MAX_GRANTS {
                return Err(
                    KeyError::Invalid(format!("at most {MAX_GRANTS} grants at once")).into(),
                );
            }
            let mut signed = Vec::with_capacity(grants.len());
            for g in &grants {
                let add = GrantAddition::decode(&unhex("grant", g)?)?;
                if add.key_id != id {
                    return Err(KeyError::Mismatch(format!(
                        "a grant for key {} sent to key {id}",
                        add.key_id
                    ))
                    .into());
                }
                add.verify(&producer)?;
                signed.push(add.grant);
            }
            let held = store.key_grant_count(id.0).await?;
            if held as usize + signed.len() > MAX_GRANTS {
                return Err(KeyError::Invalid(format!(
                    "key record {id} would hold more than {MAX_GRANTS} grants"
                ))
                .into());
            }
            store.add_key_grants(id.0, &stored_grants(&signed)).await?;
            Ok(json!({"key_id": id.to_string(), "added": signed.len()}))
        }
        KeyDirectoryRequest::GetKey { key_id: id } => {
            let id = key_id(&id)?;
            let stored = store
                .key_record(id.0)
                .await?
                .ok_or(KeyDirectoryError::UnknownKey(id))?;
            let grant =
                store
                    .key_grant(id.0, &caller_s)
                    .await?
                    .ok_or(KeyDirectoryError::NoGrant {
                        key_id: id,
                        caller: *caller,
                    })?;
            let mut record = KeyRecord::decode(&stored.header)?;
            let mut r = Reader::new(&grant);
            record
                .grants
                .push(SignedGrant::read(&mut r).map_err(KeyError::from)?);
            Ok(json!({
                "record": hex::encode(record.encode()),
                "producer_history": hex::encode(&stored.producer_history),
            }))
        }
        KeyDirectoryRequest::OwnKeys { since, after } => {
            let after = match after {
                Some(a) => key_id(&a)?.0,
                None => [0; 8],
            };
            let page = store
                .producer_key_records(&caller_s, since, after, OWN_KEYS_PAGE)
                .await?;
            let more = page.len() == OWN_KEYS_PAGE as usize;
            let mut keys = Vec::with_capacity(page.len());
            for stored in &page {
                // A key made before producers granted themselves cannot come back.
                let Some(grant) = store.key_grant(stored.key_id, &caller_s).await? else {
                    continue;
                };
                let mut record = KeyRecord::decode(&stored.header)?;
                let mut r = Reader::new(&grant);
                record
                    .grants
                    .push(SignedGrant::read(&mut r).map_err(KeyError::from)?);
                let recipients = store.key_grant_recipients(stored.key_id).await?;
                keys.push(json!({
                    "record": hex::encode(record.encode()),
                    "recipients": recipients,
                }));
            }
            // The cursor is the page's last key id, kept or not.
            let last = page.last().map(|r| hex::encode(r.key_id));
            Ok(json!({"keys": keys, "more": more, "last": last}))
        }
    }
}

fn stored_grants(grants: &[SignedGrant]) -> Vec<StoredGrant> {
    grants
        .iter()
        .map(|g| {
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&g.grant.encode());
            bytes.extend_from_slice(&g.signature);
            StoredGrant {
                recipient: g.grant.recipient.to_string(),
                signed_grant: bytes,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuthorityStore, Member};
    use airlock_identity::IdentitySecret;
    use std::sync::Arc;

    const NOW: u64 = 1_800_000_000;

    /// Hostile bodies from a member: every one is a refusal with a code, never a panic.
    #[tokio::test]
    async fn hostile_requests_are_refused() {
        let cfg = AuthorityConfig {
            project: "p".into(),
            identity: IdentitySecret::create(NOW),
            credential_ttl: 600,
            store: Arc::new(AuthorityStore::in_memory().unwrap()),
        };
        let me = IdentitySecret::create(NOW);
        cfg.store
            .put_member(&Member {
                identifier: me.identifier().to_string(),
                attributes: Default::default(),
                relay: None,
                enroller: false,
                admin: false,
                added_at: NOW,
            })
            .await
            .unwrap();
        let history = hex::encode(me.history().encode());
        let record = KeyRecord::sign(&me, KeyId([1; 8]), "t", NOW, vec![]).unwrap();
        let full = hex::encode(record.encode());
        let cases = [
            json!({"op": "publish-consumer-key", "history": "zz", "attestation": ""}),
            json!({"op": "publish-consumer-key", "history": history, "attestation": "00"}),
            json!({"op": "publish-consumer-key", "history": "0100", "attestation": "00"}),
            json!({"op": "put-key-record", "history": history, "record": &full[..full.len() - 2]}),
            json!({"op": "put-key-record", "history": history, "record": format!("{full}00")}),
            json!({"op": "add-grants", "key_id": "0102", "grants": []}),
            json!({"op": "add-grants", "key_id": "0101010101010101", "grants": ["00"]}),
            json!({"op": "get-key", "key_id": "not hex at all!!"}),
            json!({"op": "list-consumers", "after": "I00"}),
            json!({"op": "own-keys", "since": 0, "after": "0102"}),
        ];
        for (i, body) in cases.into_iter().enumerate() {
            let req: KeyDirectoryRequest = serde_json::from_value(body).unwrap();
            let r = process(&cfg, &me.identifier(), req, NOW).await;
            if i == 8 {
                assert!(r.is_ok(), "listing after any text is fine: {r:?}");
                continue;
            }
            let e = r.expect_err("refused");
            assert!(!e.is_retryable(), "case {i}: {e}");
        }
        assert!(serde_json::from_str::<KeyDirectoryRequest>(r#"{"op":"drop-tables"}"#).is_err());
    }
}
