//! Authority formats from the network and from users: credentials (handshake payloads and
//! refresh messages) and enrollment tickets (pasted strings and files).
#![no_main]
use airlock_credential::{Credential, Ticket};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Credential::decode(data) {
        // A decoded credential re-encodes to the bytes it came from (no ambiguity).
        assert_eq!(Credential::decode(&c.encode()).ok().map(|d| d.encode()), Some(c.encode()));
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = Ticket::decode(s) {
            let _ = t.verify(1_800_000_000);
        }
    }
});
