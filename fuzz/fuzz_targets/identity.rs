//! Identity decoding: change histories, export strings, stored secrets, attestations.
#![no_main]
use airlock_identity::{ChangeHistory, IdentitySecret, PurposeKeyAttestation, PurposeKeySecret};
use airlock_wire::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ChangeHistory::import(data, 1_800_000_000);
    let _ = IdentitySecret::from_secret_bytes(data, 1_800_000_000);
    let _ = PurposeKeySecret::from_secret_bytes(data);
    let _ = PurposeKeyAttestation::decode(&mut Reader::new(data));
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = ChangeHistory::import_text(s, 1_800_000_000);
        let _ = s.parse::<airlock_identity::Identifier>();
    }
});
