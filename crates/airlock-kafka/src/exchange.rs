//! Request bookkeeping shared by both interceptors: which requests await responses.
//!
//! A Kafka response carries only its correlation id; its API and version are known from the
//! request it answers. So every request is checked (refused APIs, versions we cannot read) and
//! remembered until its response passes. Produce requests with `acks=0` get no response and are
//! not remembered.

use std::collections::HashMap;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ApiKey;

use crate::frame::frame_body;
use crate::header::{parse_request_header, peek_correlation, peek_request};
use crate::policy::{max_readable, treatment, ApiTreatment};
use crate::responses::api_versions_too_new;
use crate::KafkaError;

/// Most requests that may await responses on one connection. Kafka's clients keep a handful in
/// flight (Java: 5 per connection by default); this only bounds memory against a peer that never
/// reads.
pub const MAX_IN_FLIGHT: usize = 64 * 1024;

/// What to do with a request frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestAction {
    /// Send this frame on towards the broker: the very `Bytes` that came in.
    Forward(Bytes),
    /// Encrypting inlet only: send this Produce request, its values sealed, towards the broker.
    Sealed {
        /// The new frame, length prefix included.
        frame: Bytes,
        /// Record values sealed, per topic (see [`crate::TopicCounts`]).
        encrypted: crate::TopicCounts,
    },
    /// Send nothing on; answer the client with this frame (an ApiVersions request newer than
    /// the interceptors read, answered as a broker would: UNSUPPORTED_VERSION at v0).
    Reply(Bytes),
    /// Encrypting inlet only: a Produce request for `topic`, whose data key is not ready. Keep
    /// the frame, make the key (one directory round trip), then hand the same frame in again.
    /// Nothing of the request was remembered or sent.
    NeedKey {
        /// The topic that needs a data key.
        topic: String,
    },
}

/// The API and version a pending request was sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) api_key: ApiKey,
    pub(crate) version: i16,
}

/// The requests of one connection that await responses.
#[derive(Debug, Default)]
pub(crate) struct Exchange {
    pending: HashMap<i32, Pending>,
}

/// A request that passed the checks, not yet remembered.
pub(crate) struct Checked {
    pub(crate) api_key: ApiKey,
    pub(crate) version: i16,
    pub(crate) correlation_id: i32,
    /// The frame's body (after the length prefix).
    pub(crate) body: Bytes,
    /// Where the request body starts, after the header.
    pub(crate) body_offset: usize,
    /// A Produce request with `acks=0`: no response will come.
    pub(crate) no_response: bool,
}

impl Exchange {
    /// Checks a request frame and remembers it until its response.
    pub(crate) fn on_request(&mut self, frame: Bytes) -> Result<RequestAction, KafkaError> {
        match self.check(&frame)? {
            Err(reply) => Ok(reply),
            Ok(checked) => {
                self.remember(&checked)?;
                Ok(RequestAction::Forward(frame))
            }
        }
    }

    /// Checks a request frame without remembering it: the request, or the local reply that
    /// answers it instead.
    pub(crate) fn check(
        &self,
        frame: &Bytes,
    ) -> Result<Result<Checked, RequestAction>, KafkaError> {
        let body = frame_body(frame)?;
        let (key, version, correlation_id) = peek_request(&body)?;
        let api_key = match treatment(key) {
            ApiTreatment::Refused => return Err(KafkaError::RefusedApi { api_key: key }),
            ApiTreatment::Unknown => return Err(KafkaError::UnknownApi { api_key: key }),
            ApiTreatment::Intercept(api, max) if version > max || version < 0 => {
                if api == ApiKey::ApiVersions && version > max {
                    return Ok(Err(RequestAction::Reply(api_versions_too_new(
                        correlation_id,
                    )?)));
                }
                return Err(KafkaError::UnsupportedVersion {
                    api_key: key,
                    version,
                    max,
                });
            }
            ApiTreatment::Intercept(api, _) | ApiTreatment::Pass(api) => api,
        };
        // Produce and Fetch beyond what we read: the client ignored the capped ApiVersions.
        let max = max_readable(api_key);
        if version < 0 || max.is_some_and(|m| version > m) {
            return Err(KafkaError::UnsupportedVersion {
                api_key: key,
                version,
                max: max.unwrap_or(api_key.valid_versions().max),
            });
        }
        let info = parse_request_header(api_key, version, &body)?;
        let no_response =
            api_key == ApiKey::Produce && produce_acks(version, &body[info.body_offset..])? == 0;
        Ok(Ok(Checked {
            api_key,
            version,
            correlation_id,
            body,
            body_offset: info.body_offset,
            no_response,
        }))
    }

    /// Remembers a checked request until its response (unless none will come).
    pub(crate) fn remember(&mut self, checked: &Checked) -> Result<(), KafkaError> {
        if checked.no_response {
            return Ok(());
        }
        let correlation_id = checked.correlation_id;
        if self.pending.contains_key(&correlation_id) {
            return Err(KafkaError::DuplicateCorrelation { correlation_id });
        }
        if self.pending.len() >= MAX_IN_FLIGHT {
            return Err(KafkaError::TooManyInFlight {
                limit: MAX_IN_FLIGHT,
            });
        }
        self.pending.insert(
            correlation_id,
            Pending {
                api_key: checked.api_key,
                version: checked.version,
            },
        );
        Ok(())
    }

    /// The request a response frame answers (forgotten from now on), and the frame's body.
    pub(crate) fn take_response(&mut self, frame: &Bytes) -> Result<(Pending, Bytes), KafkaError> {
        let (pending, body, correlation_id) = self.peek_response(frame)?;
        self.pending.remove(&correlation_id);
        Ok((pending, body))
    }

    /// The request a response frame answers (still remembered), the frame's body and its
    /// correlation id.
    pub(crate) fn peek_response(&self, frame: &Bytes) -> Result<(Pending, Bytes, i32), KafkaError> {
        let body = frame_body(frame)?;
        let correlation_id = peek_correlation(&body)?;
        let pending = *self
            .pending
            .get(&correlation_id)
            .ok_or(KafkaError::UnknownCorrelation { correlation_id })?;
        Ok((pending, body, correlation_id))
    }

    /// Forgets the request with this correlation id (its response has been handled).
    pub(crate) fn forget(&mut self, correlation_id: i32) {
        self.pending.remove(&correlation_id);
    }

    /// How many requests await responses.
    pub(crate) fn in_flight(&self) -> usize {
        self.pending.len()
    }
}

/// The `acks` of a Produce request body: after `transactional_id` from v3 (a compact string
/// from v9), first before that.
fn produce_acks(version: i16, mut body: &[u8]) -> Result<i16, KafkaError> {
    let err = || KafkaError::Decode {
        api_key: ApiKey::Produce as i16,
        version,
        part: "request",
        reason: "truncated before acks".into(),
    };
    if version >= 3 {
        let skip = if version >= 9 {
            let mut len = 0u32;
            let mut i = 0;
            loop {
                if body.is_empty() || i == 5 {
                    return Err(err());
                }
                let b = body.get_u8() as u32;
                len |= (b & 0x7f) << (7 * i);
                i += 1;
                if b < 0x80 {
                    break;
                }
            }
            len.saturating_sub(1) as usize
        } else {
            if body.len() < 2 {
                return Err(err());
            }
            body.get_i16().max(0) as usize
        };
        if body.len() < skip {
            return Err(err());
        }
        body.advance(skip);
    }
    if body.len() < 2 {
        return Err(err());
    }
    Ok(body.get_i16())
}
