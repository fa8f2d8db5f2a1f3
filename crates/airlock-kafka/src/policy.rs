//! Which Kafka APIs pass, which are refused, and which versions of the intercepted ones we read.
//!
//! A client connection through a portal may only speak client APIs. The broker-to-broker and
//! controller APIs (replication control, Raft quorum traffic, broker registration, share-group
//! state persistence, transaction markers) are refused: no client sends them, and letting them
//! through would hand a portal user the cluster's control plane. API keys this crate does not
//! know are refused too, since their frames cannot be read (fail closed); they are also removed
//! from ApiVersions responses so clients never choose them.

use std::fmt;

use kafka_protocol::messages::ApiKey;

/// API keys that only brokers and controllers send to one another.
///
/// 4–7 are the ZooKeeper-era LeaderAndIsr, StopReplica, UpdateMetadata and ControlledShutdown,
/// gone from Kafka 4 (and from `ApiKey`) but refused by number all the same.
pub const REFUSED_API_KEYS: &[i16] = &[
    4,  // LeaderAndIsr
    5,  // StopReplica
    6,  // UpdateMetadata
    7,  // ControlledShutdown
    27, // WriteTxnMarkers: transaction coordinator → partition leaders
    52, // Vote (KRaft)
    53, // BeginQuorumEpoch (KRaft)
    54, // EndQuorumEpoch (KRaft)
    56, // AlterPartition: leader → controller
    58, // Envelope: forwarded requests between brokers and the controller
    59, // FetchSnapshot (KRaft)
    62, // BrokerRegistration
    63, // BrokerHeartbeat
    67, // AllocateProducerIds
    70, // ControllerRegistration
    73, // AssignReplicasToDirs
    82, // UpdateRaftVoter (KRaft)
    83, // InitializeShareGroupState: group coordinator → share coordinator
    84, // ReadShareGroupState
    85, // WriteShareGroupState
    86, // DeleteShareGroupState
    87, // ReadShareGroupStateSummary
];

/// The APIs whose responses the interceptors decode, with the highest version read for each.
/// ApiVersions responses are capped to these, so both interceptors and the client agree.
pub const INTERCEPTED: &[(ApiKey, i16)] = &[
    (ApiKey::Metadata, 13),
    (ApiKey::FindCoordinator, 6),
    (ApiKey::ApiVersions, 4),
    (ApiKey::DescribeCluster, 2),
];

/// The APIs whose record batches the encrypting inlet rewrites (Produce requests, Fetch
/// responses), with the highest version kafka-protocol reads for each. Their frames pass
/// undecoded when encryption is off, but ApiVersions responses are capped to these all the same,
/// so a client never settles on a version the inlet could not encrypt or decrypt.
pub const RECORDS_REWRITTEN: &[(ApiKey, i16)] = &[(ApiKey::Produce, 13), (ApiKey::Fetch, 18)];

/// The highest version of `api` the interceptors read, if they read it at all
/// ([`INTERCEPTED`] or [`RECORDS_REWRITTEN`]).
pub fn max_readable(api: ApiKey) -> Option<i16> {
    INTERCEPTED
        .iter()
        .chain(RECORDS_REWRITTEN)
        .find(|(a, _)| *a == api)
        .map(|&(_, max)| max)
}

/// What the interceptors do with an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiTreatment {
    /// Passed through; its frames are not decoded.
    Pass(ApiKey),
    /// Passed through, and its responses are decoded (and rewritten or capped) up to `max`.
    Intercept(ApiKey, i16),
    /// Refused: a broker or controller API.
    Refused,
    /// Refused: unknown to this crate.
    Unknown,
}

/// How the interceptors treat `api_key`.
pub fn treatment(api_key: i16) -> ApiTreatment {
    if REFUSED_API_KEYS.contains(&api_key) {
        return ApiTreatment::Refused;
    }
    match ApiKey::try_from(api_key) {
        Err(()) => ApiTreatment::Unknown,
        Ok(api) => match INTERCEPTED.iter().find(|(a, _)| *a == api) {
            Some(&(_, max)) => ApiTreatment::Intercept(api, max),
            None => ApiTreatment::Pass(api),
        },
    }
}

/// Displays an API key as `Name (n)` for error messages.
#[derive(Debug, Clone, Copy)]
pub struct ApiLabel(pub i16);

impl fmt::Display for ApiLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let legacy = match self.0 {
            4 => Some("LeaderAndIsr"),
            5 => Some("StopReplica"),
            6 => Some("UpdateMetadata"),
            7 => Some("ControlledShutdown"),
            _ => None,
        };
        match (legacy, ApiKey::try_from(self.0)) {
            (Some(name), _) => write!(f, "{name} ({})", self.0),
            (None, Ok(api)) => write!(f, "{api:?} ({})", self.0),
            (None, Err(())) => write!(f, "API key {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intercepted_versions_are_ones_kafka_protocol_reads() {
        for &(api, max) in INTERCEPTED {
            let range = api.valid_versions();
            assert!(range.min <= 0 && max <= range.max, "{api:?}");
        }
        for &(api, max) in RECORDS_REWRITTEN {
            assert_eq!(max, api.valid_versions().max, "{api:?}");
        }
        assert_eq!(max_readable(ApiKey::Fetch), Some(18));
        assert_eq!(max_readable(ApiKey::Metadata), Some(13));
        assert_eq!(max_readable(ApiKey::JoinGroup), None);
    }

    #[test]
    fn client_apis_pass_and_control_plane_is_refused() {
        assert_eq!(treatment(0), ApiTreatment::Pass(ApiKey::Produce));
        assert_eq!(treatment(1), ApiTreatment::Pass(ApiKey::Fetch));
        assert_eq!(treatment(3), ApiTreatment::Intercept(ApiKey::Metadata, 13));
        for k in [4, 5, 6, 7, 52, 62, 63, 67] {
            assert_eq!(treatment(k), ApiTreatment::Refused, "{k}");
        }
        assert_eq!(treatment(-1), ApiTreatment::Unknown);
        assert_eq!(treatment(999), ApiTreatment::Unknown);
        assert_eq!(ApiLabel(4).to_string(), "LeaderAndIsr (4)");
        assert_eq!(ApiLabel(3).to_string(), "Metadata (3)");
        assert_eq!(ApiLabel(999).to_string(), "API key 999");
    }

    #[test]
    fn transactional_producer_apis_pass() {
        // What a transactional producer sends besides Produce: none carries records or broker
        // addresses, so they pass undecoded (tests/scenarios/kafka.sh runs them end to end).
        for (key, api) in [
            (22, ApiKey::InitProducerId),
            (24, ApiKey::AddPartitionsToTxn),
            (25, ApiKey::AddOffsetsToTxn),
            (26, ApiKey::EndTxn),
            (28, ApiKey::TxnOffsetCommit),
        ] {
            assert_eq!(treatment(key), ApiTreatment::Pass(api), "{key}");
        }
        // FindCoordinator with key_type 1 names the transaction coordinator: its response is
        // read and the address rewritten like a group coordinator's.
        assert_eq!(
            treatment(10),
            ApiTreatment::Intercept(ApiKey::FindCoordinator, 6)
        );
        // Only the coordinator's markers to the partition leaders are broker-to-broker.
        assert_eq!(treatment(27), ApiTreatment::Refused);
    }
}
