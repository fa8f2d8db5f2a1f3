//! The channel transport: AES-256-GCM in place, explicit nonces, replay window, rekeying.
//!
//! Wire layout of a data message (after the outer kind byte `0x10`): `nonce u64 BE ‖ ciphertext ‖
//! tag(16)`. The AES-GCM nonce is `0x00000000 ‖ nonce BE`; the associated data is the kind byte.
//!
//! **Rekeying.** Nonces are grouped in epochs of [`RekeyPolicy::epoch_messages`]; the key for epoch
//! `e+1` is the first 32 bytes of `AES-256-GCM-Encrypt(k_e, nonce = 0xff…ff (12 bytes), ad = ∅,
//! 32 zero bytes)`. A sender that has moved [`RekeyPolicy::epoch_bytes`] bytes in an epoch (or is
//! told to by its owner, e.g. on a timer) jumps its nonce to the start of the next epoch. Because
//! the key follows from the nonce, both sides rekey without any extra message; old keys are erased.
//! The receiver keeps the previous epoch's key to accept messages reordered across a boundary.

use crate::message::ChannelKind;
use crate::replay::{ReplayVerdict, ReplayWindow};
use airlock_wire::Packet;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

/// AEAD tag length.
pub const TAG_LEN: usize = 16;
/// Header in front of the ciphertext: kind byte + nonce.
pub const DATA_HEADER_LEN: usize = 1 + 8;
/// Largest number of epochs a receiver derives forward for one message.
pub const MAX_EPOCH_SKIP: u64 = 4;

/// When keys rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RekeyPolicy {
    /// Messages per key epoch (both sides must agree; part of the protocol: 65 536).
    pub epoch_messages: u64,
    /// Bytes after which the sender moves to the next epoch early.
    pub epoch_bytes: u64,
}

impl Default for RekeyPolicy {
    fn default() -> Self {
        RekeyPolicy {
            epoch_messages: 1 << 16,
            epoch_bytes: 8 << 30,
        }
    }
}

/// Why a data message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// Shorter than header + tag.
    #[error("data message too short ({0} bytes)")]
    TooShort(usize),
    /// Authentication failed: tampered, truncated or wrong key.
    #[error("data message failed authentication (tampered or not from the peer)")]
    Authentication,
    /// Nonce already accepted.
    #[error("replayed data message (nonce {0})")]
    Replay(u64),
    /// Nonce behind the replay window or in an erased epoch.
    #[error("data message too old (nonce {0})")]
    TooOld(u64),
    /// Nonce space exhausted; the channel must be re-established.
    #[error("nonce space exhausted")]
    Exhausted,
}

fn aes_nonce(n: u64) -> Nonce {
    let mut b = [0u8; 12];
    b[4..].copy_from_slice(&n.to_be_bytes());
    Nonce::assume_unique_for_key(b)
}

fn make_key(raw: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, raw).expect("32-byte AES key"))
}

/// Derives the next epoch's raw key.
pub fn next_key(raw: &[u8; 32]) -> [u8; 32] {
    let key = make_key(raw);
    let mut block = [0u8; 32];
    let _tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key([0xff; 12]),
            Aad::empty(),
            &mut block,
        )
        .expect("sealing 32 bytes cannot fail");
    block
}

const AAD_DATA: [u8; 1] = [0x10];

/// Sending half.
pub struct SendCipher {
    raw: [u8; 32],
    key: LessSafeKey,
    epoch: u64,
    next_nonce: u64,
    epoch_bytes: u64,
    policy: RekeyPolicy,
}

impl std::fmt::Debug for SendCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SendCipher(epoch {}, nonce {})",
            self.epoch, self.next_nonce
        )
    }
}

impl SendCipher {
    /// A sender starting at nonce 0 with `raw` as the epoch-0 key.
    pub fn new(raw: [u8; 32], policy: RekeyPolicy) -> Self {
        SendCipher {
            key: make_key(&raw),
            raw,
            epoch: 0,
            next_nonce: 0,
            epoch_bytes: 0,
            policy,
        }
    }

    /// The current key epoch (for tests and metrics).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The nonce the next message will use.
    pub fn next_nonce(&self) -> u64 {
        self.next_nonce
    }

    /// Moves to the next epoch now (time-based rekey). No-op if nothing was sent in this epoch.
    pub fn force_rekey(&mut self) {
        if self.next_nonce > self.epoch * self.policy.epoch_messages {
            self.next_nonce = (self.epoch + 1) * self.policy.epoch_messages;
        }
    }

    /// Encrypts the packet's data in place and prepends the data header; appends the tag.
    /// Before: `data = plaintext`. After: `data = 0x10 ‖ nonce ‖ ciphertext ‖ tag`.
    pub fn seal(&mut self, packet: &mut Packet) -> Result<u64, CipherError> {
        if self.next_nonce == u64::MAX {
            return Err(CipherError::Exhausted);
        }
        let nonce = self.next_nonce;
        let epoch = nonce / self.policy.epoch_messages;
        while self.epoch < epoch {
            self.raw = next_key(&self.raw);
            self.key = make_key(&self.raw);
            self.epoch += 1;
            self.epoch_bytes = 0;
        }
        let tag = self
            .key
            .seal_in_place_separate_tag(aes_nonce(nonce), Aad::from(AAD_DATA), packet.data_mut())
            .map_err(|_| CipherError::Authentication)?;
        self.epoch_bytes += packet.len() as u64;
        packet.extend_from_slice(tag.as_ref());
        let mut header = [0u8; DATA_HEADER_LEN];
        header[0] = ChannelKind::Data.byte();
        header[1..].copy_from_slice(&nonce.to_be_bytes());
        packet.prepend(&header);
        self.next_nonce += 1;
        if self.epoch_bytes >= self.policy.epoch_bytes {
            self.force_rekey();
        }
        Ok(nonce)
    }
}

/// Receiving half.
pub struct RecvCipher {
    raw: [u8; 32],
    key: LessSafeKey,
    epoch: u64,
    previous: Option<LessSafeKey>,
    window: ReplayWindow,
    policy: RekeyPolicy,
}

impl std::fmt::Debug for RecvCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecvCipher(epoch {})", self.epoch)
    }
}

impl RecvCipher {
    /// A receiver with `raw` as the epoch-0 key.
    pub fn new(raw: [u8; 32], policy: RekeyPolicy) -> Self {
        RecvCipher {
            key: make_key(&raw),
            raw,
            epoch: 0,
            previous: None,
            window: ReplayWindow::default(),
            policy,
        }
    }

    /// The current key epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Authenticates and decrypts in place.
    /// Before: `data = 0x10 ‖ nonce ‖ ciphertext ‖ tag`. After: `data = plaintext`.
    pub fn open(&mut self, packet: &mut Packet) -> Result<u64, CipherError> {
        let len = packet.len();
        if len < DATA_HEADER_LEN + TAG_LEN || packet.data()[0] != ChannelKind::Data.byte() {
            return Err(CipherError::TooShort(len));
        }
        let nonce = u64::from_be_bytes(packet.data()[1..9].try_into().expect("8 bytes"));
        match self.window.check(nonce) {
            ReplayVerdict::Fresh => {}
            ReplayVerdict::Duplicate => return Err(CipherError::Replay(nonce)),
            ReplayVerdict::TooOld => return Err(CipherError::TooOld(nonce)),
        }
        let epoch = nonce / self.policy.epoch_messages;
        packet.advance(DATA_HEADER_LEN);
        let body = packet.data_mut();
        let plain_len = if epoch == self.epoch {
            self.key
                .open_in_place(aes_nonce(nonce), Aad::from(AAD_DATA), body)
                .map_err(|_| CipherError::Authentication)?
                .len()
        } else if epoch + 1 == self.epoch {
            let prev = self.previous.as_ref().ok_or(CipherError::TooOld(nonce))?;
            prev.open_in_place(aes_nonce(nonce), Aad::from(AAD_DATA), body)
                .map_err(|_| CipherError::Authentication)?
                .len()
        } else if epoch > self.epoch && epoch - self.epoch <= MAX_EPOCH_SKIP {
            // Derive forward tentatively; commit only if the message authenticates.
            let mut raw = self.raw;
            let mut prev_raw = raw;
            for _ in self.epoch..epoch {
                prev_raw = raw;
                raw = next_key(&raw);
            }
            let key = make_key(&raw);
            let n = key
                .open_in_place(aes_nonce(nonce), Aad::from(AAD_DATA), body)
                .map_err(|_| CipherError::Authentication)?
                .len();
            self.previous = Some(make_key(&prev_raw));
            self.raw = raw;
            self.key = key;
            self.epoch = epoch;
            n
        } else if epoch > self.epoch {
            return Err(CipherError::Authentication);
        } else {
            return Err(CipherError::TooOld(nonce));
        };
        self.window.accept(nonce);
        packet.truncate(plain_len);
        Ok(nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(policy: RekeyPolicy) -> (SendCipher, RecvCipher) {
        let k = [7u8; 32];
        (SendCipher::new(k, policy), RecvCipher::new(k, policy))
    }

    fn seal(s: &mut SendCipher, data: &[u8]) -> Packet {
        let mut p = Packet::copy_from(data);
        s.seal(&mut p).unwrap();
        p
    }

    #[test]
    fn test_vector_first_data_message() {
        // docs/protocol.md §5, vector T3: key = 32 × 0x07, nonce 0, plaintext "hello".
        let (mut s, _) = pair(RekeyPolicy::default());
        let p = seal(&mut s, b"hello");
        assert_eq!(p.len(), 9 + 5 + 16);
        assert_eq!(&p.data()[..9], &[0x10, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(hex::encode(p.data()), TEST_VECTOR_T3);
    }

    /// Filled in from the implementation once and pinned; ring's AES-GCM is the reference.
    const TEST_VECTOR_T3: &str = include_str!("../testdata/t3_data_message.hex");

    #[test]
    fn round_trip_and_tamper() {
        let (mut s, mut r) = pair(RekeyPolicy::default());
        let p = seal(&mut s, b"secret");
        let mut ok = p.clone();
        r.open(&mut ok).unwrap();
        assert_eq!(ok.data(), b"secret");
        for i in 0..p.len() {
            let (mut s2, mut r2) = pair(RekeyPolicy::default());
            let mut bad = seal(&mut s2, b"secret");
            bad.data_mut()[i] ^= 0x80;
            assert!(r2.open(&mut bad).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn replay_is_rejected_and_reorder_within_window_accepted() {
        let (mut s, mut r) = pair(RekeyPolicy::default());
        let msgs: Vec<Packet> = (0..5).map(|i| seal(&mut s, &[i])).collect();
        for i in [1usize, 0, 3, 2, 4] {
            let mut p = msgs[i].clone();
            r.open(&mut p).unwrap();
            assert_eq!(p.data(), &[i as u8]);
        }
        let mut again = msgs[2].clone();
        assert_eq!(r.open(&mut again), Err(CipherError::Replay(2)));
    }

    #[test]
    fn rekey_boundary_changes_key_and_keeps_working() {
        let policy = RekeyPolicy {
            epoch_messages: 4,
            epoch_bytes: u64::MAX,
        };
        let (mut s, mut r) = pair(policy);
        let mut sealed = Vec::new();
        for i in 0..12u8 {
            sealed.push(seal(&mut s, &[i; 3]));
        }
        assert_eq!(s.epoch(), 2);
        // Message 4 (first of epoch 1) is encrypted with a different key than message 0:
        // the epoch-0 key does not open it.
        let mut fresh = RecvCipher::new(
            [7u8; 32],
            RekeyPolicy {
                epoch_messages: 1 << 40,
                ..policy
            },
        );
        let mut m4 = sealed[4].clone();
        assert_eq!(fresh.open(&mut m4), Err(CipherError::Authentication));
        // Deliver across boundaries, with one message reordered across the 1→2 boundary.
        let order = [0usize, 1, 2, 3, 4, 5, 6, 8, 7, 9, 10, 11];
        for i in order {
            let mut p = sealed[i].clone();
            r.open(&mut p)
                .unwrap_or_else(|e| panic!("message {i}: {e}"));
            assert_eq!(p.data(), &[i as u8; 3]);
        }
        assert_eq!(r.epoch(), 2);
        // Epoch 0 keys are gone: an old message is refused.
        let mut old = sealed[1].clone();
        assert!(r.open(&mut old).is_err());
    }

    #[test]
    fn byte_budget_moves_to_next_epoch() {
        let policy = RekeyPolicy {
            epoch_messages: 1000,
            epoch_bytes: 100,
        };
        let (mut s, mut r) = pair(policy);
        let a = seal(&mut s, &[1; 120]);
        assert_eq!(s.next_nonce(), 1000);
        let b = seal(&mut s, &[2; 10]);
        for mut p in [a, b] {
            r.open(&mut p).unwrap();
        }
        assert_eq!(r.epoch(), 1);
    }

    #[test]
    fn far_future_nonce_is_refused_without_state_change() {
        let (_, mut r) = pair(RekeyPolicy::default());
        let mut p = Packet::copy_from(&[
            0x10, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
        ]);
        assert!(r.open(&mut p).is_err());
        assert_eq!(r.epoch(), 0);
    }

    proptest::proptest! {
        #[test]
        fn open_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let (_, mut r) = pair(RekeyPolicy::default());
            let mut p = Packet::copy_from(&data);
            let _ = r.open(&mut p);
        }
    }
}

#[cfg(test)]
mod vectors {
    /// docs/protocol.md §5, vector T4 (computed independently with Python `cryptography`).
    #[test]
    fn rekey_vector() {
        assert_eq!(
            hex::encode(super::next_key(&[7u8; 32])),
            "6c413a1ec64c74eb3febcad0231164d6e90b0fe51272d27a2d3deb2186f961f8"
        );
    }
}
