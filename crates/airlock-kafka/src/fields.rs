//! Field-level encryption of JSON record values (`--encrypted-field`, `docs/kafka-encryption.md`
//! §5): only the named top-level fields of a JSON object are sealed; the rest stays readable.
//!
//! A sealed field's value becomes the JSON string `"airlock:v1:" ‖ base64(blob)`, where the blob
//! is [`Sealer::seal_field`] of the field's JSON text exactly as the producer wrote it (the AAD
//! binds topic, record key, key id, counter and the field name). Everything else in the value
//! is kept byte for byte: field order, spacing, the clear fields' text.
//!
//! The consumer side needs no configuration: a JSON object value with at least one such string
//! has those fields opened; a value with none is plaintext (refused on a topic that must be
//! encrypted). So that every record a field-encrypting producer writes stays readable, a value
//! that is not a JSON object, or that holds none of the named fields, is refused at produce time.
//! Fields left clear are neither confidential nor authenticated.

use std::fmt;

use base64::Engine;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::record_crypto::{open_field, peek_key_id, CryptoError, DataKey, KeyId, Sealer};

/// What a sealed field's JSON string starts with.
pub const FIELD_PREFIX: &str = "airlock:v1:";
/// The longest field name `--encrypted-field` accepts.
pub const MAX_FIELD_NAME: usize = 255;

/// Why a value's fields could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The value is not a JSON object.
    #[error("the record value is not a JSON object ({0}), and only fields of one are encrypted")]
    NotAnObject(String),
    /// The value holds none of the fields to encrypt.
    #[error("the record value holds none of the fields to encrypt ({0})")]
    NoField(String),
    /// A sealed field's string is not base64 of a blob.
    #[error("field {field:?} starts with {FIELD_PREFIX:?} but is not an encrypted field")]
    Malformed {
        /// The field.
        field: String,
    },
    /// An opened field is not JSON text.
    #[error("field {field:?} opened to something that is not JSON")]
    NotJson {
        /// The field.
        field: String,
    },
    /// Sealing or opening failed.
    #[error("field {field:?}: {source}")]
    Crypto {
        /// The field.
        field: String,
        /// Why.
        source: CryptoError,
    },
}

/// A JSON object's members in their order, each value as written.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut v = Vec::new();
                while let Some((k, raw)) = m.next_entry::<String, &'de RawValue>()? {
                    v.push((k, raw));
                }
                Ok(Members(v))
            }
        }
        d.deserialize_map(V)
    }
}

fn members(value: &[u8]) -> Result<Members<'_>, String> {
    serde_json::from_slice::<Members>(value).map_err(|e| e.to_string())
}

/// Writes `{"k":v,…}` with each member's text from `text`.
fn write_object<'a>(members: impl Iterator<Item = (&'a str, &'a str)>, cap: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(cap);
    out.push(b'{');
    for (i, (k, v)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(
            serde_json::to_string(k)
                .expect("a string serializes")
                .as_bytes(),
        );
        out.push(b':');
        out.extend_from_slice(v.as_bytes());
    }
    out.push(b'}');
    out
}

/// Seals the fields `fields` of the JSON object `value`, a record of `topic` with `record_key`.
pub fn seal_fields(
    sealer: &mut Sealer,
    topic: &str,
    record_key: Option<&[u8]>,
    fields: &[String],
    value: &[u8],
) -> Result<Vec<u8>, FieldError> {
    let m = members(value).map_err(FieldError::NotAnObject)?;
    if !m.0.iter().any(|(k, _)| fields.contains(k)) {
        return Err(FieldError::NoField(fields.join(", ")));
    }
    let mut texts: Vec<(String, String)> = Vec::with_capacity(m.0.len());
    for (k, raw) in &m.0 {
        let text = if fields.contains(k) {
            let blob = sealer
                .seal_field(topic, record_key, k, raw.get().as_bytes())
                .map_err(|source| FieldError::Crypto {
                    field: k.clone(),
                    source,
                })?;
            let s = format!(
                "{FIELD_PREFIX}{}",
                base64::engine::general_purpose::STANDARD.encode(blob)
            );
            serde_json::to_string(&s).expect("a string serializes")
        } else {
            raw.get().to_string()
        };
        texts.push((k.clone(), text));
    }
    Ok(write_object(
        texts.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        value.len() * 2,
    ))
}

/// The sealed fields of a record value: none when it is not a JSON object or holds no string
/// starting with [`FIELD_PREFIX`].
pub struct SealedFields<'a> {
    members: Members<'a>,
    /// Index into members, and the blob.
    sealed: Vec<(usize, Vec<u8>)>,
    len: usize,
}

impl<'a> SealedFields<'a> {
    /// Finds the sealed fields of `value`; `Ok(None)` when it has none (plaintext).
    pub fn find(value: &'a [u8]) -> Result<Option<Self>, FieldError> {
        // Only an object can hold sealed fields; anything else is plaintext to the caller.
        let first = value.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Ok(None);
        }
        let Ok(members) = members(value) else {
            return Ok(None);
        };
        let mut sealed = Vec::new();
        for (i, (k, raw)) in members.0.iter().enumerate() {
            // Sealed fields are written without escapes: the prefix is at the start of the text.
            let text = raw.get();
            if !text.starts_with(&format!("\"{FIELD_PREFIX}")) {
                continue;
            }
            let Ok(s) = serde_json::from_str::<String>(text) else {
                continue;
            };
            let b64 = &s[FIELD_PREFIX.len()..];
            let blob = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .filter(|b| peek_key_id(b).is_some())
                .ok_or_else(|| FieldError::Malformed { field: k.clone() })?;
            sealed.push((i, blob));
        }
        if sealed.is_empty() {
            return Ok(None);
        }
        Ok(Some(SealedFields {
            members,
            sealed,
            len: value.len(),
        }))
    }

    /// The key ids the sealed fields name.
    pub fn key_ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.sealed.iter().filter_map(|(_, b)| peek_key_id(b))
    }

    /// Opens every sealed field with `open_one(field, blob)` (the caller finds the blob's key,
    /// see [`open_field`]) and returns the value with each field's JSON text in place.
    pub fn open(
        &self,
        mut open_one: impl FnMut(&str, &[u8]) -> Result<Vec<u8>, CryptoError>,
    ) -> Result<Vec<u8>, FieldError> {
        let mut opened: Vec<Option<String>> = vec![None; self.members.0.len()];
        for (i, blob) in &self.sealed {
            let field = &self.members.0[*i].0;
            let plain = open_one(field, blob).map_err(|source| FieldError::Crypto {
                field: field.clone(),
                source,
            })?;
            let text = String::from_utf8(plain)
                .ok()
                .filter(|t| serde_json::from_str::<&RawValue>(t).is_ok())
                .ok_or_else(|| FieldError::NotJson {
                    field: field.clone(),
                })?;
            opened[*i] = Some(text);
        }
        let members = self
            .members
            .0
            .iter()
            .zip(&opened)
            .map(|((k, raw), o)| (k.as_str(), o.as_deref().unwrap_or_else(|| raw.get())));
        Ok(write_object(members, self.len))
    }
}

/// Opens the sealed fields of `found` with `key` (tests and tools: one key).
pub fn open_fields_with(
    found: &SealedFields<'_>,
    key: &DataKey,
    topic: &str,
    record_key: Option<&[u8]>,
) -> Result<Vec<u8>, FieldError> {
    found.open(|field, blob| open_field(key, topic, record_key, field, blob))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record_crypto::DataKey;

    fn key() -> DataKey {
        DataKey::new(KeyId([4; 8]), [9; 32])
    }

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn named_fields_are_sealed_and_the_rest_is_kept_as_written() {
        let mut sealer = Sealer::new(key());
        let value = br#"{"id": 7, "card":{"n":"4111 1111"},  "pin":"1234", "note":"clear \u00e9"}"#;
        let sealed = seal_fields(
            &mut sealer,
            "orders",
            Some(b"k"),
            &fields(&["card", "pin"]),
            value,
        )
        .unwrap();
        let text = String::from_utf8(sealed.clone()).unwrap();
        assert!(!text.contains("4111") && !text.contains("1234"), "{text}");
        assert!(text.starts_with(r#"{"id":7,"card":"airlock:v1:"#), "{text}");
        assert!(text.ends_with(r#","note":"clear \u00e9"}"#), "{text}");
        let found = SealedFields::find(&sealed).unwrap().expect("sealed fields");
        assert_eq!(found.key_ids().count(), 2);
        let k = key();
        let opened = open_fields_with(&found, &k, "orders", Some(b"k")).unwrap();
        assert_eq!(
            String::from_utf8(opened).unwrap(),
            r#"{"id":7,"card":{"n":"4111 1111"},"pin":"1234","note":"clear \u00e9"}"#
        );
        // Bound to topic, record key and field name.
        assert!(open_fields_with(&found, &k, "other", Some(b"k")).is_err());
        assert!(open_fields_with(&found, &k, "orders", None).is_err());
        let swapped = text.replacen("\"card\"", "\"xard\"", 1);
        let f = SealedFields::find(swapped.as_bytes()).unwrap().unwrap();
        assert!(matches!(
            open_fields_with(&f, &k, "orders", Some(b"k")),
            Err(FieldError::Crypto {
                source: CryptoError::TagMismatch,
                ..
            })
        ));
    }

    /// docs/kafka-encryption.md §9, R3: the documented JSON value.
    #[test]
    fn the_documented_json_example() {
        let dek: [u8; 32] = std::array::from_fn(|i| i as u8);
        let mut sealer = Sealer::new(DataKey::new(KeyId([1, 2, 3, 4, 5, 6, 7, 8]), dek));
        sealer.seal("orders", None, b"").unwrap(); // counter 0
        let v = seal_fields(
            &mut sealer,
            "orders",
            Some(b"customer-42"),
            &fields(&["pin"]),
            br#"{"id":7,"pin":"1234"}"#,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            r#"{"id":7,"pin":"airlock:v1:oQECAwQFBgcIAAAAAAAAAAE3543PcNbde4aPAYlw5pVmNiZjOn2s"}"#
        );
    }

    #[test]
    fn values_that_cannot_be_field_encrypted_are_refused() {
        let mut sealer = Sealer::new(key());
        for (v, want) in [
            (&b"plain text"[..], "not a JSON object"),
            (b"[1,2]", "not a JSON object"),
            (b"{\"a\":1", "not a JSON object"),
            (b"{\"a\":1}", "none of the fields"),
        ] {
            let e = seal_fields(&mut sealer, "t", None, &fields(&["pin"]), v).unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
        }
    }

    #[test]
    fn plaintext_and_garbage_are_told_apart() {
        for v in [
            &b"plain"[..],
            b"{\"a\":1}",
            b"{\"a\":\"airlock:v2:x\"}",
            b"{bad",
            b"",
        ] {
            assert!(SealedFields::find(v).unwrap().is_none(), "{v:?}");
        }
        assert!(matches!(
            SealedFields::find(br#"{"a":"airlock:v1:!!"}"#),
            Err(FieldError::Malformed { .. })
        ));
        assert!(matches!(
            SealedFields::find(br#"{"a":"airlock:v1:AAAA"}"#),
            Err(FieldError::Malformed { .. })
        ));
    }
}
