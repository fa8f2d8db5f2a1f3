//! Checks the test vectors of `docs/protocol.md` §8 against the implementation.
//!
//! Every ```` ```vector ```` block of the document is parsed. Each one must have a name this test
//! knows how to recompute with the real encoders, and the recomputed bytes must equal the
//! document's hex. Every vector this test knows must be present in the document, and the
//! document's bytes must decode back with the real decoders.

use airlock_channel::cipher::next_key;
use airlock_channel::{AbortCode, AbortNotice, InnerMessage, RecvCipher, RekeyPolicy, SendCipher};
use airlock_identity::{
    Identifier, PurposeKeyAttestation, ATTESTATION_LEN, DEFAULT_PURPOSE_KEY_TTL,
};
use airlock_portal::{PortalFrame, ResetReason, DEFAULT_WINDOW};
use airlock_wire::transport_frame::{self, FrameDecoder, InboundFrame, PREAMBLE};
use airlock_wire::{Address, Packet, Reader, Route};
use bytes::BytesMut;
use std::collections::BTreeMap;

/// Every vector the document must contain.
const KNOWN: &[&str] = &[
    "T1-message-frame",
    "T2-route",
    "T3-data-message",
    "T4-rekey",
    "T5-portal-data",
    "T6-inner-payload",
    "T7-portal-credit",
    "T8-heartbeat",
    "T9-data-message-epoch-1",
    "T10-preamble",
    "T11-portal-hello",
    "T12-portal-hello-ack",
    "T13-portal-open",
    "T14-portal-fin",
    "T15-portal-reset",
    "T16-portal-ping",
    "T17-inner-close",
    "T18-inner-refresh",
    "T19-attestation-layout",
    "T20-abort-notice",
];

const KEY: [u8; 32] = [7u8; 32];
const CREATED: u64 = 1_800_000_000;

fn doc_path() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md").to_string()
}

/// One vector block: its name, its bytes and the line it starts on.
struct Vector {
    name: String,
    bytes: Vec<u8>,
    line: usize,
}

/// Parses every ```` ```vector ```` block; panics on malformed or duplicate blocks.
fn parse(doc: &str) -> Vec<Vector> {
    let mut out: Vec<Vector> = Vec::new();
    let mut lines = doc.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        if line.trim() != "```vector" {
            continue;
        }
        let start = i + 1;
        let (mut name, mut input, mut hex_text) = (None, None, None);
        let mut closed = false;
        for (j, l) in lines.by_ref() {
            let l = l.trim();
            if l == "```" {
                closed = true;
                break;
            }
            if l.is_empty() {
                continue;
            }
            let (key, value) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("line {}: expected `key: value`, got {l:?}", j + 1));
            let slot = match key.trim() {
                "name" => &mut name,
                "input" => &mut input,
                "hex" => &mut hex_text,
                other => panic!("line {}: unknown vector field {other:?}", j + 1),
            };
            assert!(
                slot.is_none(),
                "line {}: field {key:?} given twice in one vector",
                j + 1
            );
            *slot = Some(value.trim().to_string());
        }
        assert!(closed, "vector block at line {start} is not closed");
        let name = name.unwrap_or_else(|| panic!("vector at line {start} has no name"));
        let input = input.unwrap_or_else(|| panic!("vector {name} has no input line"));
        assert!(!input.is_empty(), "vector {name} has an empty input line");
        let hex_text = hex_text.unwrap_or_else(|| panic!("vector {name} has no hex line"));
        let bytes = hex::decode(&hex_text)
            .unwrap_or_else(|e| panic!("vector {name} (line {start}): bad hex: {e}"));
        assert!(
            out.iter().all(|v| v.name != name),
            "vector {name} appears twice (second at line {start})"
        );
        out.push(Vector {
            name,
            bytes,
            line: start,
        });
    }
    out
}

fn doc_vectors() -> Vec<Vector> {
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    parse(&doc)
}

fn doc_map() -> BTreeMap<String, Vec<u8>> {
    doc_vectors()
        .into_iter()
        .map(|v| (v.name, v.bytes))
        .collect()
}

fn route(names: &[&str]) -> Route {
    Route::new(names.iter().map(|n| Address::new(*n).unwrap()).collect())
}

fn attestation() -> PurposeKeyAttestation {
    PurposeKeyAttestation {
        identifier: Identifier([0x11; 20]),
        public_key: [0x22; 32],
        created_at: CREATED,
        expires_at: CREATED + DEFAULT_PURPOSE_KEY_TTL,
        signature: [0x33; 64],
    }
}

fn control(f: PortalFrame) -> Vec<u8> {
    f.encode().data().to_vec()
}

/// Recomputes a vector with the real encoders; `None` for names this test does not know.
fn compute(name: &str) -> Option<Vec<u8>> {
    Some(match name {
        "T1-message-frame" => {
            let mut p = Packet::copy_from(b"hi");
            transport_frame::encode_message(&mut p, &route(&["echo"]), &route(&["r"]));
            p.data().to_vec()
        }
        "T2-route" => {
            let r = route(&["tcp.1", "api"]);
            let mut out = Vec::new();
            r.encode(&mut out);
            assert_eq!(out.len(), r.encoded_len());
            out
        }
        "T3-data-message" => {
            let mut s = SendCipher::new(KEY, RekeyPolicy::default());
            let mut p = Packet::copy_from(b"hello");
            assert_eq!(s.seal(&mut p).unwrap(), 0);
            p.data().to_vec()
        }
        "T4-rekey" => next_key(&KEY).to_vec(),
        "T5-portal-data" => {
            // The data path: header prepended in place.
            let mut p = Packet::copy_from(b"abc");
            PortalFrame::prepend_data_header(0x0102_0304, &mut p);
            // The generic encoder agrees.
            let generic = control(PortalFrame::Data {
                stream: 0x0102_0304,
                data: Packet::copy_from(b"abc"),
            });
            assert_eq!(p.data(), &generic[..]);
            p.data().to_vec()
        }
        "T6-inner-payload" => {
            let mut p = Packet::copy_from(b"data");
            InnerMessage::prepend_payload_header(&mut p, &route(&["echo"]), &route(&["r1"]));
            p.data().to_vec()
        }
        "T7-portal-credit" => control(PortalFrame::Credit {
            stream: 3,
            bytes: 65536,
        }),
        "T8-heartbeat" => transport_frame::heartbeat().to_vec(),
        "T9-data-message-epoch-1" => {
            let mut s = SendCipher::new(KEY, RekeyPolicy::default());
            s.seal(&mut Packet::copy_from(b"first")).unwrap();
            s.force_rekey();
            assert_eq!(s.next_nonce(), 65536);
            let mut p = Packet::copy_from(b"hello");
            assert_eq!(s.seal(&mut p).unwrap(), 65536);
            assert_eq!(s.epoch(), 1);
            p.data().to_vec()
        }
        "T10-preamble" => PREAMBLE.to_vec(),
        "T11-portal-hello" => control(PortalFrame::Hello {
            window: DEFAULT_WINDOW,
        }),
        "T12-portal-hello-ack" => control(PortalFrame::HelloAck {
            window: DEFAULT_WINDOW,
        }),
        "T13-portal-open" => control(PortalFrame::Open { stream: 1 }),
        "T14-portal-fin" => control(PortalFrame::Fin { stream: 1 }),
        "T15-portal-reset" => control(PortalFrame::Reset {
            stream: 9,
            reason: ResetReason::ConnectFailed,
        }),
        "T16-portal-ping" => control(PortalFrame::Ping(42)),
        "T17-inner-close" => InnerMessage::close().data().to_vec(),
        "T18-inner-refresh" => InnerMessage::refresh(&[b"c1".to_vec()]).data().to_vec(),
        "T19-attestation-layout" => {
            let bytes = attestation().encode();
            assert_eq!(bytes.len(), ATTESTATION_LEN);
            bytes
        }
        "T20-abort-notice" => AbortNotice::failed("nothing at address outlet").encode(),
        _ => return None,
    })
}

#[test]
fn document_vectors_match_the_implementation() {
    let vectors = doc_vectors();
    assert!(!vectors.is_empty(), "no ```vector blocks in {}", doc_path());
    for v in &vectors {
        let computed = compute(&v.name).unwrap_or_else(|| {
            panic!(
                "vector {} (line {}) is not known to this test: add it to `compute` and `KNOWN`",
                v.name, v.line
            )
        });
        assert_eq!(
            hex::encode(&v.bytes),
            hex::encode(&computed),
            "vector {} (line {}) does not match the implementation",
            v.name,
            v.line
        );
    }
}

#[test]
fn every_known_vector_is_documented() {
    let doc = doc_map();
    let missing: Vec<&str> = KNOWN
        .iter()
        .copied()
        .filter(|n| !doc.contains_key(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "vectors missing from docs/protocol.md: {missing:?}"
    );
    for n in KNOWN {
        assert!(
            compute(n).is_some(),
            "KNOWN lists {n} but compute() lacks it"
        );
    }
}

#[test]
fn document_vectors_decode_back() {
    let doc = doc_map();
    let get = |n: &str| -> Vec<u8> {
        doc.get(n)
            .unwrap_or_else(|| panic!("vector {n} missing"))
            .clone()
    };

    // T1 and T8 through the transport decoder, after the preamble (T10).
    let mut wire = get("T10-preamble");
    wire.extend_from_slice(&get("T1-message-frame"));
    wire.extend_from_slice(&get("T8-heartbeat"));
    let mut buf = BytesMut::from(&wire[..]);
    let mut dec = FrameDecoder::new();
    match dec.decode(&mut buf).unwrap() {
        Some(InboundFrame::Message {
            onward,
            ret,
            payload,
        }) => {
            assert_eq!(onward, route(&["echo"]));
            assert_eq!(ret, route(&["r"]));
            assert_eq!(payload.data(), b"hi");
        }
        other => panic!("T1 decoded as {other:?}"),
    }
    assert_eq!(dec.decode(&mut buf).unwrap(), Some(InboundFrame::Heartbeat));
    assert!(buf.is_empty());

    // T2.
    let t2 = get("T2-route");
    let mut r = Reader::new(&t2);
    assert_eq!(Route::decode(&mut r).unwrap(), route(&["tcp.1", "api"]));
    r.finish("route").unwrap();

    // T3 and T9 open with a receiver holding the epoch-0 key.
    let mut recv = RecvCipher::new(KEY, RekeyPolicy::default());
    let mut p = Packet::copy_from(&get("T3-data-message"));
    assert_eq!(recv.open(&mut p).unwrap(), 0);
    assert_eq!(p.data(), b"hello");
    let mut p = Packet::copy_from(&get("T9-data-message-epoch-1"));
    assert_eq!(recv.open(&mut p).unwrap(), 65536);
    assert_eq!(p.data(), b"hello");
    assert_eq!(recv.epoch(), 1);

    // T9 is sealed with the T4 key: a receiver whose epoch 0 key is T4 and whose epochs are long
    // enough that nonce 65536 is still epoch 0 opens it.
    let t4: [u8; 32] = get("T4-rekey").try_into().expect("32-byte key");
    let mut long = RecvCipher::new(
        t4,
        RekeyPolicy {
            epoch_messages: 1 << 40,
            ..RekeyPolicy::default()
        },
    );
    let mut p = Packet::copy_from(&get("T9-data-message-epoch-1"));
    long.open(&mut p).unwrap();
    assert_eq!(p.data(), b"hello");

    // Portal frames.
    match PortalFrame::decode(Packet::copy_from(&get("T5-portal-data"))).unwrap() {
        PortalFrame::Data { stream, data } => {
            assert_eq!(stream, 0x0102_0304);
            assert_eq!(data.data(), b"abc");
        }
        f => panic!("T5 decoded as {f:?}"),
    }
    let frames = [
        (
            "T7-portal-credit",
            PortalFrame::Credit {
                stream: 3,
                bytes: 65536,
            },
        ),
        (
            "T11-portal-hello",
            PortalFrame::Hello {
                window: DEFAULT_WINDOW,
            },
        ),
        (
            "T12-portal-hello-ack",
            PortalFrame::HelloAck {
                window: DEFAULT_WINDOW,
            },
        ),
        ("T13-portal-open", PortalFrame::Open { stream: 1 }),
        ("T14-portal-fin", PortalFrame::Fin { stream: 1 }),
        (
            "T15-portal-reset",
            PortalFrame::Reset {
                stream: 9,
                reason: ResetReason::ConnectFailed,
            },
        ),
        ("T16-portal-ping", PortalFrame::Ping(42)),
    ];
    for (name, expected) in frames {
        assert_eq!(
            PortalFrame::decode(Packet::copy_from(&get(name))).unwrap(),
            expected,
            "{name}"
        );
    }

    // Inner messages.
    match InnerMessage::decode(Packet::copy_from(&get("T6-inner-payload"))).unwrap() {
        InnerMessage::Payload {
            onward,
            ret,
            payload,
        } => {
            assert_eq!(onward, route(&["echo"]));
            assert_eq!(ret, route(&["r1"]));
            assert_eq!(payload.data(), b"data");
        }
        m => panic!("T6 decoded as {m:?}"),
    }
    assert_eq!(
        InnerMessage::decode(Packet::copy_from(&get("T17-inner-close"))).unwrap(),
        InnerMessage::Close
    );
    assert_eq!(
        InnerMessage::decode(Packet::copy_from(&get("T18-inner-refresh"))).unwrap(),
        InnerMessage::RefreshCredentials(vec![b"c1".to_vec()])
    );

    // T20: the abort notice is an outer channel message, not a portal frame.
    let t20 = get("T20-abort-notice");
    let notice = AbortNotice::decode(&t20).unwrap();
    assert_eq!(notice.code, AbortCode::Failed);
    assert_eq!(notice.reason, "nothing at address outlet");
    assert!(PortalFrame::decode(Packet::copy_from(&t20)).is_err());

    // T19.
    let t19 = get("T19-attestation-layout");
    let mut r = Reader::new(&t19);
    assert_eq!(
        PurposeKeyAttestation::decode(&mut r).unwrap(),
        attestation()
    );
    r.finish("attestation").unwrap();
}

#[test]
fn parser_rejects_what_it_cannot_check() {
    let ok = "x\n```vector\nname: A\ninput: a\nhex: 0aff\n```\n";
    let v = parse(ok);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].name, "A");
    assert_eq!(v[0].bytes, vec![0x0a, 0xff]);
    for bad in [
        "```vector\nname: A\ninput: a\n```\n",          // no hex
        "```vector\nname: A\ninput: a\nhex: 0g\n```\n", // bad hex
        "```vector\nname: A\ninput: a\nhex: 00\n",      // not closed
        "```vector\ninput: a\nhex: 00\n```\n",          // no name
        "```vector\nname: A\ninput: a\nhex: 00\nnote: x\n```\n", // unknown field
        "```vector\nname: A\ninput: a\nhex: 00\n```\n```vector\nname: A\ninput: a\nhex: 00\n```\n", // duplicate
    ] {
        let r = std::panic::catch_unwind(|| parse(bad));
        assert!(r.is_err(), "accepted {bad:?}");
    }
}
