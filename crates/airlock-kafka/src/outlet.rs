//! The outlet's interceptor: one per portal stream, between the stream and the broker.
//!
//! It checks requests exactly as the inlet does (defence in depth: a modified inlet still cannot
//! send the cluster's control-plane APIs), learns from Metadata, FindCoordinator and
//! DescribeCluster responses where the cluster says its brokers are ([`KnownBrokers`]: the only
//! addresses the outlet will dial), and caps ApiVersions responses the same way the inlet does, so
//! both sides agree on the versions in use. It rewrites no addresses.

use bytes::Bytes;

use crate::brokers::{AdvertisedBroker, KnownBrokers};
use crate::exchange::{Exchange, RequestAction};
use crate::policy::{treatment, ApiTreatment};
use crate::responses::Intercepted;
use crate::KafkaError;

/// A response frame to send on towards the inlet, and what it taught the outlet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutletResponse {
    /// The frame to send: the very `Bytes` that came in, or a capped ApiVersions response.
    pub frame: Bytes,
    /// Brokers first advertised (or advertised at a new address) by this response.
    pub learned: Vec<AdvertisedBroker>,
}

/// The Kafka interceptor of one portal stream at the outlet.
#[derive(Debug, Default)]
pub struct OutletInterceptor {
    exchange: Exchange,
}

impl OutletInterceptor {
    /// An interceptor for a new portal stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// A whole request frame from the inlet (length prefix included).
    pub fn on_request(&mut self, frame: Bytes) -> Result<RequestAction, KafkaError> {
        self.exchange.on_request(frame)
    }

    /// A whole response frame from the broker, for the inlet.
    pub fn on_response(
        &mut self,
        frame: Bytes,
        known: &mut KnownBrokers,
    ) -> Result<OutletResponse, KafkaError> {
        let (pending, body) = self.exchange.take_response(&frame)?;
        if !matches!(
            treatment(pending.api_key as i16),
            ApiTreatment::Intercept(..)
        ) {
            return Ok(OutletResponse {
                frame,
                learned: Vec::new(),
            });
        }
        let mut response = Intercepted::decode(pending.api_key, pending.version, &body)?;
        let changed = response.cap_api_versions()?;
        let api_key = response.api_key();
        let mut learned = Vec::new();
        response.for_each_broker(|slot| {
            let advertised = slot.advertised(api_key)?;
            if known.learn(&advertised) {
                learned.push(advertised);
            }
            Ok(())
        })?;
        let frame = if changed { response.encode()? } else { frame };
        Ok(OutletResponse { frame, learned })
    }

    /// How many requests await responses on this stream.
    pub fn in_flight(&self) -> usize {
        self.exchange.in_flight()
    }
}
