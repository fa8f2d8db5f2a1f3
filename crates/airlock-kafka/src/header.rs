//! Request and response headers.
//!
//! A request header starts with api key, api version and correlation id at fixed offsets; the rest
//! (client id, and tagged fields from header v2) depends on the header version that
//! `ApiKey::request_header_version` gives for the api version. A response header is the
//! correlation id, plus tagged fields from header v1 — except that ApiVersions responses always
//! use header v0, so a client that does not yet know the broker's versions can read them.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::KafkaError;

/// The parsed header of a request, and where its body starts.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestInfo {
    /// The API.
    pub api_key: ApiKey,
    /// The API version.
    pub api_version: i16,
    /// The id the response will carry.
    pub correlation_id: i32,
    /// The client's self-chosen id, if any.
    pub client_id: Option<StrBytes>,
    /// Offset of the request body within the frame body (after the header).
    pub body_offset: usize,
}

/// The fixed start of every request header: api key, api version, correlation id.
pub fn peek_request(body: &[u8]) -> Result<(i16, i16, i32), KafkaError> {
    if body.len() < 8 {
        return Err(KafkaError::Truncated {
            what: "request",
            len: body.len(),
        });
    }
    let mut b = body;
    Ok((b.get_i16(), b.get_i16(), b.get_i32()))
}

/// Parses the header of a request for a known API.
pub fn parse_request_header(
    api_key: ApiKey,
    api_version: i16,
    body: &Bytes,
) -> Result<RequestInfo, KafkaError> {
    let header_version = api_key.request_header_version(api_version);
    let mut buf = body.clone();
    let header =
        RequestHeader::decode(&mut buf, header_version).map_err(|e| KafkaError::Decode {
            api_key: api_key as i16,
            version: api_version,
            part: "request header",
            reason: e.to_string(),
        })?;
    Ok(RequestInfo {
        api_key,
        api_version,
        correlation_id: header.correlation_id,
        client_id: header.client_id,
        body_offset: body.len() - buf.len(),
    })
}

/// The correlation id of a response (the first field of every response header version).
pub fn peek_correlation(body: &[u8]) -> Result<i32, KafkaError> {
    if body.len() < 4 {
        return Err(KafkaError::Truncated {
            what: "response",
            len: body.len(),
        });
    }
    Ok((&body[..4]).get_i32())
}

/// Parses the response header for `api_key` at `api_version`; returns it and the body after it.
pub fn parse_response_header(
    api_key: ApiKey,
    api_version: i16,
    body: &Bytes,
) -> Result<(ResponseHeader, Bytes), KafkaError> {
    let header_version = api_key.response_header_version(api_version);
    let mut buf = body.clone();
    let header =
        ResponseHeader::decode(&mut buf, header_version).map_err(|e| KafkaError::Decode {
            api_key: api_key as i16,
            version: api_version,
            part: "response header",
            reason: e.to_string(),
        })?;
    Ok((header, buf))
}

/// Encodes a response: length prefix, header, message.
pub fn encode_response<M: Encodable>(
    api_key: ApiKey,
    api_version: i16,
    header: &ResponseHeader,
    message: &M,
) -> Result<Bytes, KafkaError> {
    let header_version = api_key.response_header_version(api_version);
    let encode_err = |reason: String| KafkaError::Encode {
        api_key: api_key as i16,
        version: api_version,
        reason,
    };
    let size = header
        .compute_size(header_version)
        .and_then(|h| message.compute_size(api_version).map(|m| h + m))
        .map_err(|e| encode_err(e.to_string()))?;
    let mut out = bytes::BytesMut::with_capacity(4 + size);
    bytes::BufMut::put_u32(&mut out, size as u32);
    header
        .encode(&mut out, header_version)
        .map_err(|e| encode_err(e.to_string()))?;
    message
        .encode(&mut out, api_version)
        .map_err(|e| encode_err(e.to_string()))?;
    Ok(out.freeze())
}
