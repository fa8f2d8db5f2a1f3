//! The inlet's interceptor: one per client connection, between the client socket and the portal
//! stream to the outlet.
//!
//! Requests pass unchanged once checked (refused APIs, versions we cannot read). Responses that
//! name brokers (Metadata, FindCoordinator, DescribeCluster) are rewritten so that every broker is
//! at `(bind host, its local port)` from the inlet's shared [`BrokerMap`]: the client then reaches
//! every broker through this inlet, never directly. ApiVersions responses are capped so clients
//! pick versions we read. Everything else passes as the same `Bytes`.

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;

use crate::brokers::{BrokerMap, MappedBroker};
use crate::exchange::{Exchange, RequestAction};
use crate::policy::{treatment, ApiTreatment};
use crate::responses::Intercepted;
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
}

impl ResponseAction {
    /// The frame to send to the client, whichever the case.
    pub fn frame(&self) -> &Bytes {
        match self {
            ResponseAction::Forward(f) | ResponseAction::Rewritten { frame: f, .. } => f,
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
        let (pending, body) = self.exchange.take_response(&frame)?;
        if !matches!(
            treatment(pending.api_key as i16),
            ApiTreatment::Intercept(..)
        ) {
            return Ok(ResponseAction::Forward(frame));
        }
        let mut response = Intercepted::decode(pending.api_key, pending.version, &body)?;
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
