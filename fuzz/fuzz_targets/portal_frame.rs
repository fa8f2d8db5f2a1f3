//! Portal frames.
#![no_main]
use airlock_portal::PortalFrame;
use airlock_wire::Packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = PortalFrame::decode(Packet::copy_from(data));
});
