//! Unit tests of the stream wire format: round trips of every message, and hostile input
//! (truncation, absurd lengths, limits, bad names, unknown kinds, trailing bytes) that must be
//! refused with an error, never a panic.

use crate::names::{check_client_id, check_stream_name, NameError, MAX_CLIENT_ID, MAX_STREAM_NAME};
use crate::protocol::{
    ErrorCode, Request, Response, FROM_END, MAX_BATCH_BYTES, MAX_RECORD, MAX_RECORDS, MAX_WAIT_MS,
    PROTOCOL_VERSION,
};
use crate::stored::{StoredMessage, STORED_VERSION};
use airlock_wire::{Address, DecodeError, Route};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Strategies over valid values.

fn stream_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9-][A-Za-z0-9._-]{0,99}"
}

fn client_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._-]{1,64}"
}

fn push_records() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop_oneof![
        vec(vec(any::<u8>(), 0..300), 1..6),
        // Many small records, up to the maximum count.
        vec(vec(any::<u8>(), 0..3), 1..=MAX_RECORDS),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (any::<u64>(), proptest::option::of(stream_name()))
            .prop_map(|(id, name)| Request::Create { id, name }),
        (any::<u64>(), stream_name(), push_records()).prop_map(|(id, stream, records)| {
            Request::Push {
                id,
                stream,
                records,
            }
        }),
        (
            any::<u64>(),
            stream_name(),
            prop_oneof![any::<u64>(), Just(FROM_END), Just(0)],
            0..=MAX_RECORDS as u16,
            0..=MAX_WAIT_MS
        )
            .prop_map(|(id, stream, from, limit, wait_ms)| Request::Pull {
                id,
                stream,
                from,
                limit,
                wait_ms,
            }),
        (any::<u64>(), client_id(), stream_name())
            .prop_map(|(id, client, stream)| Request::IndexGet { id, client, stream }),
        (any::<u64>(), client_id(), stream_name(), any::<u64>()).prop_map(
            |(id, client, stream, index)| Request::IndexSave {
                id,
                client,
                stream,
                index,
            }
        ),
    ]
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::Invalid),
        Just(ErrorCode::UnknownStream),
        Just(ErrorCode::Unavailable),
        Just(ErrorCode::Denied),
    ]
}

/// A valid pull answer: strictly increasing indexes (not necessarily consecutive) and a `next`
/// after the last one.
fn pulled() -> impl Strategy<Value = Response> {
    (
        any::<u64>(),
        prop_oneof![
            btree_map(0..u64::MAX, vec(any::<u8>(), 0..200), 0..6),
            btree_map(0..1000u64, vec(any::<u8>(), 0..3), 0..=MAX_RECORDS),
        ],
        any::<u64>(),
    )
        .prop_map(|(id, map, extra)| {
            let records: Vec<(u64, Vec<u8>)> = map.into_iter().collect();
            let next = match records.last() {
                // last ≤ u64::MAX − 1, so next lands in last+1 ..= u64::MAX.
                Some((last, _)) => last + 1 + extra % (u64::MAX - last),
                None => extra,
            };
            Response::Pulled { id, next, records }
        })
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (any::<u64>(), stream_name()).prop_map(|(id, stream)| Response::Created { id, stream }),
        (any::<u64>(), any::<u64>(), any::<u16>()).prop_map(|(id, first_index, count)| {
            Response::Pushed {
                id,
                first_index,
                count,
            }
        }),
        pulled(),
        (any::<u64>(), proptest::option::of(any::<u64>()))
            .prop_map(|(id, index)| Response::Index { id, index }),
        any::<u64>().prop_map(|id| Response::Saved { id }),
        (any::<u64>(), error_code(), "\\PC{0,60}").prop_map(|(id, code, reason)| Response::Error {
            id,
            code,
            reason
        }),
    ]
}

fn address() -> impl Strategy<Value = Address> {
    "[A-Za-z0-9._:#-]{1,64}".prop_map(|s| Address::new(s).expect("valid address"))
}

fn route(min: usize) -> impl Strategy<Value = Route> {
    vec(address(), min..=16).prop_map(Route::new)
}

fn stored() -> impl Strategy<Value = StoredMessage> {
    (route(1), route(0), vec(any::<u8>(), 0..300)).prop_map(|(onward, ret, payload)| {
        StoredMessage {
            onward,
            ret,
            payload,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers for hand-made (hostile) encodings.

fn header(kind: u8, id: u64) -> Vec<u8> {
    let mut out = vec![PROTOCOL_VERSION, kind];
    out.extend_from_slice(&id.to_be_bytes());
    out
}

fn b8(out: &mut Vec<u8>, s: &[u8]) {
    out.push(s.len() as u8);
    out.extend_from_slice(s);
}

fn b32(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// A push of `records` to stream "s", encoded by hand (so the count may be anything).
fn push_bytes(id: u64, count: u16, records: &[&[u8]]) -> Vec<u8> {
    let mut out = header(0x02, id);
    b8(&mut out, b"s");
    out.extend_from_slice(&count.to_be_bytes());
    for r in records {
        b32(&mut out, r);
    }
    out
}

/// A pull answer encoded by hand.
fn pulled_bytes(id: u64, next: u64, records: &[(u64, &[u8])]) -> Vec<u8> {
    let mut out = header(0x83, id);
    out.extend_from_slice(&next.to_be_bytes());
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    for (i, r) in records {
        out.extend_from_slice(&i.to_be_bytes());
        b32(&mut out, r);
    }
    out
}

fn addr(s: &str) -> Address {
    Address::new(s).unwrap()
}

/// Decodes a request that must fail; checks the id it reports and returns the error.
fn refused_request(bytes: &[u8], id: Option<u64>) -> DecodeError {
    match Request::decode(bytes) {
        Ok(r) => panic!("decoded {r:?} from {}", hex::encode(bytes)),
        Err((got, e)) => {
            assert_eq!(got, id, "request id reported with {e}");
            e
        }
    }
}

fn is_invalid(e: &DecodeError, field: &str) -> bool {
    matches!(e, DecodeError::Invalid { what, .. } if *what == field)
}

// ---------------------------------------------------------------------------------------------
// Round trips and properties over valid values.

proptest! {
    #[test]
    fn request_round_trip(req in request()) {
        let bytes = req.encode();
        prop_assert_eq!(bytes[0], PROTOCOL_VERSION);
        let back = Request::decode(&bytes).map_err(|(_, e)| e);
        prop_assert_eq!(back.as_ref(), Ok(&req));
        prop_assert_eq!(back.unwrap().id(), req.id());
    }

    #[test]
    fn response_round_trip(resp in response()) {
        let bytes = resp.encode();
        prop_assert_eq!(bytes[0], PROTOCOL_VERSION);
        let back = Response::decode(&bytes);
        prop_assert_eq!(back.as_ref(), Ok(&resp));
        prop_assert_eq!(back.unwrap().id(), resp.id());
    }

    #[test]
    fn stored_message_round_trip(msg in stored()) {
        let bytes = msg.encode();
        prop_assert_eq!(bytes.len(), 1 + msg.onward.encoded_len() + msg.ret.encoded_len() + msg.payload.len());
        let mut parts = Vec::new();
        StoredMessage::encode_parts(&msg.onward, &msg.ret, &msg.payload, &mut parts);
        prop_assert_eq!(&parts, &bytes);
        prop_assert_eq!(StoredMessage::decode(&bytes), Ok(msg));
    }

    /// Every proper prefix of a request is refused as truncated; the id is reported exactly
    /// when the 10-byte header was complete.
    #[test]
    fn every_truncated_request_is_an_error(req in request()) {
        let bytes = req.encode();
        for n in 0..bytes.len() {
            let (id, e) = Request::decode(&bytes[..n]).expect_err("a prefix decoded");
            prop_assert!(matches!(e, DecodeError::Truncated { .. }), "prefix {}: {}", n, e);
            prop_assert_eq!(id, (n >= 10).then_some(req.id()));
        }
    }

    #[test]
    fn every_truncated_response_is_an_error(resp in response()) {
        let bytes = resp.encode();
        for n in 0..bytes.len() {
            let e = Response::decode(&bytes[..n]).expect_err("a prefix decoded");
            prop_assert!(matches!(e, DecodeError::Truncated { .. }), "prefix {}: {}", n, e);
        }
    }

    /// The payload of a stored message is "the rest": a cut inside it only shortens it; a cut
    /// inside the header or the routes is an error.
    #[test]
    fn truncated_stored_message(msg in stored()) {
        let bytes = msg.encode();
        let head = 1 + msg.onward.encoded_len() + msg.ret.encoded_len();
        for n in 0..bytes.len() {
            let got = StoredMessage::decode(&bytes[..n]);
            if n < head {
                prop_assert!(matches!(got, Err(DecodeError::Truncated { .. })), "prefix {}: {:?}", n, got);
            } else {
                prop_assert_eq!(got.unwrap().payload, msg.payload[..n - head].to_vec());
            }
        }
    }

    #[test]
    fn trailing_bytes_are_refused(req in request(), resp in response(), extra in vec(any::<u8>(), 1..4)) {
        let mut bytes = req.encode();
        bytes.extend_from_slice(&extra);
        let (id, e) = Request::decode(&bytes).expect_err("trailing bytes accepted");
        prop_assert_eq!(id, Some(req.id()));
        prop_assert!(matches!(e, DecodeError::Trailing { count, .. } if count == extra.len()), "{}", e);

        let mut bytes = resp.encode();
        bytes.extend_from_slice(&extra);
        let e = Response::decode(&bytes).expect_err("trailing bytes accepted");
        prop_assert!(matches!(e, DecodeError::Trailing { count, .. } if count == extra.len()), "{}", e);
    }

    #[test]
    fn garbage_never_panics(data in vec(any::<u8>(), 0..200)) {
        let _ = Request::decode(&data);
        let _ = Response::decode(&data);
        let _ = StoredMessage::decode(&data);
    }

    /// Garbage behind a valid header reaches every body decoder.
    #[test]
    fn garbage_body_never_panics(kind in any::<u8>(), id in any::<u64>(), body in vec(any::<u8>(), 0..200)) {
        let mut bytes = header(kind, id);
        bytes.extend_from_slice(&body);
        if let Err((got, _)) = Request::decode(&bytes) {
            prop_assert_eq!(got, Some(id));
        }
        let _ = Response::decode(&bytes);
    }

    /// Whatever decodes re-encodes to the same bytes (there is one encoding per value).
    #[test]
    fn decoded_garbage_re_encodes_exactly(kind in prop_oneof![1u8..=5, 0x81u8..=0x85, Just(0xff)], body in vec(any::<u8>(), 0..40)) {
        let mut bytes = header(kind, 7);
        bytes.extend_from_slice(&body);
        if let Ok(r) = Request::decode(&bytes) {
            prop_assert_eq!(r.encode(), bytes.clone());
        }
        if let Ok(r) = Response::decode(&bytes) {
            if !matches!(&r, Response::Error { reason, .. } if reason.contains('\u{fffd}')) {
                prop_assert_eq!(r.encode(), bytes);
            }
        }
    }

    #[test]
    fn names_of_the_allowed_alphabet_pass(name in stream_name(), client in client_id()) {
        prop_assert_eq!(check_stream_name(&name), Ok(()));
        prop_assert_eq!(check_client_id(&client), Ok(()));
    }
}

mod hostile;
