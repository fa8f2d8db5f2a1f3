//! The compression codecs of Kafka record batches, with decompression bounded in size.
//!
//! kafka-protocol's own decompressors inflate a whole batch into memory with no limit, so a few
//! kilobytes of gzip from a client (or a broker) could ask for gigabytes. Here every codec reads
//! through a cap and stops with [`RecordsError::TooLarge`] one byte past it. Compression (of data
//! we produced ourselves) uses kafka-protocol's compressors, which write Kafka's framings: gzip,
//! snappy in the xerial block framing of the Java client, LZ4 frames, zstd frames.

use std::io::Read;

use bytes::BytesMut;
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
use kafka_protocol::records::Compression;

use crate::records::RecordsError;

/// The codec of a batch's attributes (their low three bits).
pub(crate) fn from_attributes(attributes: i16) -> Result<Compression, RecordsError> {
    Ok(match attributes & 0x7 {
        0 => Compression::None,
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        code => return Err(RecordsError::UnknownCodec { code }),
    })
}

/// Decompresses a batch's records area, refusing to produce more than `limit` bytes.
pub(crate) fn decompress(
    codec: Compression,
    data: &[u8],
    limit: usize,
) -> Result<Vec<u8>, RecordsError> {
    let failed = |e: std::io::Error| RecordsError::Decompress {
        codec,
        reason: e.to_string(),
    };
    let out = match codec {
        Compression::None => data.to_vec(),
        Compression::Gzip => read_capped(codec, flate2::read::MultiGzDecoder::new(data), limit)?,
        Compression::Lz4 => read_capped(codec, lz4::Decoder::new(data).map_err(failed)?, limit)?,
        Compression::Zstd => read_capped(
            codec,
            zstd::stream::read::Decoder::with_buffer(data).map_err(failed)?,
            limit,
        )?,
        Compression::Snappy => snappy(data, limit)?,
    };
    if out.len() > limit {
        return Err(RecordsError::TooLarge { limit });
    }
    Ok(out)
}

/// Compresses a records area with `codec`, in the framing Kafka clients read.
pub(crate) fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, RecordsError> {
    let mut out = BytesMut::new();
    let fill = |tmp: &mut BytesMut| {
        tmp.extend_from_slice(data);
        Ok(())
    };
    let done = match codec {
        Compression::None => {
            out.extend_from_slice(data);
            Ok(())
        }
        Compression::Gzip => Gzip::compress(&mut out, fill),
        Compression::Snappy => Snappy::compress(&mut out, fill),
        Compression::Lz4 => Lz4::compress(&mut out, fill),
        Compression::Zstd => Zstd::compress(&mut out, fill),
    };
    done.map_err(|e| RecordsError::Compress {
        codec,
        reason: e.to_string(),
    })?;
    Ok(out.to_vec())
}

fn read_capped(
    codec: Compression,
    reader: impl Read,
    limit: usize,
) -> Result<Vec<u8>, RecordsError> {
    let mut out = Vec::new();
    let cap = (limit as u64).saturating_add(1);
    match reader.take(cap).read_to_end(&mut out) {
        Ok(_) if out.len() > limit => Err(RecordsError::TooLarge { limit }),
        Ok(_) => Ok(out),
        Err(e) => Err(RecordsError::Decompress {
            codec,
            reason: e.to_string(),
        }),
    }
}

/// The xerial snappy framing (`\x82SNAPPY\0`, version, compatible version, then blocks of a
/// big-endian u32 length and a raw snappy block), or raw snappy without that header, as the Java
/// client reads both. Each block's announced size is checked against what is left of the cap
/// before anything is allocated.
fn snappy(data: &[u8], limit: usize) -> Result<Vec<u8>, RecordsError> {
    const XERIAL: &[u8; 8] = b"\x82SNAPPY\x00";
    let mut out = Vec::new();
    if data.len() < 16 || &data[..8] != XERIAL {
        snappy_block(data, &mut out, limit)?;
        return Ok(out);
    }
    let mut rest = &data[16..];
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(snappy_error("truncated block length"));
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        rest = &rest[4..];
        if rest.len() < len {
            return Err(snappy_error("truncated block"));
        }
        snappy_block(&rest[..len], &mut out, limit)?;
        rest = &rest[len..];
    }
    Ok(out)
}

fn snappy_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), RecordsError> {
    let len = snap::raw::decompress_len(block).map_err(|e| snappy_error(&e.to_string()))?;
    if len > limit.saturating_sub(out.len()) {
        return Err(RecordsError::TooLarge { limit });
    }
    let start = out.len();
    out.resize(start + len, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| snappy_error(&e.to_string()))?;
    Ok(())
}

fn snappy_error(reason: &str) -> RecordsError {
    RecordsError::Decompress {
        codec: Compression::Snappy,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for codec in ALL {
            let packed = compress(codec, &data).unwrap();
            assert_eq!(
                decompress(codec, &packed, 1 << 20).unwrap(),
                data,
                "{codec:?}"
            );
        }
    }

    #[test]
    fn bombs_stop_at_the_cap() {
        let data = vec![0u8; 4 << 20];
        for codec in ALL {
            let packed = compress(codec, &data).unwrap();
            assert_eq!(
                decompress(codec, &packed, 1 << 20),
                Err(RecordsError::TooLarge { limit: 1 << 20 }),
                "{codec:?}"
            );
            assert!(decompress(codec, &packed, 4 << 20).is_ok());
        }
    }

    #[test]
    fn garbage_is_an_error() {
        for codec in ALL[1..].iter().copied() {
            assert!(
                decompress(
                    codec,
                    b"\x82SNAPPY\x00\0\0\0\x01\0\0\0\x01\xff\xff\xff\xffgarbage",
                    1 << 20
                )
                .is_err(),
                "{codec:?}"
            );
        }
    }
}
