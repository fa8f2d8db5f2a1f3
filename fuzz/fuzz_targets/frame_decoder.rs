//! TCP transport frames: the decoder must reject or decode any byte stream, fed in any split.
#![no_main]
use airlock_wire::FrameDecoder;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    // First byte picks the chunk size the stream arrives in.
    let chunk = (data[0] as usize % 64) + 1;
    let mut dec = FrameDecoder::new();
    let mut buf = BytesMut::from(&b"ALK\x01"[..]);
    for piece in data[1..].chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
