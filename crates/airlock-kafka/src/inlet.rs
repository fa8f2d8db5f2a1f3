//! The inlet's interceptor: one per client connection, between the client socket and the portal
//! stream to the outlet.
//!
//! Requests pass unchanged once checked (refused APIs, versions we cannot read). Responses that
//! name brokers (Metadata, FindCoordinator, DescribeCluster) are rewritten so that every broker is
//! at `(bind host, its local port)` from the inlet's shared [`BrokerMap`]: the client then reaches
//! every broker through this inlet, never directly. ApiVersions responses are capped so clients
//! pick versions we read. Everything else passes as the same `Bytes`.
//!
//! With record encryption on, the runtime calls [`InletInterceptor::on_request_encrypting`] and
//! [`InletInterceptor::on_response_decrypting`] instead: Produce requests have their values
//! sealed, Fetch responses have them opened, and Metadata responses teach the inlet's
//! [`TopicNames`] (see [`crate::encryption`]).

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::StrBytes;

use crate::brokers::{BrokerMap, MappedBroker};
use crate::encryption::{
    learn_topics, open_fetch, seal_produce, FetchDecryptor, Opened, ProduceEncryptor,
    RecordFailure, Sealed, TopicCounts, TopicNames,
};
use crate::exchange::{Exchange, RequestAction};
use crate::header::parse_response_header;
use crate::policy::{treatment, ApiTreatment};
use crate::record_crypto::KeyId;
use crate::responses::{Intercepted, Message};
use crate::KafkaError;

/// What to do with a response frame at the inlet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseAction {
    /// Send this frame on to the client: the very `Bytes` that came in.
    Forward(Bytes),
    /// Send this re-encoded frame to the client instead of the original.
    Rewritten {
        /// The new frame, length prefix included.
        frame: Bytes,
        /// Brokers given a local port by this response: open a listener for each before
        /// sending the frame, so the client finds them there.
        new_brokers: Vec<MappedBroker>,
    },
    /// Encrypting inlet only: send this Fetch response, its values opened, to the client. The
    /// partitions in `failures` carry an error code instead of records: log and count them.
    Decrypted {
        /// The new frame, length prefix included.
        frame: Bytes,
        /// Partitions whose records were withheld.
        failures: Vec<RecordFailure>,
        /// Record values opened, per topic (see [`TopicCounts`]).
        decrypted: TopicCounts,
    },
    /// Encrypting inlet only: the Fetch response names keys not in the cache. Keep the frame,
    /// fetch these keys (one directory round trip each), then hand the same frame in again.
    NeedKeys(Vec<KeyId>),
}

impl ResponseAction {
    /// The frame to send to the client, if there is one to send now.
    pub fn frame(&self) -> Option<&Bytes> {
        match self {
            ResponseAction::Forward(f)
            | ResponseAction::Rewritten { frame: f, .. }
            | ResponseAction::Decrypted { frame: f, .. } => Some(f),
            ResponseAction::NeedKeys(_) => None,
        }
    }
}

/// The Kafka interceptor of one client connection at the inlet.
#[derive(Debug, Default)]
pub struct InletInterceptor {
    exchange: Exchange,
}

impl InletInterceptor {
    /// An interceptor for a new client connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// A whole request frame from the client (length prefix included, as
    /// [`crate::FrameReader`] returns it).
    pub fn on_request(&mut self, frame: Bytes) -> Result<RequestAction, KafkaError> {
        self.exchange.on_request(frame)
    }

    /// A whole response frame from the outlet, for the client.
    pub fn on_response(
        &mut self,
        frame: Bytes,
        brokers: &mut BrokerMap,
    ) -> Result<ResponseAction, KafkaError> {
        self.respond(frame, brokers, None)
    }

    /// A whole request frame from the client, with record encryption on: Produce requests have
    /// their values sealed ([`RequestAction::Sealed`], with the count per topic; topics the
    /// encryptor does not encrypt pass as they are). When a
    /// topic's key is not ready the answer is [`RequestAction::NeedKey`] and nothing is
    /// remembered: hand the same frame in again once the key is made.
    pub fn on_request_encrypting(
        &mut self,
        frame: Bytes,
        topics: &TopicNames,
        encryptor: &mut dyn ProduceEncryptor,
    ) -> Result<RequestAction, KafkaError> {
        let checked = match self.exchange.check(&frame)? {
            Err(reply) => return Ok(reply),
            Ok(checked) => checked,
        };
        let action = if checked.api_key == ApiKey::Produce {
            let (header, body) = checked.body.split_at(checked.body_offset);
            let body = checked.body.slice_ref(body);
            match seal_produce(checked.version, header, &body, topics, encryptor)? {
                Sealed::NeedKey(topic) => return Ok(RequestAction::NeedKey { topic }),
                Sealed::Unchanged => RequestAction::Forward(frame),
                Sealed::Body(sealed, encrypted) => RequestAction::Sealed {
                    frame: sealed,
                    encrypted,
                },
            }
        } else {
            RequestAction::Forward(frame)
        };
        self.exchange.remember(&checked)?;
        Ok(action)
    }

    /// A whole response frame from the outlet, with record encryption on: Fetch responses have
    /// their values opened, Metadata responses teach `topics` their topic ids, everything else
    /// is handled as by [`InletInterceptor::on_response`]. On [`ResponseAction::NeedKeys`] the
    /// request stays remembered: hand the same frame in again once the keys are fetched.
    pub fn on_response_decrypting(
        &mut self,
        frame: Bytes,
        brokers: &mut BrokerMap,
        topics: &mut TopicNames,
        decryptor: &mut dyn FetchDecryptor,
    ) -> Result<ResponseAction, KafkaError> {
        let (pending, body, correlation_id) = self.exchange.peek_response(&frame)?;
        if pending.api_key != ApiKey::Fetch {
            return self.respond(frame, brokers, Some(topics));
        }
        let (_, rest) = parse_response_header(pending.api_key, pending.version, &body)?;
        let header = &body[..body.len() - rest.len()];
        let action = match open_fetch(pending.version, header, &rest, topics, decryptor)? {
            Opened::NeedKeys(ids) => return Ok(ResponseAction::NeedKeys(ids)),
            Opened::Unchanged => ResponseAction::Forward(frame),
            Opened::Body(opened, failures, decrypted) => ResponseAction::Decrypted {
                frame: opened,
                failures,
                decrypted,
            },
        };
        self.exchange.forget(correlation_id);
        Ok(action)
    }

    fn respond(
        &mut self,
        frame: Bytes,
        brokers: &mut BrokerMap,
        topics: Option<&mut TopicNames>,
    ) -> Result<ResponseAction, KafkaError> {
        let (pending, body) = self.exchange.take_response(&frame)?;
        if !matches!(
            treatment(pending.api_key as i16),
            ApiTreatment::Intercept(..)
        ) {
            return Ok(ResponseAction::Forward(frame));
        }
        let mut response = Intercepted::decode(pending.api_key, pending.version, &body)?;
        if let (Some(topics), Message::Metadata(m)) = (topics, &response.message) {
            learn_topics(m, topics);
        }
        let mut changed = response.cap_api_versions()?;
        let mut new_brokers = Vec::new();
        let api_key = response.api_key();
        let bind_host = StrBytes::from_string(brokers.bind_host().to_string());
        response.for_each_broker(|slot| {
            let advertised = slot.advertised(api_key)?;
            let (local_port, new) = brokers.map(advertised.node_id)?;
            if new {
                new_brokers.push(MappedBroker {
                    node_id: advertised.node_id,
                    local_port,
                    advertised,
                });
            }
            if *slot.host != bind_host || *slot.port != local_port as i32 {
                *slot.host = bind_host.clone();
                *slot.port = local_port as i32;
                changed = true;
            }
            Ok(())
        })?;
        if !changed {
            return Ok(ResponseAction::Forward(frame));
        }
        Ok(ResponseAction::Rewritten {
            frame: response.encode()?,
            new_brokers,
        })
    }

    /// How many requests await responses on this connection.
    pub fn in_flight(&self) -> usize {
        self.exchange.in_flight()
    }
}
