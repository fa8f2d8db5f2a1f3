//! The Airlock Kafka interceptor core (sans-IO): what a kafka-inlet and a kafka-outlet do to the
//! Kafka protocol bytes that cross a portal, with no sockets and no tasks.
//!
//! * [`frame`] — length-prefixed frames reassembled from a byte stream ([`FrameReader`]).
//! * [`header`] — request and response headers.
//! * [`policy`] — which APIs pass, which are refused, which versions we read.
//! * [`brokers`] — broker node id → local inlet port ([`BrokerMap`]) and broker id → advertised
//!   address at the outlet ([`KnownBrokers`]).
//! * [`record_crypto`] — the encrypted record value of `docs/kafka-encryption.md` ([`Sealer`],
//!   [`open`]).
//! * [`encryption`] — the inlet's record encryption hooks: [`ProduceEncryptor`],
//!   [`FetchDecryptor`], [`TopicNames`], the partition error of a record that cannot be opened.
//! * [`records`] — record batches decoded and written again with only their values changed
//!   ([`map_values`]), every codec, decompression capped.
//! * [`inlet`] — [`InletInterceptor`], one per client connection: rewrites broker addresses in
//!   Metadata, FindCoordinator and DescribeCluster responses to local inlet ports.
//! * [`outlet`] — [`OutletInterceptor`], one per portal stream at the outlet: learns where the
//!   brokers are, so the outlet dials only brokers the cluster advertised.
//!
//! The runtime reads bytes, pushes them into a [`FrameReader`], hands each frame to the
//! interceptor and writes whatever frame the returned action holds. Any [`KafkaError`] ends the
//! connection: the interceptors fail closed rather than pass on bytes they could not read.

#![deny(missing_docs)]

pub mod brokers;
mod codec;
pub mod encryption;
mod error;
mod exchange;
pub mod fields;
pub mod frame;
pub mod header;
pub mod inlet;
pub mod outlet;
pub mod policy;
pub mod record_crypto;
pub mod records;
mod responses;
mod shape;

pub use brokers::{AdvertisedBroker, BrokerMap, KnownBrokers, MappedBroker};
pub use encryption::{
    FailureReason, FetchDecryptor, KeyLookup, KeyNotReady, ProduceEncryptor, RecordFailure,
    TopicCounts, TopicNames,
};
pub use error::KafkaError;
pub use exchange::{RequestAction, MAX_IN_FLIGHT};
pub use frame::{encode_frame, FrameReader, DEFAULT_MAX_FRAME};
pub use inlet::{InletInterceptor, ResponseAction};
pub use outlet::{OutletInterceptor, OutletResponse};
pub use record_crypto::{open, peek_key_id, CryptoError, DataKey, KeyId, Sealer};
pub use records::{map_values, MapOptions, RecordCtx, RecordsError};
pub use responses::cap_api_versions;

#[cfg(test)]
mod tests;
