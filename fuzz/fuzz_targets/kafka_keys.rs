//! Kafka key directory formats from the network: consumer key attestations, key records and
//! grant additions (published by members, stored and served by the project's directory).
#![no_main]
use airlock_kafka_keys::{ConsumerKeyAttestation, GrantAddition, KeyRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = ConsumerKeyAttestation::decode(data) {
        assert_eq!(a.encode(), data);
    }
    if let Ok(r) = KeyRecord::decode(data) {
        // A decoded record re-encodes to the bytes it came from (no ambiguity).
        assert_eq!(r.encode(), data);
    }
    if let Ok(g) = GrantAddition::decode(data) {
        assert_eq!(g.encode(), data);
    }
});
