//! Attribute credentials.
//!
//! Encoding: `u16 len ‖ data ‖ signature(64)`, where data is
//! `version(1)=1 ‖ subject(20) ‖ issuer(20) ‖ created_at u64 ‖ expires_at u64 ‖ u8 n ‖
//! n × (u8 len ‖ key ‖ u16 len ‖ value)`, keys sorted and unique. The signature is Ed25519 by the
//! issuer's current key over `"airlock/credential/v1" ‖ data`.

use airlock_identity::{Identifier, IdentitySecret, VerifiedIdentity};
use airlock_wire::codec::{put_bytes16, put_bytes8, DecodeError, Reader};
use ed25519_dalek_compat::verify;
use std::collections::BTreeMap;

/// Attribute names and values.
pub type Attributes = BTreeMap<String, String>;

const CONTEXT: &[u8] = b"airlock/credential/v1";
/// Maximum attributes per credential.
pub const MAX_ATTRIBUTES: usize = 64;
/// Maximum attribute value length.
pub const MAX_VALUE_LEN: usize = 1024;
/// Clock skew tolerated on `created_at`.
pub const MAX_CLOCK_SKEW: u64 = 300;

/// Why a credential was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// Malformed encoding.
    #[error("malformed credential: {0}")]
    Decode(#[from] DecodeError),
    /// An attribute name or value breaks the rules.
    #[error(
        "invalid attribute {0:?}: names are 1-64 of a-z 0-9 . _ - and values at most 1024 bytes"
    )]
    BadAttribute(String),
    /// Not issued by an authority we trust.
    #[error("credential issued by {0}, which is not a trusted authority")]
    UntrustedIssuer(Identifier),
    /// The signature does not verify.
    #[error("credential signature does not verify")]
    BadSignature,
    /// Issued to someone else.
    #[error("credential is for {subject}, but was presented by {presenter}")]
    WrongSubject {
        /// The credential's subject.
        subject: Identifier,
        /// Who presented it.
        presenter: Identifier,
    },
    /// Expired.
    #[error("credential expired {}", airlock_wire::time::relative(*expires_at, *now))]
    Expired {
        /// Expiry.
        expires_at: u64,
        /// Now.
        now: u64,
    },
    /// Created in the future.
    #[error("credential was issued in the future (clock skew?)")]
    NotYetValid,
}

/// Validates an attribute name.
pub fn valid_attribute_name(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 64
        && k.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

/// A decoded (not yet verified) credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Who the attributes are about.
    pub subject: Identifier,
    /// The authority that signed.
    pub issuer: Identifier,
    /// Issue time.
    pub created_at: u64,
    /// Expiry.
    pub expires_at: u64,
    /// The attributes.
    pub attributes: Attributes,
    data: Vec<u8>,
    signature: [u8; 64],
}

/// A credential that verified for a presenter at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCredential {
    /// The authority.
    pub issuer: Identifier,
    /// The attributes.
    pub attributes: Attributes,
    /// Expiry.
    pub expires_at: u64,
}

fn encode_data(
    subject: &Identifier,
    issuer: &Identifier,
    created_at: u64,
    expires_at: u64,
    attributes: &Attributes,
) -> Result<Vec<u8>, CredentialError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(CredentialError::BadAttribute(format!(
            "{} attributes",
            attributes.len()
        )));
    }
    let mut d = vec![1u8];
    d.extend_from_slice(&subject.0);
    d.extend_from_slice(&issuer.0);
    d.extend_from_slice(&created_at.to_be_bytes());
    d.extend_from_slice(&expires_at.to_be_bytes());
    d.push(attributes.len() as u8);
    for (k, v) in attributes {
        if !valid_attribute_name(k) || v.len() > MAX_VALUE_LEN {
            return Err(CredentialError::BadAttribute(k.clone()));
        }
        put_bytes8(&mut d, k.as_bytes());
        put_bytes16(&mut d, v.as_bytes());
    }
    Ok(d)
}

fn signed_message(data: &[u8]) -> Vec<u8> {
    let mut m = CONTEXT.to_vec();
    m.extend_from_slice(data);
    m
}

impl Credential {
    /// Issues a credential signed by `authority`.
    pub fn issue(
        authority: &IdentitySecret,
        subject: Identifier,
        attributes: Attributes,
        now: u64,
        ttl: u64,
    ) -> Result<Self, CredentialError> {
        let issuer = authority.identifier();
        let data = encode_data(&subject, &issuer, now, now + ttl, &attributes)?;
        let signature = authority.sign(&signed_message(&data));
        Ok(Credential {
            subject,
            issuer,
            created_at: now,
            expires_at: now + ttl,
            attributes,
            data,
            signature,
        })
    }

    /// Wire encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 66);
        put_bytes16(&mut out, &self.data);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes a complete credential (no trailing bytes).
    pub fn decode(bytes: &[u8]) -> Result<Self, CredentialError> {
        let mut r = Reader::new(bytes);
        let data = r.bytes16("credential data")?.to_vec();
        let signature = r.array("credential signature")?;
        r.finish("credential")?;
        let mut d = Reader::new(&data);
        let v = d.u8("credential version")?;
        if v != 1 {
            return Err(DecodeError::invalid("credential version", v).into());
        }
        let subject = Identifier(d.array("subject")?);
        let issuer = Identifier(d.array("issuer")?);
        let created_at = d.u64("created_at")?;
        let expires_at = d.u64("expires_at")?;
        let n = d.u8("attribute count")? as usize;
        if n > MAX_ATTRIBUTES {
            return Err(DecodeError::invalid("attribute count", n).into());
        }
        let mut attributes = Attributes::new();
        let mut last: Option<String> = None;
        for _ in 0..n {
            let k = std::str::from_utf8(d.bytes8("attribute name")?)
                .map_err(|_| DecodeError::invalid("attribute name", "not UTF-8"))?
                .to_string();
            let v = std::str::from_utf8(d.bytes16("attribute value")?)
                .map_err(|_| DecodeError::invalid("attribute value", "not UTF-8"))?
                .to_string();
            if !valid_attribute_name(&k) || v.len() > MAX_VALUE_LEN {
                return Err(CredentialError::BadAttribute(k));
            }
            if last.as_ref().is_some_and(|l| *l >= k) {
                return Err(
                    DecodeError::invalid("attributes", "names not sorted and unique").into(),
                );
            }
            last = Some(k.clone());
            attributes.insert(k, v);
        }
        d.finish("credential data")?;
        Ok(Credential {
            subject,
            issuer,
            created_at,
            expires_at,
            attributes,
            data,
            signature,
        })
    }

    /// Verifies: issued by one of `authorities`, signed by its current key, about `presenter`,
    /// valid at `now`.
    pub fn verify(
        &self,
        authorities: &[VerifiedIdentity],
        presenter: &Identifier,
        now: u64,
    ) -> Result<VerifiedCredential, CredentialError> {
        let authority = authorities
            .iter()
            .find(|a| a.identifier == self.issuer)
            .ok_or(CredentialError::UntrustedIssuer(self.issuer))?;
        if !verify(
            &authority.current_key,
            &signed_message(&self.data),
            &self.signature,
        ) {
            return Err(CredentialError::BadSignature);
        }
        if self.subject != *presenter {
            return Err(CredentialError::WrongSubject {
                subject: self.subject,
                presenter: *presenter,
            });
        }
        if now > self.expires_at {
            return Err(CredentialError::Expired {
                expires_at: self.expires_at,
                now,
            });
        }
        if self.created_at > now + MAX_CLOCK_SKEW {
            return Err(CredentialError::NotYetValid);
        }
        Ok(VerifiedCredential {
            issuer: self.issuer,
            attributes: self.attributes.clone(),
            expires_at: self.expires_at,
        })
    }
}

/// Ed25519 verification without exposing the dalek types in our API.
mod ed25519_dalek_compat {
    pub fn verify(key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        use ed25519_dalek::{Signature, Verifier, VerifyingKey};
        match VerifyingKey::from_bytes(key) {
            Ok(k) => k.verify(msg, &Signature::from_bytes(sig)).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const NOW: u64 = 1_800_000_000;

    fn attrs(pairs: &[(&str, &str)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn issue_encode_decode_verify() {
        let auth = IdentitySecret::create(NOW);
        let member = IdentitySecret::create(NOW).identifier();
        let c = Credential::issue(
            &auth,
            member,
            attrs(&[("mongodb-inlet", "true"), ("team", "a")]),
            NOW,
            3600,
        )
        .unwrap();
        let back = Credential::decode(&c.encode()).unwrap();
        assert_eq!(back, c);
        let trusted = vec![auth.history().verify(NOW).unwrap()];
        let v = back.verify(&trusted, &member, NOW + 10).unwrap();
        assert_eq!(v.attributes["mongodb-inlet"], "true");
        assert_eq!(v.issuer, auth.identifier());
    }

    #[test]
    fn rejections() {
        let auth = IdentitySecret::create(NOW);
        let other_auth = IdentitySecret::create(NOW);
        let member = IdentitySecret::create(NOW).identifier();
        let stranger = IdentitySecret::create(NOW).identifier();
        let c = Credential::issue(&auth, member, attrs(&[("a", "1")]), NOW, 60).unwrap();
        let trusted = vec![auth.history().verify(NOW).unwrap()];
        let wrong = vec![other_auth.history().verify(NOW).unwrap()];
        assert!(matches!(
            c.verify(&wrong, &member, NOW),
            Err(CredentialError::UntrustedIssuer(_))
        ));
        assert!(matches!(
            c.verify(&trusted, &stranger, NOW),
            Err(CredentialError::WrongSubject { .. })
        ));
        assert!(matches!(
            c.verify(&trusted, &member, NOW + 61),
            Err(CredentialError::Expired { .. })
        ));
        assert!(matches!(
            c.verify(&trusted, &member, NOW - 1000),
            Err(CredentialError::NotYetValid)
        ));
        // A forged credential (same data, signed by another authority claiming the issuer).
        let forged = Credential::issue(&other_auth, member, attrs(&[("a", "1")]), NOW, 60).unwrap();
        let mut bytes = forged.encode();
        // Rewrite the issuer field to the trusted authority: the signature no longer matches.
        let issuer_at = 2 + 1 + 20;
        bytes[issuer_at..issuer_at + 20].copy_from_slice(&auth.identifier().0);
        let tampered = Credential::decode(&bytes).unwrap();
        assert_eq!(
            tampered.verify(&trusted, &member, NOW),
            Err(CredentialError::BadSignature)
        );
    }

    #[test]
    fn every_byte_is_protected() {
        let auth = IdentitySecret::create(NOW);
        let member = IdentitySecret::create(NOW).identifier();
        let c = Credential::issue(&auth, member, attrs(&[("role", "x")]), NOW, 60).unwrap();
        let trusted = vec![auth.history().verify(NOW).unwrap()];
        let good = c.encode();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            let ok = Credential::decode(&bad)
                .ok()
                .and_then(|c| c.verify(&trusted, &member, NOW + 1).ok())
                .is_some();
            assert!(!ok, "flip at byte {i} accepted");
        }
    }

    #[test]
    fn attribute_rules() {
        let auth = IdentitySecret::create(NOW);
        let member = IdentitySecret::create(NOW).identifier();
        assert!(Credential::issue(&auth, member, attrs(&[("Bad Name", "x")]), NOW, 60).is_err());
        assert!(
            Credential::issue(&auth, member, attrs(&[("ok", &"v".repeat(1025))]), NOW, 60).is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = Credential::decode(&data);
        }
    }
}
