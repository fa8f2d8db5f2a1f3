//! Enrollment tickets: one self-contained string.
//!
//! `airlock-ticket:` followed by the hex encoding of
//! `version(1)=1 ‖ u8 len ‖ project name ‖ u16 len ‖ project route (text) ‖ u16 len ‖ project node
//! change history ‖ u16 len ‖ authority change history ‖ secret(32) ‖ expires_at u64 ‖ usage u32`.
//!
//! The secret is what grants membership: the authority stores only its SHA-256 (with the
//! attributes, relay permission, remaining usage and expiry that the administrator chose), so a
//! ticket holder cannot change what the ticket grants by editing the string. Expiry and usage
//! count are repeated in the ticket so the holder gets a clear error before connecting.

use airlock_identity::{ChangeHistory, IdentityError, VerifiedIdentity};
use airlock_wire::codec::{put_bytes16, put_bytes8, DecodeError, Reader};
use sha2::{Digest, Sha256};

const PREFIX: &str = "airlock-ticket:";

/// Why a ticket is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// Not a ticket string.
    #[error("not an enrollment ticket (expected a string starting with '{PREFIX}'): {0}")]
    Format(String),
    /// The string starts like a ticket but ends early: usually cut when it was copied.
    #[error("the enrollment ticket is incomplete (it ends after {chars} characters): it was probably cut when it was copied; copy the whole line again")]
    Incomplete {
        /// Length of the given string, prefix included.
        chars: usize,
    },
    /// The part after the prefix holds a character that is not a hex digit.
    #[error("the text after '{PREFIX}' is not hexadecimal (character {position}): was something typed or pasted into it?")]
    NotHex {
        /// 1-based position of the first bad character in the whole string.
        position: usize,
    },
    /// Longer than any ticket can be.
    #[error("not an enrollment ticket: longer than 64 KiB")]
    TooLong,
    /// Malformed content.
    #[error("malformed enrollment ticket: {0}")]
    Decode(#[from] DecodeError),
    /// An embedded identity is invalid (forged or corrupted ticket).
    #[error("enrollment ticket carries an invalid identity: {0}")]
    Identity(#[from] IdentityError),
    /// Past its expiry.
    #[error("the enrollment ticket expired {}; ask the project administrator for a new one", airlock_wire::time::relative(*expires_at, *now))]
    Expired {
        /// Expiry.
        expires_at: u64,
        /// Now.
        now: u64,
    },
}

/// A decoded enrollment ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Project name.
    pub project: String,
    /// How to reach the project node, e.g. `/dnsaddr/project.example/tcp/4000`.
    pub route: String,
    /// The project node's identity (its secure channel listener must prove it).
    pub project_identity: Vec<u8>,
    /// The authority's identity (credentials are signed by it).
    pub authority_identity: Vec<u8>,
    /// The one-time secret.
    pub secret: [u8; 32],
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// How many enrollments the ticket allows.
    pub usage_count: u32,
}

impl Ticket {
    /// A fresh random secret.
    pub fn new_secret() -> [u8; 32] {
        rand::random()
    }

    /// What the authority stores: SHA-256 of the secret.
    pub fn secret_hash(secret: &[u8; 32]) -> [u8; 32] {
        Sha256::digest(secret).into()
    }

    /// The ticket string.
    pub fn encode(&self) -> String {
        let mut b = vec![1u8];
        put_bytes8(&mut b, self.project.as_bytes());
        put_bytes16(&mut b, self.route.as_bytes());
        put_bytes16(&mut b, &self.project_identity);
        put_bytes16(&mut b, &self.authority_identity);
        b.extend_from_slice(&self.secret);
        b.extend_from_slice(&self.expires_at.to_be_bytes());
        b.extend_from_slice(&self.usage_count.to_be_bytes());
        format!("{PREFIX}{}", hex::encode(b))
    }

    /// Parses a ticket string (surrounding whitespace allowed). Does not check expiry.
    ///
    /// A string cut short (odd length, or fields that end early) is [`TicketError::Incomplete`],
    /// so the holder learns to copy it again rather than that it is not a ticket.
    pub fn decode(text: &str) -> Result<Self, TicketError> {
        let t = text.trim();
        Self::decode_inner(t).map_err(|e| match e {
            TicketError::Decode(DecodeError::Truncated { .. }) => TicketError::Incomplete {
                chars: t.chars().count(),
            },
            e => e,
        })
    }

    fn decode_inner(text: &str) -> Result<Self, TicketError> {
        let t = text.trim();
        let body = t.strip_prefix(PREFIX).ok_or_else(|| {
            TicketError::Format(
                t.chars().take(24).collect::<String>() + if t.len() > 24 { "…" } else { "" },
            )
        })?;
        if body.len() > 64 * 1024 {
            return Err(TicketError::TooLong);
        }
        if let Some(i) = body.find(|c: char| !c.is_ascii_hexdigit()) {
            let position = PREFIX.len() + body[..i].chars().count() + 1;
            return Err(TicketError::NotHex { position });
        }
        if body.len() % 2 == 1 {
            return Err(TicketError::Incomplete {
                chars: t.chars().count(),
            });
        }
        let bytes = hex::decode(body).map_err(|_| TicketError::NotHex { position: 0 })?;
        let mut r = Reader::new(&bytes);
        let v = r.u8("ticket version")?;
        if v != 1 {
            return Err(
                DecodeError::invalid("ticket version", format!("{v} is not supported")).into(),
            );
        }
        let text_field =
            |r: &mut Reader<'_>, what: &'static str, wide: bool| -> Result<String, TicketError> {
                let raw = if wide {
                    r.bytes16(what)?
                } else {
                    r.bytes8(what)?
                };
                Ok(std::str::from_utf8(raw)
                    .map_err(|_| DecodeError::invalid(what, "not UTF-8"))?
                    .to_string())
            };
        let project = text_field(&mut r, "project name", false)?;
        let route = text_field(&mut r, "project route", true)?;
        let project_identity = r.bytes16("project identity")?.to_vec();
        let authority_identity = r.bytes16("authority identity")?.to_vec();
        let t = Ticket {
            project,
            route,
            project_identity,
            authority_identity,
            secret: r.array("secret")?,
            expires_at: r.u64("expires_at")?,
            usage_count: r.u32("usage count")?,
        };
        r.finish("ticket")?;
        Ok(t)
    }

    /// Checks the embedded identities and the expiry; returns (project node, authority).
    pub fn verify(&self, now: u64) -> Result<(VerifiedIdentity, VerifiedIdentity), TicketError> {
        if now > self.expires_at {
            return Err(TicketError::Expired {
                expires_at: self.expires_at,
                now,
            });
        }
        let project = ChangeHistory::import(&self.project_identity, now)?;
        let authority = ChangeHistory::import(&self.authority_identity, now)?;
        Ok((project, authority))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_identity::IdentitySecret;
    const NOW: u64 = 1_800_000_000;

    fn ticket() -> Ticket {
        Ticket {
            project: "default".into(),
            route: "/dnsaddr/project.example/tcp/4000".into(),
            project_identity: IdentitySecret::create(NOW).history().encode(),
            authority_identity: IdentitySecret::create(NOW).history().encode(),
            secret: Ticket::new_secret(),
            expires_at: NOW + 600,
            usage_count: 1,
        }
    }

    #[test]
    fn round_trip_and_verify() {
        let t = ticket();
        let s = t.encode();
        assert!(s.starts_with("airlock-ticket:"));
        let back = Ticket::decode(&format!("  {s}\n")).unwrap();
        assert_eq!(back, t);
        back.verify(NOW).unwrap();
        assert!(matches!(
            back.verify(NOW + 601),
            Err(TicketError::Expired { .. })
        ));
        assert_ne!(Ticket::secret_hash(&t.secret), t.secret);
    }

    #[test]
    fn garbage_and_forgery() {
        assert!(matches!(
            Ticket::decode("hello"),
            Err(TicketError::Format(_))
        ));
        assert_eq!(
            Ticket::decode("airlock-ticket:0z"),
            Err(TicketError::NotHex { position: 17 })
        );
        assert!(matches!(
            Ticket::decode("airlock-ticket:02"),
            Err(TicketError::Decode(_))
        ));
        let mut t = ticket();
        // A forged authority identity (one byte flipped) fails verification.
        let n = t.authority_identity.len();
        t.authority_identity[n - 3] ^= 1;
        assert!(matches!(
            Ticket::decode(&t.encode()).unwrap().verify(NOW),
            Err(TicketError::Identity(_))
        ));
    }

    #[test]
    fn a_ticket_cut_anywhere_is_incomplete_and_never_quoted() {
        let s = ticket().encode();
        for cut in "airlock-ticket:".len() + 1..s.len() {
            let e = Ticket::decode(&s[..cut]).unwrap_err();
            assert_eq!(e, TicketError::Incomplete { chars: cut }, "cut at {cut}");
            let text = e.to_string();
            assert!(text.contains("copy the whole line"), "{text}");
            assert!(!text.contains(&s["airlock-ticket:".len()..][..8]), "{text}");
        }
    }

    #[test]
    fn expiry_reads_as_time_ago() {
        let e = ticket().verify(NOW + 610).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the enrollment ticket expired 10 s ago; ask the project administrator for a new one"
        );
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(s in "\\PC{0,200}", data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = Ticket::decode(&s);
            let _ = Ticket::decode(&format!("airlock-ticket:{}", hex::encode(&data)));
        }
    }
}
