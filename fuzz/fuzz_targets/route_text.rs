//! Textual routes and binary routes.
#![no_main]
use airlock_wire::{MultiAddr, Reader, Route};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Route::decode(&mut Reader::new(data));
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(m) = s.parse::<MultiAddr>() {
            // Display must round-trip.
            let again: MultiAddr = m.to_string().parse().expect("printed route parses");
            assert_eq!(again, m);
        }
    }
});
