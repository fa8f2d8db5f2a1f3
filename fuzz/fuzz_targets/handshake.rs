//! Handshake messages: a responder fed message 1/3 and an initiator fed message 2 from the fuzzer.
#![no_main]
use airlock_channel::{Handshake, LocalIdentity, RekeyPolicy, TrustPolicy};
use airlock_identity::{IdentitySecret, PurposeKeySecret};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const NOW: u64 = 1_800_000_000;

fn local() -> &'static LocalIdentity {
    static L: OnceLock<LocalIdentity> = OnceLock::new();
    L.get_or_init(|| {
        let id = IdentitySecret::create(NOW);
        let pk = PurposeKeySecret::create(&id, NOW, 3600);
        LocalIdentity {
            history: id.history().encode(),
            attestation: pk.attestation.clone(),
            purpose_private: pk.private_bytes(),
            credentials: vec![],
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let mut r = Handshake::respond(local(), TrustPolicy::Everyone, RekeyPolicy::default()).unwrap();
    let _ = r.read(data, NOW);
    let _ = r.read(data, NOW);
    let (mut i, _) = Handshake::initiate(local(), TrustPolicy::Everyone, RekeyPolicy::default()).unwrap();
    let _ = i.read(data, NOW);
});
