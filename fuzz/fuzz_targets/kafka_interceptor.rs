//! Kafka interceptors: arbitrary bytes as request and response frames, on both sides.
//!
//! The first byte picks an intercepted API and version; a request for it is made pending so the
//! rest of the input, given its correlation id, is decoded as that response (the rewrite path).
//! The whole input is also pushed through a `FrameReader` and each frame fed as a request.
#![no_main]
use airlock_kafka::{encode_frame, BrokerMap, FrameReader, InletInterceptor, KnownBrokers, OutletInterceptor};
use libfuzzer_sys::fuzz_target;

const PENDING: &[(i16, i16, u8)] = &[
    (3, 0, 0), (3, 4, 1), (3, 9, 2), (3, 12, 2), (3, 13, 2),
    (10, 0, 1), (10, 3, 2), (10, 4, 2), (10, 6, 2),
    (60, 0, 2), (60, 1, 2), (60, 2, 2),
    (18, 0, 1), (18, 3, 1), (18, 4, 1),
];

/// A request frame: api key, version, correlation id 1, then a client id (header v1) or a client
/// id and an empty tagged-field section (header v2), no body.
fn request(key: i16, version: i16, header: u8) -> bytes::Bytes {
    let mut body = Vec::new();
    body.extend_from_slice(&key.to_be_bytes());
    body.extend_from_slice(&version.to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    if header >= 1 {
        body.extend_from_slice(&(-1i16).to_be_bytes());
    }
    if header >= 2 {
        body.push(0);
    }
    encode_frame(&body)
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let (key, version, header) = PENDING[pick as usize % PENDING.len()];
    let mut brokers = BrokerMap::new("127.0.0.1", 20000..=20002).unwrap();
    let mut known = KnownBrokers::new();

    let mut response = 1i32.to_be_bytes().to_vec();
    response.extend_from_slice(rest);
    let mut inlet = InletInterceptor::new();
    let mut outlet = OutletInterceptor::new();
    if inlet.on_request(request(key, version, header)).is_ok() {
        let _ = inlet.on_response(encode_frame(&response), &mut brokers);
    }
    if outlet.on_request(request(key, version, header)).is_ok() {
        let _ = outlet.on_response(encode_frame(&response), &mut known);
    }

    let mut reader = FrameReader::with_max_frame(1 << 20);
    reader.push(rest);
    let mut inlet = InletInterceptor::new();
    let mut outlet = OutletInterceptor::new();
    while let Ok(Some(frame)) = reader.pop() {
        let _ = inlet.on_request(frame.clone());
        let _ = outlet.on_request(frame.clone());
        let _ = inlet.on_response(frame.clone(), &mut brokers);
        let _ = outlet.on_response(frame, &mut known);
    }
});
