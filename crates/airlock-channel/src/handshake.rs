//! The identity-binding Noise XX handshake (sans-IO).
//!
//! ```text
//! 1. I → R  0x01 ‖ e                                     (no payload)
//! 2. R → I  0x02 ‖ e, ee, s, es ‖ Enc(identity payload of R)
//! 3. I → R  0x03 ‖ s, se ‖ Enc(identity payload of I)
//! ```
//! Identity payload: `u16 len ‖ change history ‖ attestation (134 bytes) ‖ u8 n ‖ n × (u16 len ‖
//! credential)`. Each side verifies the peer's history and attestation, checks that the attested
//! X25519 key **is** the Noise static key it just authenticated, and applies its trust policy. Only
//! then does it send its own identity (initiator) or consider the channel open (responder).

use crate::cipher::{RecvCipher, RekeyPolicy, SendCipher};
use crate::message::ChannelKind;
use airlock_identity::{
    ChangeHistory, Identifier, IdentityError, PurposeKeyAttestation, VerifiedIdentity,
};
use airlock_wire::codec::{put_bytes16, DecodeError, Reader};

/// The Noise protocol name.
pub const NOISE_PARAMS: &str = "Noise_XX_25519_AESGCM_SHA256";
/// Prologue mixed into the handshake hash: binds our protocol and version.
pub const PROLOGUE: &[u8] = b"airlock/secure-channel/1";
/// Maximum size of one Noise message.
pub const MAX_HANDSHAKE_MESSAGE: usize = 65535;
/// Maximum number of credentials in a handshake payload.
pub const MAX_CREDENTIALS: usize = 8;

/// Who speaks first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends message 1 and 3.
    Initiator,
    /// Sends message 2.
    Responder,
}

/// What this side proves about itself.
#[derive(Clone)]
pub struct LocalIdentity {
    /// Encoded change history.
    pub history: Vec<u8>,
    /// Attestation of the purpose key.
    pub attestation: PurposeKeyAttestation,
    /// X25519 private key matching the attestation.
    pub purpose_private: [u8; 32],
    /// Credentials to present.
    pub credentials: Vec<Vec<u8>>,
}

/// Which peers are acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustPolicy {
    /// Any identity with a valid history and attestation.
    Everyone,
    /// Only these identifiers.
    Identifiers(Vec<Identifier>),
}

impl TrustPolicy {
    /// Only `ids`, or everyone when the list is empty (how `--authorized` options read).
    pub fn only_or_everyone(ids: Vec<Identifier>) -> Self {
        if ids.is_empty() {
            TrustPolicy::Everyone
        } else {
            TrustPolicy::Identifiers(ids)
        }
    }

    fn allows(&self, id: &Identifier) -> bool {
        match self {
            TrustPolicy::Everyone => true,
            TrustPolicy::Identifiers(ids) => ids.contains(id),
        }
    }
}

/// The authenticated peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// Its identifier.
    pub identifier: Identifier,
    /// Its verified history.
    pub identity: VerifiedIdentity,
    /// Credentials it presented (verified by the layer that knows the authorities).
    pub credentials: Vec<Vec<u8>>,
}

/// Why a handshake failed. Every variant aborts the handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Noise-level failure: bad ephemeral, failed decryption of a handshake message.
    #[error("handshake message rejected by Noise: {0}")]
    Noise(String),
    /// A message arrived out of order.
    #[error("unexpected handshake message: expected {expected:?}, got kind 0x{got:02x}")]
    Unexpected {
        /// What was expected.
        expected: ChannelKind,
        /// The kind byte received.
        got: u8,
    },
    /// The identity payload does not decode.
    #[error("malformed identity payload: {0}")]
    Decode(#[from] DecodeError),
    /// The peer's history or attestation is invalid.
    #[error("peer identity rejected: {0}")]
    Identity(#[from] IdentityError),
    /// The attested key is not the Noise static key.
    #[error("peer's Noise static key is not the key its identity attested")]
    KeyMismatch,
    /// The trust policy refused the peer.
    #[error("peer {0} is not authorized by this channel's trust policy")]
    Untrusted(Identifier),
    /// The handshake is already complete or failed.
    #[error("handshake is not in progress")]
    NotInProgress,
}

impl From<snow::Error> for HandshakeError {
    fn from(e: snow::Error) -> Self {
        HandshakeError::Noise(e.to_string())
    }
}

/// What to do after feeding a message.
#[derive(Debug, PartialEq, Eq)]
pub enum HandshakeStep {
    /// Send these bytes; more handshake messages follow.
    Send(Vec<u8>),
    /// Send these bytes; the handshake is complete on this side.
    SendAndComplete(Vec<u8>),
    /// Nothing to send; the handshake is complete.
    Complete,
}

/// One side of a handshake in progress.
pub struct Handshake {
    role: Role,
    noise: snow::HandshakeState,
    payload: Vec<u8>,
    trust: TrustPolicy,
    policy: RekeyPolicy,
    peer: Option<PeerIdentity>,
    /// Number of the next message this side expects to read (1, 2 or 3); 0 = done.
    expect: u8,
    failed: bool,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Handshake({:?}, expecting message {})",
            self.role, self.expect
        )
    }
}

fn encode_payload(local: &LocalIdentity) -> Vec<u8> {
    let mut p = Vec::with_capacity(local.history.len() + 256);
    put_bytes16(&mut p, &local.history);
    p.extend_from_slice(&local.attestation.encode());
    let creds = &local.credentials[..local.credentials.len().min(MAX_CREDENTIALS)];
    p.push(creds.len() as u8);
    for c in creds {
        put_bytes16(&mut p, c);
    }
    p
}

impl Handshake {
    fn new(
        role: Role,
        local: &LocalIdentity,
        trust: TrustPolicy,
        policy: RekeyPolicy,
    ) -> Result<Self, HandshakeError> {
        let builder = snow::Builder::new(NOISE_PARAMS.parse().expect("valid Noise parameters"))
            .local_private_key(&local.purpose_private)
            .prologue(PROLOGUE);
        let noise = match role {
            Role::Initiator => builder.build_initiator()?,
            Role::Responder => builder.build_responder()?,
        };
        Ok(Handshake {
            role,
            noise,
            payload: encode_payload(local),
            trust,
            policy,
            peer: None,
            expect: if role == Role::Initiator { 2 } else { 1 },
            failed: false,
        })
    }

    /// Starts a handshake as initiator; returns the state and message 1 to send.
    pub fn initiate(
        local: &LocalIdentity,
        trust: TrustPolicy,
        policy: RekeyPolicy,
    ) -> Result<(Self, Vec<u8>), HandshakeError> {
        let mut hs = Handshake::new(Role::Initiator, local, trust, policy)?;
        let msg = hs.write(ChannelKind::Handshake1, &[])?;
        Ok((hs, msg))
    }

    /// Prepares a responder waiting for message 1.
    pub fn respond(
        local: &LocalIdentity,
        trust: TrustPolicy,
        policy: RekeyPolicy,
    ) -> Result<Self, HandshakeError> {
        Handshake::new(Role::Responder, local, trust, policy)
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// True once the handshake completed on this side.
    pub fn is_complete(&self) -> bool {
        self.expect == 0 && !self.failed
    }

    /// The authenticated peer, once known.
    pub fn peer(&self) -> Option<&PeerIdentity> {
        self.peer.as_ref()
    }

    fn write(&mut self, kind: ChannelKind, payload: &[u8]) -> Result<Vec<u8>, HandshakeError> {
        let mut out = vec![0u8; MAX_HANDSHAKE_MESSAGE + 1];
        out[0] = kind.byte();
        let n = self.noise.write_message(payload, &mut out[1..])?;
        out.truncate(n + 1);
        Ok(out)
    }

    /// Feeds one handshake message (including its kind byte) received at Unix time `now`.
    pub fn read(&mut self, msg: &[u8], now: u64) -> Result<HandshakeStep, HandshakeError> {
        if self.failed || self.expect == 0 {
            return Err(HandshakeError::NotInProgress);
        }
        let r = self.read_inner(msg, now);
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn read_inner(&mut self, msg: &[u8], now: u64) -> Result<HandshakeStep, HandshakeError> {
        let expected = match self.expect {
            1 => ChannelKind::Handshake1,
            2 => ChannelKind::Handshake2,
            _ => ChannelKind::Handshake3,
        };
        let got = msg.first().copied().unwrap_or(0);
        if got != expected.byte() {
            return Err(HandshakeError::Unexpected { expected, got });
        }
        if msg.len() > MAX_HANDSHAKE_MESSAGE + 1 {
            return Err(HandshakeError::Noise("handshake message too large".into()));
        }
        let mut payload = vec![0u8; msg.len()];
        let n = self.noise.read_message(&msg[1..], &mut payload)?;
        payload.truncate(n);
        match self.expect {
            1 => {
                if !payload.is_empty() {
                    return Err(DecodeError::invalid("message 1", "must carry no payload").into());
                }
                let own = self.payload.clone();
                let out = self.write(ChannelKind::Handshake2, &own)?;
                self.expect = 3;
                Ok(HandshakeStep::Send(out))
            }
            2 => {
                self.peer = Some(self.verify_peer(&payload, now)?);
                let own = self.payload.clone();
                let out = self.write(ChannelKind::Handshake3, &own)?;
                self.expect = 0;
                Ok(HandshakeStep::SendAndComplete(out))
            }
            _ => {
                self.peer = Some(self.verify_peer(&payload, now)?);
                self.expect = 0;
                Ok(HandshakeStep::Complete)
            }
        }
    }

    fn verify_peer(&self, payload: &[u8], now: u64) -> Result<PeerIdentity, HandshakeError> {
        let mut r = Reader::new(payload);
        let history_bytes = r.bytes16("change history")?;
        let mut hr = Reader::new(history_bytes);
        let history = ChangeHistory::decode(&mut hr)?;
        hr.finish("change history")?;
        let identity = history.verify(now)?;
        let attestation = PurposeKeyAttestation::decode(&mut r)?;
        let n = r.u8("credential count")? as usize;
        if n > MAX_CREDENTIALS {
            return Err(DecodeError::invalid(
                "credential count",
                format!("{n} > {MAX_CREDENTIALS}"),
            )
            .into());
        }
        let mut credentials = Vec::with_capacity(n);
        for _ in 0..n {
            credentials.push(r.bytes16("credential")?.to_vec());
        }
        r.finish("identity payload")?;
        let attested = attestation.verify(&identity, now)?;
        let remote_static = self
            .noise
            .get_remote_static()
            .ok_or(HandshakeError::KeyMismatch)?;
        if remote_static != attested {
            return Err(HandshakeError::KeyMismatch);
        }
        if !self.trust.allows(&identity.identifier) {
            return Err(HandshakeError::Untrusted(identity.identifier));
        }
        Ok(PeerIdentity {
            identifier: identity.identifier,
            identity,
            credentials,
        })
    }

    /// Splits a completed handshake into transport ciphers and the peer identity.
    /// The initiator sends with the first split key, the responder with the second.
    pub fn finish(mut self) -> Result<(SendCipher, RecvCipher, PeerIdentity), HandshakeError> {
        if !self.is_complete() {
            return Err(HandshakeError::NotInProgress);
        }
        let (k1, k2) = self.noise.dangerously_get_raw_split();
        let (send, recv) = match self.role {
            Role::Initiator => (k1, k2),
            Role::Responder => (k2, k1),
        };
        let peer = self.peer.take().ok_or(HandshakeError::NotInProgress)?;
        Ok((
            SendCipher::new(send, self.policy),
            RecvCipher::new(recv, self.policy),
            peer,
        ))
    }
}

#[cfg(test)]
mod tests;
