//! The one error type of the Kafka interceptor core.
//!
//! Every way a frame can be refused has its own variant, so the runtime can tell a client that
//! spoke an API we refuse (close that client connection, log it) from a broker response we could
//! not read (fail closed: close the connection rather than pass unread addresses through).

use crate::policy::ApiLabel;

/// Why the interceptor refused a frame. After any of these the connection's byte stream is no
/// longer trustworthy: the runtime closes the client connection (and its portal stream).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KafkaError {
    /// A frame announced more bytes than the configured maximum.
    #[error("Kafka frame of {len} bytes exceeds the limit of {max} bytes; raise the maximum frame size if the cluster really sends such frames")]
    FrameTooLarge {
        /// The announced length.
        len: u32,
        /// The configured maximum.
        max: u32,
    },
    /// A frame announced a negative length.
    #[error("Kafka frame announces a negative length ({len}); the peer does not speak the Kafka protocol")]
    NegativeLength {
        /// The announced length.
        len: i32,
    },
    /// A frame handed to an interceptor does not hold exactly one length-prefixed message.
    #[error(
        "Kafka frame is malformed: its length prefix says {announced} bytes but {actual} follow"
    )]
    LengthMismatch {
        /// The length the prefix announces.
        announced: usize,
        /// The bytes that actually follow the prefix.
        actual: usize,
    },
    /// A frame is too short to hold a request or response header.
    #[error("Kafka frame of {len} bytes is too short for a {what} header")]
    Truncated {
        /// Which header was expected ("request" or "response").
        what: &'static str,
        /// The frame's length without its prefix.
        len: usize,
    },
    /// A header or message could not be decoded.
    #[error("cannot decode Kafka {} v{version} {part}: {reason}", ApiLabel(*api_key))]
    Decode {
        /// The API key of the message.
        api_key: i16,
        /// The API version it was read at.
        version: i16,
        /// Which part failed ("request header", "response header", "response", "request").
        part: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A rewritten message could not be encoded again.
    #[error("cannot encode Kafka {} v{version} response: {reason}", ApiLabel(*api_key))]
    Encode {
        /// The API key of the message.
        api_key: i16,
        /// The API version.
        version: i16,
        /// What was wrong.
        reason: String,
    },
    /// A response arrived whose correlation id matches no request in flight.
    #[error("Kafka response with correlation id {correlation_id} answers no request in flight on this connection")]
    UnknownCorrelation {
        /// The response's correlation id.
        correlation_id: i32,
    },
    /// A request reused a correlation id that is still waiting for its response.
    #[error("Kafka request reuses correlation id {correlation_id} while an earlier request with it is unanswered")]
    DuplicateCorrelation {
        /// The reused correlation id.
        correlation_id: i32,
    },
    /// Too many requests are waiting for responses on one connection.
    #[error("more than {limit} Kafka requests await responses on one connection; the client must read its responses")]
    TooManyInFlight {
        /// The limit.
        limit: usize,
    },
    /// The API is for brokers and controllers only and is never proxied for a client.
    #[error("Kafka API {} is for brokers and controllers only; it is refused through a portal", ApiLabel(*api_key))]
    RefusedApi {
        /// The refused API key.
        api_key: i16,
    },
    /// The API key is unknown to this interceptor, so its frames cannot be read: refused.
    #[error("Kafka API key {api_key} is unknown to this interceptor; it is refused (fail closed)")]
    UnknownApi {
        /// The unknown API key.
        api_key: i16,
    },
    /// A request uses a version of an intercepted API that this interceptor cannot read.
    #[error("Kafka {} v{version} cannot be intercepted (this interceptor reads up to v{max}); the client ignored the versions advertised to it", ApiLabel(*api_key))]
    UnsupportedVersion {
        /// The API key.
        api_key: i16,
        /// The requested version.
        version: i16,
        /// The highest version this interceptor reads.
        max: i16,
    },
    /// The broker's oldest version of an intercepted API is newer than this interceptor reads.
    #[error("the broker needs Kafka {} v{broker_min} or newer but this interceptor reads up to v{max}; upgrade Airlock", ApiLabel(*api_key))]
    NoCommonVersion {
        /// The API key.
        api_key: i16,
        /// The broker's minimum version.
        broker_min: i16,
        /// The highest version this interceptor reads.
        max: i16,
    },
    /// A response advertises a broker address that cannot be used.
    #[error("Kafka {} response advertises broker {node_id} at an invalid address {host:?}:{port}", ApiLabel(*api_key))]
    InvalidBrokerAddress {
        /// The response's API key.
        api_key: i16,
        /// The broker's node id.
        node_id: i32,
        /// The advertised host.
        host: String,
        /// The advertised port.
        port: i32,
    },
    /// A DescribeCluster response lists controllers, not brokers: their ids are another id space.
    #[error("DescribeCluster response for endpoint type {endpoint_type} (controllers) cannot be proxied; point the client at brokers")]
    ControllerEndpoints {
        /// The response's endpoint type.
        endpoint_type: i8,
    },
    /// Every port of the configured broker port range is taken.
    #[error("no local port left for Kafka broker {node_id}: the broker port range {first}-{last} is used up; configure a larger range")]
    PortRangeExhausted {
        /// The broker that needed a port.
        node_id: i32,
        /// First port of the range.
        first: u16,
        /// Last port of the range.
        last: u16,
    },
    /// A Produce request's records could not be encrypted (the connection is closed rather than
    /// let plaintext through).
    #[error("cannot encrypt the records of a Produce request for topic {topic}: {reason}")]
    Encrypt {
        /// The topic (or its id in hex).
        topic: String,
        /// What went wrong.
        reason: String,
    },
    /// The broker map configuration is unusable.
    #[error("invalid Kafka broker port configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
}
