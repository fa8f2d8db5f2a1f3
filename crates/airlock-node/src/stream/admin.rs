//! The one Kafka admin call the hub makes that its client library lacks: creating the index
//! topic with `cleanup.policy=compact`, so a client's latest position is kept for as long as the
//! topic lives, whatever the retention of other topics.

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// CreateTopics version used (supported by Kafka 2.4 and later, 4.x included).
const VERSION: i16 = 5;
/// Kafka's error code for a topic that exists already.
const TOPIC_ALREADY_EXISTS: i16 = 36;
/// Largest answer read.
const MAX_ANSWER: usize = 1 << 20;

/// Creates `topic` (one partition, `replication` copies, compacted) through the broker at
/// `bootstrap`; an existing topic is fine.
pub async fn create_compacted_topic(
    bootstrap: &str,
    topic: &str,
    replication: i16,
    timeout: Duration,
) -> Result<(), String> {
    tokio::time::timeout(timeout, create(bootstrap, topic, replication, timeout))
        .await
        .map_err(|_| format!("no answer from {bootstrap} within {timeout:?}"))?
}

async fn create(
    bootstrap: &str,
    topic: &str,
    replication: i16,
    timeout: Duration,
) -> Result<(), String> {
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::CreateTopics as i16)
        .with_request_api_version(VERSION)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("airlock-stream-hub")));
    let config = |name: &'static str, value: &'static str| {
        CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str(name))
            .with_value(Some(StrBytes::from_static_str(value)))
    };
    let request = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_num_partitions(1)
            .with_replication_factor(replication)
            .with_configs(vec![config("cleanup.policy", "compact")])])
        .with_timeout_ms(timeout.as_millis().min(i32::MAX as u128) as i32);
    let mut body = BytesMut::new();
    header
        .encode(
            &mut body,
            ApiKey::CreateTopics.request_header_version(VERSION),
        )
        .map_err(|e| format!("encoding CreateTopics: {e}"))?;
    request
        .encode(&mut body, VERSION)
        .map_err(|e| format!("encoding CreateTopics: {e}"))?;
    let mut frame = BytesMut::with_capacity(4 + body.len());
    frame.put_u32(body.len() as u32);
    frame.extend_from_slice(&body);

    let mut sock = tokio::net::TcpStream::connect(bootstrap)
        .await
        .map_err(|e| format!("cannot connect to {bootstrap}: {e}"))?;
    sock.write_all(&frame)
        .await
        .map_err(|e| format!("writing to {bootstrap}: {e}"))?;
    let len = sock
        .read_u32()
        .await
        .map_err(|e| format!("reading from {bootstrap}: {e}"))? as usize;
    if len > MAX_ANSWER {
        return Err(format!("{bootstrap} answered with an absurd length {len}"));
    }
    let mut answer = vec![0u8; len];
    sock.read_exact(&mut answer)
        .await
        .map_err(|e| format!("reading from {bootstrap}: {e}"))?;
    let mut buf = bytes::Bytes::from(answer);
    ResponseHeader::decode(
        &mut buf,
        ApiKey::CreateTopics.response_header_version(VERSION),
    )
    .map_err(|e| format!("decoding the answer of {bootstrap}: {e}"))?;
    let response = CreateTopicsResponse::decode(&mut buf, VERSION)
        .map_err(|e| format!("decoding the answer of {bootstrap}: {e}"))?;
    let _ = buf.remaining();
    for t in response.topics {
        if t.error_code != 0 && t.error_code != TOPIC_ALREADY_EXISTS {
            return Err(format!(
                "Kafka refused to create topic {topic}: error {} {}",
                t.error_code,
                t.error_message.map(|m| m.to_string()).unwrap_or_default()
            ));
        }
    }
    Ok(())
}
