//! Checks the stream test vectors of `docs/protocol.md` §12 against the implementation.
//!
//! Every ```` ```stream-vector ```` block is parsed (`name`, `input`, `hex` lines, as the channel
//! vectors of §8). Each must be one this test knows: its value is encoded with the real encoder
//! and must equal the document's hex, and the document's bytes must decode back to the value.
//! Every vector this test knows must be in the document, once.

use airlock_stream::{ErrorCode, Request, Response, StoredMessage};
use airlock_wire::{Address, Route};

const KNOWN: &[&str] = &[
    "S1-create",
    "S2-push",
    "S3-pull",
    "S4-index-save",
    "S5-pulled",
    "S6-error",
    "S7-stored-message",
];

/// A vector's value, decoded with the decoder of its kind.
#[derive(Debug, PartialEq, Eq)]
enum Value {
    Request(Request),
    Response(Response),
    Stored(StoredMessage),
}

impl Value {
    fn encode(&self) -> Vec<u8> {
        match self {
            Value::Request(r) => r.encode(),
            Value::Response(r) => r.encode(),
            Value::Stored(m) => m.encode(),
        }
    }

    /// Decodes `bytes` as the same kind of message as `self`.
    fn decode_like(&self, bytes: &[u8]) -> Value {
        match self {
            Value::Request(_) => Value::Request(Request::decode(bytes).expect("request decodes")),
            Value::Response(_) => {
                Value::Response(Response::decode(bytes).expect("response decodes"))
            }
            Value::Stored(_) => {
                Value::Stored(StoredMessage::decode(bytes).expect("stored message decodes"))
            }
        }
    }
}

fn addr(s: &str) -> Address {
    Address::new(s).unwrap()
}

fn value(name: &str) -> Value {
    match name {
        "S1-create" => Value::Request(Request::Create {
            id: 1,
            name: Some("bob-in".into()),
        }),
        "S2-push" => Value::Request(Request::Push {
            id: 2,
            stream: "bob-in".into(),
            records: vec![b"one".to_vec(), b"two".to_vec()],
        }),
        "S3-pull" => Value::Request(Request::Pull {
            id: 3,
            stream: "bob-in".into(),
            from: 0,
            limit: 64,
            wait_ms: 1000,
        }),
        "S4-index-save" => Value::Request(Request::IndexSave {
            id: 4,
            client: "bob".into(),
            stream: "bob-in".into(),
            index: 42,
        }),
        "S5-pulled" => Value::Response(Response::Pulled {
            id: 3,
            next: 2,
            records: vec![(0, b"one".to_vec()), (1, b"two".to_vec())],
        }),
        "S6-error" => Value::Response(Response::Error {
            id: 2,
            code: ErrorCode::Unavailable,
            reason: "kafka unreachable".into(),
        }),
        "S7-stored-message" => Value::Stored(StoredMessage {
            onward: Route::single(addr("sc.0000000000000001.d")),
            ret: Route::single(addr("sc.0000000000000002.d")),
            payload: vec![0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd],
        }),
        other => {
            panic!("vector {other} is not known to this test: add it to `value` and `KNOWN`")
        }
    }
}

fn vectors() -> Vec<(String, Vec<u8>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```stream-vector" {
            continue;
        }
        let (mut name, mut hex_text, mut closed) = (None, None, false);
        for l in lines.by_ref() {
            let l = l.trim();
            if l == "```" {
                closed = true;
                break;
            }
            match l.split_once(':') {
                Some(("name", v)) => name = Some(v.trim().to_string()),
                Some(("hex", v)) => hex_text = Some(v.trim().to_string()),
                Some(("input", _)) => {}
                _ => panic!("malformed stream-vector line {l:?}"),
            }
        }
        assert!(closed, "unclosed stream-vector block");
        let name = name.expect("stream-vector without name");
        let bytes = hex::decode(hex_text.expect("stream-vector without hex")).unwrap();
        assert!(
            out.iter().all(|(n, _)| *n != name),
            "stream-vector {name} appears twice"
        );
        out.push((name, bytes));
    }
    out
}

#[test]
fn document_vectors_match_the_implementation() {
    let vectors = vectors();
    assert!(
        !vectors.is_empty(),
        "no stream-vector blocks in docs/protocol.md"
    );
    for (name, bytes) in vectors {
        let v = value(&name);
        assert_eq!(
            hex::encode(v.encode()),
            hex::encode(&bytes),
            "vector {name} differs from the implementation"
        );
        assert_eq!(
            v.decode_like(&bytes),
            v,
            "vector {name} decodes to another value"
        );
    }
}

#[test]
fn every_known_vector_is_in_the_document() {
    let names: Vec<String> = vectors().into_iter().map(|(n, _)| n).collect();
    for k in KNOWN {
        assert!(names.iter().any(|n| n == k), "docs/protocol.md lacks {k}");
    }
}

#[test]
#[ignore = "prints the vectors for the document"]
fn print_vectors() {
    for k in KNOWN {
        println!("{k}: {}", hex::encode(value(k).encode()));
    }
}
