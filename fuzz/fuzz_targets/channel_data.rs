//! Channel data messages and decrypted inner messages.
#![no_main]
use airlock_channel::{InnerMessage, RecvCipher, RekeyPolicy};
use airlock_wire::Packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = RecvCipher::new([7; 32], RekeyPolicy::default());
    let _ = r.open(&mut Packet::copy_from(data));
    let _ = InnerMessage::decode(Packet::copy_from(data));
});
