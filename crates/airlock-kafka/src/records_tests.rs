//! Tests of [`super::map_values`]: batches written by kafka-protocol's own encoder (an
//! independent implementation) are rewritten here and read back with its decoder.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use proptest::prelude::*;

use super::*;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn record(offset: i64, key: Option<&'static str>, value: Option<&'static str>) -> Record {
    let mut headers = IndexMap::new();
    headers.insert(
        StrBytes::from_static_str("h"),
        Some(Bytes::from_static(b"hv")),
    );
    headers.insert(StrBytes::from_static_str("null"), None);
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 7,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp: 1_700_000_000_000 + offset * 10,
        key: key.map(|k| Bytes::from_static(k.as_bytes())),
        value: value.map(|v| Bytes::from_static(v.as_bytes())),
        headers,
    }
}

/// Four records from offset `base`, one batch: their sequences are -1 plus their offset delta,
/// so kafka-protocol's encoder keeps them together with base sequence -1.
fn sample(base: i64) -> Vec<Record> {
    let mut records = vec![
        record(base, Some("k0"), Some("hello")),
        record(base + 1, None, Some("no key")),
        record(base + 2, Some("gone"), None),
        record(base + 3, Some(""), Some("")),
    ];
    for (i, r) in records.iter_mut().enumerate() {
        r.sequence = -1 + i as i32;
    }
    records
}

fn encode(records: &[Record], compression: Compression) -> Bytes {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.freeze()
}

fn decode(bytes: &Bytes) -> Vec<(Compression, Vec<Record>)> {
    let mut buf = bytes.clone();
    RecordBatchDecoder::decode_all(&mut buf)
        .unwrap()
        .into_iter()
        .map(|set| (set.compression, set.records))
        .collect()
}

/// Sets attribute bits of the first batch and fixes its CRC.
fn set_attributes(bytes: &Bytes, bits: i16) -> Bytes {
    let mut b = bytes.to_vec();
    let a = i16::from_be_bytes([b[21], b[22]]) | bits;
    b[21..23].copy_from_slice(&a.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

fn upper(_: &RecordCtx<'_>, v: Option<Bytes>) -> Result<Option<Bytes>, RecordsError> {
    Ok(v.map(|v| Bytes::from(v.to_ascii_uppercase())))
}

fn identity(_: &RecordCtx<'_>, v: Option<Bytes>) -> Result<Option<Bytes>, RecordsError> {
    Ok(v)
}

#[test]
fn every_codec_keeps_its_codec_and_every_field() {
    for codec in CODECS {
        let input = encode(&sample(100), codec);
        let output = map_values(&input, &MapOptions::produce(), upper).unwrap();
        let [(got_codec, got)] = &decode(&output)[..] else {
            panic!("one batch expected")
        };
        assert_eq!(*got_codec, codec);
        let want: Vec<Record> = sample(100)
            .into_iter()
            .map(|mut r| {
                r.value = r.value.map(|v| Bytes::from(v.to_ascii_uppercase()));
                r
            })
            .collect();
        assert_eq!(got, &want, "{codec:?}");
        // Header fields other than length, CRC and codec are the very bytes that came in.
        assert_eq!(input[..8], output[..8]);
        assert_eq!(input[12..17], output[12..17]);
        assert_eq!(input[23..61], output[23..61]);
    }
}

#[test]
fn fetch_options_write_uncompressed() {
    for codec in CODECS {
        let input = encode(&sample(0), codec);
        let output = map_values(&input, &MapOptions::fetch(), upper).unwrap();
        assert_eq!(decode(&output)[0].0, Compression::None, "{codec:?}");
        assert_eq!(
            decode(&output)[0].1[0].value.as_deref(),
            Some(&b"HELLO"[..])
        );
    }
}

#[test]
fn unchanged_batches_are_copied_byte_for_byte() {
    for codec in CODECS {
        let input = encode(&sample(5), codec);
        assert_eq!(
            map_values(&input, &MapOptions::produce(), identity).unwrap(),
            input
        );
    }
}

#[test]
fn idempotent_transactional_and_log_append_batches_keep_their_fields() {
    let records: Vec<Record> = sample(1000)
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            r.transactional = true;
            r.producer_id = 4242;
            r.producer_epoch = 3;
            r.sequence = 17 + i as i32;
            r
        })
        .collect();
    for codec in CODECS {
        let input = set_attributes(&encode(&records, codec), 1 << 3);
        let output = map_values(&input, &MapOptions::produce(), upper).unwrap();
        let header = BatchHeader::parse(&output);
        assert!(header.is_transactional() && header.is_log_append_time() && !header.is_control());
        assert_eq!(header, BatchHeader::parse(&input));
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (4242, 3, 17)
        );
        assert_eq!(header.partition_leader_epoch, 7);
        let got = &decode(&output)[0].1;
        assert_eq!(got.len(), 4);
        for (i, r) in got.iter().enumerate() {
            assert_eq!((r.offset, r.sequence), (1000 + i as i64, 17 + i as i32));
            assert!(r.transactional);
        }
    }
}

#[test]
fn control_batches_pass_untouched_and_unseen() {
    let mut marker = record(9, Some("\0\0\0\0"), Some("\0\0\0\0\0\0"));
    marker.control = true;
    marker.transactional = true;
    marker.producer_id = 1;
    let control = encode(&[marker], Compression::None);
    let data = encode(&sample(10), Compression::Gzip);
    let input = Bytes::from([data.to_vec(), control.to_vec()].concat());
    let mut seen = Vec::new();
    let output = map_values(&input, &MapOptions::fetch(), |ctx, v| {
        seen.push(ctx.offset);
        upper(ctx, v)
    })
    .unwrap();
    assert_eq!(seen, [10, 11, 12, 13]);
    assert!(output.ends_with(&control));
    assert_eq!(decode(&output).len(), 2);
}

#[test]
fn tombstones_stay_null() {
    let input = encode(&sample(0), Compression::None);
    let mut nulls = 0;
    map_values(&input, &MapOptions::produce(), |ctx, v| {
        if v.is_none() {
            nulls += 1;
            assert_eq!(ctx.key, Some(&b"gone"[..]));
        }
        Ok::<_, RecordsError>(v)
    })
    .unwrap();
    assert_eq!(nulls, 1);
    let revived = map_values(&input, &MapOptions::produce(), |_, _| {
        Ok::<_, RecordsError>(Some(Bytes::from_static(b"x")))
    });
    assert_eq!(revived, Err(RecordsError::NullnessChanged { offset: 2 }));
    let killed = map_values(&input, &MapOptions::produce(), |_, _| {
        Ok::<_, RecordsError>(None)
    });
    assert_eq!(killed, Err(RecordsError::NullnessChanged { offset: 0 }));
}

#[test]
fn keys_are_given_with_null_and_empty_apart() {
    let input = encode(&sample(0), Compression::Lz4);
    let mut keys = Vec::new();
    map_values(&input, &MapOptions::produce(), |ctx, v| {
        keys.push(ctx.key.map(<[u8]>::to_vec));
        Ok::<_, RecordsError>(v)
    })
    .unwrap();
    assert_eq!(
        keys,
        [
            Some(b"k0".to_vec()),
            None,
            Some(b"gone".to_vec()),
            Some(vec![])
        ]
    );
}

#[test]
fn several_batches_and_a_cut_tail() {
    let a = encode(&sample(0), Compression::Snappy);
    let b = encode(&sample(4), Compression::Zstd);
    let whole = [a.to_vec(), b.to_vec()].concat();
    for cut in [1, 11, 12, 40, b.len() - 1] {
        let input = Bytes::from(whole[..whole.len() - b.len() + cut].to_vec());
        let output = map_values(&input, &MapOptions::fetch(), upper).unwrap();
        assert_eq!(decode(&output).len(), 1, "cut {cut}");
        assert_eq!(
            map_values(&input, &MapOptions::produce(), upper),
            Err(RecordsError::Truncated { what: "batch" })
        );
    }
    let output = map_values(&Bytes::from(whole), &MapOptions::fetch(), upper).unwrap();
    assert_eq!(decode(&output).len(), 2);
    assert_eq!(
        map_values(&Bytes::new(), &MapOptions::fetch(), upper),
        Ok(Bytes::new())
    );
}

#[test]
fn corruption_and_old_formats_are_refused() {
    let input = encode(&sample(0), Compression::None);
    let mut bad = input.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        map_values(&Bytes::from(bad), &MapOptions::produce(), upper),
        Err(RecordsError::CrcMismatch { base_offset: 0 })
    );
    let mut old = input.to_vec();
    old[16] = 1;
    assert_eq!(
        map_values(&Bytes::from(old), &MapOptions::produce(), upper),
        Err(RecordsError::UnsupportedMagic { magic: 1 })
    );
    let unknown_codec = set_attributes(&input, 5);
    assert_eq!(
        map_values(&unknown_codec, &MapOptions::produce(), upper),
        Err(RecordsError::UnknownCodec { code: 5 })
    );
}

#[test]
fn decompression_bombs_are_capped() {
    let big: &'static str = Box::leak("z".repeat(2 << 20).into_boxed_str());
    for codec in CODECS {
        let input = encode(&[record(0, None, Some(big))], codec);
        let options = MapOptions {
            max_batch_bytes: 1 << 20,
            ..MapOptions::produce()
        };
        assert_eq!(
            map_values(&input, &options, upper),
            Err(RecordsError::TooLarge { limit: 1 << 20 }),
            "{codec:?}"
        );
    }
}

proptest! {
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = map_values(&Bytes::from(bytes), &MapOptions::fetch(), upper);
    }

    #[test]
    fn mutated_batches_never_panic(
        codec in 0usize..5,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        fix_crc in any::<bool>(),
    ) {
        let mut b = encode(&sample(0), CODECS[codec]).to_vec();
        let i = at.index(b.len());
        b[i] = byte;
        if fix_crc {
            let crc = crc32c::crc32c(&b[21..]);
            b[17..21].copy_from_slice(&crc.to_be_bytes());
        }
        for options in [MapOptions::fetch(), MapOptions::produce()] {
            let _ = map_values(&Bytes::from(b.clone()), &options, upper);
        }
    }
}
