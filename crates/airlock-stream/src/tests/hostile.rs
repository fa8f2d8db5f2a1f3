//! Hand-made layouts and hostile input, case by case (strategies and helpers: `super`).

use super::*;

// ---------------------------------------------------------------------------------------------
// Layouts, by hand (round trips cannot catch an encoder and a decoder that agree on a mistake;
// the vectors of docs/protocol.md §12 cover Create, Push, Pull, IndexSave, Pulled and Error).

#[test]
fn layout_of_the_other_kinds() {
    let mut get = header(0x04, 5);
    b8(&mut get, b"bob");
    b8(&mut get, b"bob-in");
    let cases = [
        (
            get,
            Request::IndexGet {
                id: 5,
                client: "bob".into(),
                stream: "bob-in".into(),
            },
        ),
        // An empty name in a Create asks the hub to pick one.
        (
            [header(0x01, 6), vec![0]].concat(),
            Request::Create { id: 6, name: None },
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(want.encode(), bytes);
        assert_eq!(Request::decode(&bytes).map_err(|(_, e)| e), Ok(want));
    }

    let responses = [
        (
            concat!("01810000000000000009", "03616263"),
            Response::Created {
                id: 9,
                stream: "abc".into(),
            },
        ),
        (
            concat!("01820000000000000009", "0000000000000100", "0003"),
            Response::Pushed {
                id: 9,
                first_index: 256,
                count: 3,
            },
        ),
        (
            concat!("01840000000000000009", "01", "000000000000002a"),
            Response::Index {
                id: 9,
                index: Some(42),
            },
        ),
        (
            concat!("01840000000000000009", "00"),
            Response::Index { id: 9, index: None },
        ),
        ("01850000000000000009", Response::Saved { id: 9 }),
    ];
    for (hex_text, want) in responses {
        let bytes = hex::decode(hex_text).unwrap();
        assert_eq!(hex::encode(want.encode()), hex_text);
        assert_eq!(Response::decode(&bytes), Ok(want));
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile input, case by case.

#[test]
fn request_id_is_reported_only_when_the_header_was_read() {
    // Too short for the header.
    refused_request(&[], None);
    refused_request(&[PROTOCOL_VERSION], None);
    refused_request(&header(0x01, 77)[..9], None);
    // An unknown version: the rest is not trusted to be a header at all.
    let mut v2 = header(0x01, 77);
    v2[0] = 2;
    v2.push(0);
    assert!(is_invalid(
        &refused_request(&v2, None),
        "stream protocol version"
    ));
    v2[0] = 0;
    refused_request(&v2, None);
    // A readable header and a bad body: the service can answer request 77 with an Error.
    refused_request(&header(0x01, 77), Some(77));
    refused_request(&push_bytes(77, 0, &[]), Some(77));
}

#[test]
fn unknown_kinds_are_refused() {
    for kind in [0x00, 0x06, 0x7f, 0x80, 0x81, 0x85, 0x86, 0xfe, 0xff] {
        let mut bytes = header(kind, 3);
        bytes.push(0);
        let e = refused_request(&bytes, Some(3));
        assert!(is_invalid(&e, "stream request kind"), "kind {kind:#x}: {e}");
    }
    for kind in [0x00, 0x01, 0x05, 0x7f, 0x80, 0x86, 0xfe] {
        let mut bytes = header(kind, 3);
        bytes.push(0);
        let e = Response::decode(&bytes).unwrap_err();
        assert!(
            is_invalid(&e, "stream response kind"),
            "kind {kind:#x}: {e}"
        );
    }
    // A valid response with another version byte.
    for version in [0, 2, 0xff] {
        let mut bytes = Response::Saved { id: 1 }.encode();
        bytes[0] = version;
        let e = Response::decode(&bytes).unwrap_err();
        assert!(is_invalid(&e, "stream protocol version"), "{e}");
    }
}

#[test]
fn an_empty_push_is_refused() {
    let e = refused_request(&push_bytes(4, 0, &[]), Some(4));
    assert!(is_invalid(&e, "push"), "{e}");
    // Also when an encoder produced it.
    let bytes = Request::Push {
        id: 4,
        stream: "s".into(),
        records: vec![],
    }
    .encode();
    refused_request(&bytes, Some(4));
}

#[test]
fn record_count_limit() {
    let one: &[u8] = b"";
    let max = vec![one; MAX_RECORDS];
    let ok = push_bytes(1, MAX_RECORDS as u16, &max);
    assert!(
        matches!(Request::decode(&ok), Ok(Request::Push { records, .. }) if records.len() == MAX_RECORDS)
    );
    let over = vec![one; MAX_RECORDS + 1];
    let e = refused_request(&push_bytes(1, MAX_RECORDS as u16 + 1, &over), Some(1));
    assert!(is_invalid(&e, "record count"), "{e}");
    // The count is checked before the records are read: a huge count with nothing behind it.
    let e = refused_request(&push_bytes(1, u16::MAX, &[]), Some(1));
    assert!(is_invalid(&e, "record count"), "{e}");

    let indexed: Vec<(u64, &[u8])> = (0..MAX_RECORDS as u64 + 1).map(|i| (i, one)).collect();
    let next = MAX_RECORDS as u64 + 1;
    assert!(Response::decode(&pulled_bytes(1, next, &indexed[..MAX_RECORDS])).is_ok());
    let e = Response::decode(&pulled_bytes(1, next, &indexed)).unwrap_err();
    assert!(is_invalid(&e, "record count"), "{e}");
}

#[test]
fn absurd_record_lengths_are_refused_before_reading() {
    // A record length of 0xffffffff with nothing behind it: refused as too long (not
    // allocated, not reported as truncation).
    let mut bytes = header(0x02, 1);
    b8(&mut bytes, b"s");
    bytes.extend_from_slice(&1u16.to_be_bytes());
    bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    let e = refused_request(&bytes, Some(1));
    assert!(is_invalid(&e, "record"), "{e}");

    // Just over MAX_RECORD.
    let mut bytes = header(0x02, 1);
    b8(&mut bytes, b"s");
    bytes.extend_from_slice(&1u16.to_be_bytes());
    bytes.extend_from_slice(&(MAX_RECORD as u32 + 1).to_be_bytes());
    let e = refused_request(&bytes, Some(1));
    assert!(is_invalid(&e, "record"), "{e}");

    // The second record of a pull answer.
    let mut bytes = pulled_bytes(1, 10, &[(0, b"ok")]);
    bytes[19] = 2; // count 2
    bytes.extend_from_slice(&1u64.to_be_bytes());
    bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    let e = Response::decode(&bytes).unwrap_err();
    assert!(is_invalid(&e, "record"), "{e}");
}

#[test]
fn batch_size_limit() {
    let half = vec![0u8; MAX_BATCH_BYTES / 2];
    let ok = push_bytes(1, 2, &[&half, &half]);
    assert!(Request::decode(&ok).is_ok());
    let more = vec![0u8; MAX_BATCH_BYTES / 2 + 1];
    let e = refused_request(&push_bytes(1, 2, &[&half, &more]), Some(1));
    assert!(is_invalid(&e, "records"), "{e}");
    // One record under MAX_RECORD but over the batch limit.
    let big = vec![0u8; MAX_BATCH_BYTES + 1];
    assert!(big.len() < MAX_RECORD);
    let e = refused_request(&push_bytes(1, 1, &[&big]), Some(1));
    assert!(is_invalid(&e, "records"), "{e}");

    assert!(Response::decode(&pulled_bytes(1, 2, &[(0, &half), (1, &half)])).is_ok());
    let e = Response::decode(&pulled_bytes(1, 2, &[(0, &half), (1, &more)])).unwrap_err();
    assert!(is_invalid(&e, "records"), "{e}");
}

fn pull(limit: u16, wait_ms: u32) -> Vec<u8> {
    Request::Pull {
        id: 8,
        stream: "s".into(),
        from: 0,
        limit,
        wait_ms,
    }
    .encode()
}

#[test]
fn pull_limits() {
    assert!(Request::decode(&pull(MAX_RECORDS as u16, MAX_WAIT_MS)).is_ok());
    assert!(Request::decode(&pull(0, 0)).is_ok());
    let e = refused_request(&pull(MAX_RECORDS as u16 + 1, 0), Some(8));
    assert!(is_invalid(&e, "limit"), "{e}");
    let e = refused_request(&pull(u16::MAX, 0), Some(8));
    assert!(is_invalid(&e, "limit"), "{e}");
    let e = refused_request(&pull(1, MAX_WAIT_MS + 1), Some(8));
    assert!(is_invalid(&e, "wait"), "{e}");
    let e = refused_request(&pull(1, u32::MAX), Some(8));
    assert!(is_invalid(&e, "wait"), "{e}");
}

/// Names that are not valid, with the check that must refuse them.
fn bad_stream_names() -> Vec<Vec<u8>> {
    vec![
        b"".to_vec(),
        vec![b'a'; MAX_STREAM_NAME + 1],
        vec![b'a'; 255],
        b"a b".to_vec(),
        b"a/b".to_vec(),
        b"a:b".to_vec(),
        b"a\0b".to_vec(),
        "caf\u{e9}".as_bytes().to_vec(),
        b".".to_vec(),
        b"..".to_vec(),
        b".hidden".to_vec(),
        b"_x".to_vec(),
        b"__consumer_offsets".to_vec(),
        vec![0xff, 0xfe],
    ]
}

#[test]
fn bad_stream_names_are_refused_everywhere() {
    for name in bad_stream_names() {
        let shown = String::from_utf8_lossy(&name).into_owned();
        let mut bodies: Vec<(u8, Vec<u8>)> = Vec::new();
        // Create (an empty name is allowed there: it means "pick one").
        if !name.is_empty() {
            let mut b = Vec::new();
            b8(&mut b, &name);
            bodies.push((0x01, b));
        }
        let mut b = Vec::new();
        b8(&mut b, &name);
        b.extend_from_slice(&[0, 1, 0, 0, 0, 1, b'x']);
        bodies.push((0x02, b));
        let mut b = Vec::new();
        b8(&mut b, &name);
        b.extend_from_slice(&[0; 14]);
        bodies.push((0x03, b));
        let mut b = Vec::new();
        b8(&mut b, b"bob");
        b8(&mut b, &name);
        bodies.push((0x04, b.clone()));
        b.extend_from_slice(&[0; 8]);
        bodies.push((0x05, b));
        for (kind, body) in bodies {
            let bytes = [header(kind, 12), body].concat();
            let e = refused_request(&bytes, Some(12));
            assert!(
                is_invalid(&e, "stream name"),
                "kind {kind:#x} name {shown:?}: {e}"
            );
        }
        // A hub does not name a stream so either.
        let mut bytes = header(0x81, 12);
        b8(&mut bytes, &name);
        let e = Response::decode(&bytes).unwrap_err();
        assert!(is_invalid(&e, "stream name"), "{shown:?}: {e}");
    }
}

#[test]
fn bad_client_ids_are_refused() {
    let bad: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        vec![b'a'; MAX_CLIENT_ID + 1],
        b"bob/x".to_vec(),
        b"bob x".to_vec(),
        "b\u{f6}b".as_bytes().to_vec(),
        vec![0x80],
    ];
    for client in bad {
        for kind in [0x04u8, 0x05] {
            let mut bytes = header(kind, 13);
            b8(&mut bytes, &client);
            b8(&mut bytes, b"bob-in");
            if kind == 0x05 {
                bytes.extend_from_slice(&[0; 8]);
            }
            let e = refused_request(&bytes, Some(13));
            assert!(is_invalid(&e, "client id"), "{client:?}: {e}");
        }
    }
}

#[test]
fn name_rules() {
    assert_eq!(check_stream_name(&"a".repeat(MAX_STREAM_NAME)), Ok(()));
    assert_eq!(check_stream_name("Bob-in.2_x"), Ok(()));
    assert_eq!(check_stream_name("-x"), Ok(()));
    assert_eq!(
        check_stream_name(""),
        Err(NameError::Empty {
            what: "stream name"
        })
    );
    assert_eq!(
        check_stream_name(&"a".repeat(MAX_STREAM_NAME + 1)),
        Err(NameError::TooLong {
            what: "stream name",
            len: MAX_STREAM_NAME + 1,
            max: MAX_STREAM_NAME
        })
    );
    assert!(matches!(
        check_stream_name("a b"),
        Err(NameError::BadCharacter { .. })
    ));
    assert_eq!(
        check_stream_name(".x"),
        Err(NameError::BadStart(".x".into()))
    );
    assert_eq!(
        check_stream_name("_x"),
        Err(NameError::BadStart("_x".into()))
    );

    // A client id may start with '.' or '_' (it is never a topic name on its own).
    assert_eq!(check_client_id(&"a".repeat(MAX_CLIENT_ID)), Ok(()));
    assert_eq!(check_client_id("_bob.laptop"), Ok(()));
    assert_eq!(
        check_client_id(""),
        Err(NameError::Empty { what: "client id" })
    );
    assert!(matches!(
        check_client_id(&"a".repeat(MAX_CLIENT_ID + 1)),
        Err(NameError::TooLong { .. })
    ));
    // '/' separates the parts of an index key (docs/protocol.md §12): never in a name.
    assert!(check_client_id("a/b").is_err());
    assert!(check_stream_name("a/b").is_err());
}

#[test]
fn pulled_indexes_must_increase() {
    let e = Response::decode(&pulled_bytes(1, 9, &[(5, b"a"), (5, b"b")])).unwrap_err();
    assert!(is_invalid(&e, "record index"), "{e}");
    let e = Response::decode(&pulled_bytes(1, 9, &[(5, b"a"), (4, b"b")])).unwrap_err();
    assert!(is_invalid(&e, "record index"), "{e}");
    let e = Response::decode(&pulled_bytes(1, 9, &[(0, b"a"), (6, b"b"), (6, b"c")])).unwrap_err();
    assert!(is_invalid(&e, "record index"), "{e}");
    // Gaps are fine.
    assert!(Response::decode(&pulled_bytes(1, 9, &[(0, b"a"), (7, b"b")])).is_ok());
}

#[test]
fn pulled_next_must_follow_the_last_record() {
    for next in [0, 4, 5] {
        let e = Response::decode(&pulled_bytes(1, next, &[(3, b"a"), (5, b"b")])).unwrap_err();
        assert!(is_invalid(&e, "next index"), "next {next}: {e}");
    }
    assert!(Response::decode(&pulled_bytes(1, 6, &[(3, b"a"), (5, b"b")])).is_ok());
    // A record at index u64::MAX can have no next.
    let e = Response::decode(&pulled_bytes(1, u64::MAX, &[(u64::MAX, b"a")])).unwrap_err();
    assert!(is_invalid(&e, "next index"), "{e}");
    // No records: any next (the end of the stream, as a FROM_END pull learns it).
    for next in [0, 1, u64::MAX] {
        assert_eq!(
            Response::decode(&pulled_bytes(1, next, &[])),
            Ok(Response::Pulled {
                id: 1,
                next,
                records: vec![]
            })
        );
    }
}

#[test]
fn error_codes() {
    for (code, byte, transient) in [
        (ErrorCode::Invalid, 1u8, false),
        (ErrorCode::UnknownStream, 2, false),
        (ErrorCode::Unavailable, 3, true),
        (ErrorCode::Denied, 4, false),
    ] {
        let bytes = Response::Error {
            id: 1,
            code,
            reason: String::new(),
        }
        .encode();
        assert_eq!(bytes[10], byte);
        assert_eq!(code.is_transient(), transient);
    }
    for bad in [0u8, 5, 0x80, 0xff] {
        let mut bytes = header(0xff, 1);
        bytes.push(bad);
        bytes.extend_from_slice(&[0, 1, b'x']);
        let e = Response::decode(&bytes).unwrap_err();
        assert!(is_invalid(&e, "error code"), "{bad}: {e}");
    }
}

#[test]
fn index_present_flag_is_0_or_1() {
    for flag in [2u8, 0xff] {
        let mut bytes = header(0x84, 1);
        bytes.push(flag);
        bytes.extend_from_slice(&[0; 8]);
        let e = Response::decode(&bytes).unwrap_err();
        assert!(is_invalid(&e, "index present"), "{e}");
    }
}

#[test]
fn error_reason_is_cut_to_a_bytes16_at_a_char_boundary() {
    // 2-byte characters: 65 535 is odd, so the cut must step back one byte.
    let reason = "\u{e9}".repeat(40_000);
    let bytes = Response::Error {
        id: 1,
        code: ErrorCode::Invalid,
        reason: reason.clone(),
    }
    .encode();
    assert_eq!(bytes.len(), 11 + 2 + 65_534);
    match Response::decode(&bytes).unwrap() {
        Response::Error { reason: r, .. } => {
            assert_eq!(r.len(), 65_534);
            assert!(reason.starts_with(&r));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn error_reason_that_is_not_utf8_is_replaced_not_refused() {
    let mut bytes = header(0xff, 1);
    bytes.push(3);
    bytes.extend_from_slice(&[0, 3, b'o', 0xff, b'k']);
    assert_eq!(
        Response::decode(&bytes),
        Ok(Response::Error {
            id: 1,
            code: ErrorCode::Unavailable,
            reason: "o\u{fffd}k".into()
        })
    );
}

/// A replaced reason can outgrow a bytes16 (each bad byte becomes a 3-byte U+FFFD): encoding
/// cuts it, so it changes once and is stable from then on.
#[test]
fn an_error_reason_normalises_once() {
    let mut bytes = header(0xff, 1);
    bytes.push(1);
    bytes.extend_from_slice(&30_000u16.to_be_bytes());
    bytes.extend_from_slice(&[0xff; 30_000]);
    let first = Response::decode(&bytes).unwrap();
    let Response::Error { reason, .. } = &first else {
        panic!("{first:?}")
    };
    assert_eq!(reason.len(), 90_000);
    let once = first.encode();
    assert_eq!(once.len(), 13 + 65_535);
    let second = Response::decode(&once).unwrap();
    assert_ne!(second, first);
    assert_eq!(second.encode(), once);
    assert_eq!(Response::decode(&second.encode()), Ok(second));
}

#[test]
fn pull_from_end() {
    let req = Request::Pull {
        id: 2,
        stream: "s".into(),
        from: FROM_END,
        limit: 0,
        wait_ms: 0,
    };
    let bytes = req.encode();
    assert_eq!(&bytes[12..20], &[0xff; 8]);
    assert_eq!(Request::decode(&bytes).map_err(|(_, e)| e), Ok(req));
}

fn sc(n: u64) -> Address {
    Address::with_random_suffix("sc", n)
}

#[test]
fn stored_message_layout_and_refusals() {
    let msg = StoredMessage {
        onward: Route::single(addr("x")),
        ret: Route::empty(),
        payload: vec![],
    };
    // version, onward [x], return [] and no payload.
    assert_eq!(msg.encode(), vec![STORED_VERSION, 1, 1, b'x', 0]);
    assert_eq!(StoredMessage::decode(&msg.encode()), Ok(msg));

    // An empty onward route goes nowhere.
    let e = StoredMessage::decode(&[STORED_VERSION, 0, 0, 0x10]).unwrap_err();
    assert!(is_invalid(&e, "stored message"), "{e}");
    // Unknown versions.
    for v in [0u8, 2, 0xff] {
        let e = StoredMessage::decode(&[v, 1, 1, b'x', 0]).unwrap_err();
        assert!(is_invalid(&e, "stored message version"), "{e}");
    }
    // A route over 16 hops, in either place.
    let long = Route::new((0..17).map(sc).collect());
    let mut bytes = vec![STORED_VERSION];
    long.encode(&mut bytes);
    Route::empty().encode(&mut bytes);
    assert!(StoredMessage::decode(&bytes).is_err());
    let mut bytes = vec![STORED_VERSION];
    Route::single(sc(1)).encode(&mut bytes);
    long.encode(&mut bytes);
    assert!(StoredMessage::decode(&bytes).is_err());
    // A bad address.
    assert!(StoredMessage::decode(&[STORED_VERSION, 1, 3, b'a', b' ', b'b', 0]).is_err());
    assert!(StoredMessage::decode(&[STORED_VERSION, 1, 0, 0]).is_err());
}
