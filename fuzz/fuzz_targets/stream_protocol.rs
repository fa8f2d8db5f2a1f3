//! Stream mailbox messages (airlock-stream): requests to and responses of a hub's stream
//! services, and stored messages read back from a stream. Decoding never panics; what decodes
//! re-encodes to the very same bytes (one encoding per value) and decodes to the same value —
//! except an Error answer whose reason was not UTF-8, which is normalised once.
#![no_main]
use airlock_stream::{Request, Response, StoredMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Request::decode(data) {
        Ok(req) => {
            assert_eq!(req.id().to_be_bytes(), data[2..10]);
            assert_eq!(req.encode(), data, "a request has one encoding");
            let again = Request::decode(&req.encode()).expect("a re-encoded request decodes");
            assert_eq!(again, req);
        }
        // The id is reported exactly when the 10-byte header was read.
        Err((Some(id), _)) => assert_eq!(id.to_be_bytes(), data[2..10]),
        Err((None, _)) => {}
    }

    if let Ok(resp) = Response::decode(data) {
        let bytes = resp.encode();
        if bytes != data {
            // Only a reason that was not UTF-8 (replaced when decoding) encodes differently.
            assert!(
                matches!(resp, Response::Error { .. }) && std::str::from_utf8(&data[13..]).is_err(),
                "{resp:?} re-encodes to other bytes"
            );
        }
        let again = Response::decode(&bytes).expect("a re-encoded response decodes");
        match &resp {
            // A replaced reason may outgrow a bytes16 and be cut when re-encoded; once cut it
            // is stable.
            Response::Error { reason, .. } if reason.len() > usize::from(u16::MAX) => {
                assert_eq!(again.encode(), bytes)
            }
            _ => assert_eq!(again, resp),
        }
    }

    if let Ok(msg) = StoredMessage::decode(data) {
        assert!(!msg.onward.is_empty());
        assert_eq!(msg.encode(), data, "a stored message has one encoding");
        let again = StoredMessage::decode(&msg.encode()).expect("a re-encoded message decodes");
        assert_eq!(again, msg);
    }
});
