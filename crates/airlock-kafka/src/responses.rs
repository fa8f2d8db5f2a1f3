//! Decoding, rewriting and re-encoding the responses the interceptors read: Metadata,
//! FindCoordinator and DescribeCluster (broker addresses) and ApiVersions (version capping).
//!
//! Every body is first checked against its schema ([`crate::shape`]) so kafka-protocol's decoder
//! never allocates for bytes that are not there, then decoded, changed in place and encoded again
//! at the same version with the same header.

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, DescribeClusterResponse, FindCoordinatorResponse,
    MetadataResponse, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use crate::brokers::AdvertisedBroker;
use crate::header::{encode_response, parse_response_header};
use crate::policy::{max_readable, treatment, ApiTreatment, INTERCEPTED};
use crate::shape::{self, Schema};
use crate::KafkaError;

/// Kafka's UNSUPPORTED_VERSION error code.
pub(crate) const UNSUPPORTED_VERSION: i16 = 35;

/// A decoded response of an intercepted API.
pub(crate) enum Message {
    Metadata(MetadataResponse),
    FindCoordinator(FindCoordinatorResponse),
    DescribeCluster(DescribeClusterResponse),
    ApiVersions(ApiVersionsResponse),
}

/// An intercepted response: its header, its message, and the version both were read at.
pub(crate) struct Intercepted {
    api_key: ApiKey,
    version: i16,
    header: ResponseHeader,
    pub(crate) message: Message,
}

/// One broker entry of a response, open for rewriting.
pub(crate) struct BrokerSlot<'a> {
    pub(crate) node_id: i32,
    pub(crate) host: &'a mut StrBytes,
    pub(crate) port: &'a mut i32,
}

fn decode_checked<M: Decodable>(
    schema: &Schema,
    api_key: ApiKey,
    version: i16,
    body: &Bytes,
) -> Result<M, KafkaError> {
    let err = |reason: String| KafkaError::Decode {
        api_key: api_key as i16,
        version,
        part: "response",
        reason,
    };
    shape::check(schema, version, body).map_err(|r| err(r.to_string()))?;
    let mut buf = body.clone();
    M::decode(&mut buf, version).map_err(|e| err(e.to_string()))
}

impl Intercepted {
    /// Decodes the body (after the length prefix) of a response to `api_key` v`version`.
    pub(crate) fn decode(api_key: ApiKey, version: i16, body: &Bytes) -> Result<Self, KafkaError> {
        let (header, rest) = parse_response_header(api_key, version, body)?;
        let (version, message) = match api_key {
            ApiKey::Metadata => (
                version,
                Message::Metadata(decode_checked(&shape::METADATA, api_key, version, &rest)?),
            ),
            ApiKey::FindCoordinator => (
                version,
                Message::FindCoordinator(decode_checked(
                    &shape::FIND_COORDINATOR,
                    api_key,
                    version,
                    &rest,
                )?),
            ),
            ApiKey::DescribeCluster => (
                version,
                Message::DescribeCluster(decode_checked(
                    &shape::DESCRIBE_CLUSTER,
                    api_key,
                    version,
                    &rest,
                )?),
            ),
            ApiKey::ApiVersions => {
                // A broker that does not support the requested ApiVersions version answers at
                // v0 (with UNSUPPORTED_VERSION), so a body unreadable at the requested version is
                // read again at v0, as Kafka's own clients do.
                match decode_checked(&shape::API_VERSIONS, api_key, version, &rest) {
                    Ok(m) => (version, Message::ApiVersions(m)),
                    Err(e) if version == 0 => return Err(e),
                    Err(e) => match decode_checked(&shape::API_VERSIONS, api_key, 0, &rest) {
                        Ok(m) => (0, Message::ApiVersions(m)),
                        Err(_) => return Err(e),
                    },
                }
            }
            other => {
                return Err(KafkaError::Decode {
                    api_key: other as i16,
                    version,
                    part: "response",
                    reason: "not an intercepted API".into(),
                })
            }
        };
        Ok(Self {
            api_key,
            version,
            header,
            message,
        })
    }

    /// The whole frame again, length prefix included.
    pub(crate) fn encode(&self) -> Result<Bytes, KafkaError> {
        let (k, v, h) = (self.api_key, self.version, &self.header);
        match &self.message {
            Message::Metadata(m) => encode_response(k, v, h, m),
            Message::FindCoordinator(m) => encode_response(k, v, h, m),
            Message::DescribeCluster(m) => encode_response(k, v, h, m),
            Message::ApiVersions(m) => encode_response(k, v, h, m),
        }
    }

    /// Calls `visit` with every broker the response advertises. Entries that name no broker
    /// (a FindCoordinator error, node id -1) are skipped: there is nothing to reach.
    pub(crate) fn for_each_broker(
        &mut self,
        mut visit: impl FnMut(BrokerSlot<'_>) -> Result<(), KafkaError>,
    ) -> Result<(), KafkaError> {
        match &mut self.message {
            Message::Metadata(m) => {
                for b in &mut m.brokers {
                    visit(BrokerSlot {
                        node_id: b.node_id.0,
                        host: &mut b.host,
                        port: &mut b.port,
                    })?;
                }
            }
            Message::FindCoordinator(m) => {
                if self.version <= 3 {
                    if m.error_code == 0 && m.node_id.0 >= 0 {
                        visit(BrokerSlot {
                            node_id: m.node_id.0,
                            host: &mut m.host,
                            port: &mut m.port,
                        })?;
                    }
                } else {
                    for c in &mut m.coordinators {
                        if c.error_code == 0 && c.node_id.0 >= 0 {
                            visit(BrokerSlot {
                                node_id: c.node_id.0,
                                host: &mut c.host,
                                port: &mut c.port,
                            })?;
                        }
                    }
                }
            }
            Message::DescribeCluster(m) => {
                // Endpoint type 1 lists brokers; 2 lists controllers, whose ids are not broker ids.
                if m.endpoint_type != 1 && !m.brokers.is_empty() {
                    return Err(KafkaError::ControllerEndpoints {
                        endpoint_type: m.endpoint_type,
                    });
                }
                for b in &mut m.brokers {
                    visit(BrokerSlot {
                        node_id: b.broker_id.0,
                        host: &mut b.host,
                        port: &mut b.port,
                    })?;
                }
            }
            Message::ApiVersions(_) => {}
        }
        Ok(())
    }

    /// Caps an ApiVersions response (see [`cap_api_versions`]); true if anything changed.
    pub(crate) fn cap_api_versions(&mut self) -> Result<bool, KafkaError> {
        match &mut self.message {
            Message::ApiVersions(m) => cap_api_versions(m),
            _ => Ok(false),
        }
    }

    /// The API key this response answers.
    pub(crate) fn api_key(&self) -> ApiKey {
        self.api_key
    }
}

impl BrokerSlot<'_> {
    /// The advertised address, checked: a broker with an empty host or a port outside
    /// 1–65535 cannot be proxied, and passing it on would only hide the fault.
    pub(crate) fn advertised(&self, api_key: ApiKey) -> Result<AdvertisedBroker, KafkaError> {
        let port = u16::try_from(*self.port).ok().filter(|p| *p != 0);
        match port {
            Some(port) if !self.host.is_empty() && self.node_id >= 0 => Ok(AdvertisedBroker {
                node_id: self.node_id,
                host: self.host.to_string(),
                port,
            }),
            _ => Err(KafkaError::InvalidBrokerAddress {
                api_key: api_key as i16,
                node_id: self.node_id,
                host: self.host.to_string(),
                port: *self.port,
            }),
        }
    }
}

/// Caps an ApiVersions response so that clients only choose versions the interceptors read:
/// each intercepted API's maximum is lowered to ours ([`INTERCEPTED`], and Produce and Fetch to
/// [`crate::policy::RECORDS_REWRITTEN`]), and APIs the
/// interceptors refuse (broker-only or unknown keys) are removed. Every other entry, and every
/// other field, is left as the broker sent it. True if anything changed.
pub fn cap_api_versions(response: &mut ApiVersionsResponse) -> Result<bool, KafkaError> {
    let before = response.api_keys.len();
    response.api_keys.retain(|v| {
        !matches!(
            treatment(v.api_key),
            ApiTreatment::Refused | ApiTreatment::Unknown
        )
    });
    let mut changed = response.api_keys.len() != before;
    for v in &mut response.api_keys {
        let max = match treatment(v.api_key) {
            ApiTreatment::Intercept(_, max) => Some(max),
            ApiTreatment::Pass(api) => max_readable(api),
            _ => None,
        };
        if let Some(max) = max {
            if v.min_version > max {
                return Err(KafkaError::NoCommonVersion {
                    api_key: v.api_key,
                    broker_min: v.min_version,
                    max,
                });
            }
            if v.max_version > max {
                v.max_version = max;
                changed = true;
            }
        }
    }
    Ok(changed)
}

/// The answer to an ApiVersions request newer than we read, the way a Kafka broker answers one
/// newer than it supports: a v0 response with UNSUPPORTED_VERSION listing only the ApiVersions
/// versions we read, so the client retries at one of those.
pub(crate) fn api_versions_too_new(correlation_id: i32) -> Result<Bytes, KafkaError> {
    let max = INTERCEPTED
        .iter()
        .find(|(a, _)| *a == ApiKey::ApiVersions)
        .map_or(0, |(_, m)| *m);
    let response = ApiVersionsResponse::default()
        .with_error_code(UNSUPPORTED_VERSION)
        .with_api_keys(vec![
            kafka_protocol::messages::api_versions_response::ApiVersion::default()
                .with_api_key(ApiKey::ApiVersions as i16)
                .with_min_version(0)
                .with_max_version(max),
        ]);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    encode_response(ApiKey::ApiVersions, 0, &header, &response)
}
