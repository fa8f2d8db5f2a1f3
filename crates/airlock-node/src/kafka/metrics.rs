//! Per-topic record counters of a node's encrypting Kafka inlets (`docs/kafka-encryption.md`
//! §4.2, §6): records encrypted on Produce, decrypted on Fetch, refused (plaintext where
//! ciphertext is required, a key this node is not granted or whose producer it does not admit)
//! and failed (a record that cannot be opened, a batch that cannot be read, a topic id no
//! Metadata response named).
//!
//! Topic names come from clients, so the number of label values is bounded: the first
//! [`MAX_TOPICS`] topics seen are counted by name, any later one under [`OTHER_TOPICS`] (a
//! name Kafka does not allow, so it is never a real topic's).

use airlock_kafka::encryption::FailureReason;
use airlock_kafka::RecordFailure;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Topics counted by name; beyond, they are counted together under [`OTHER_TOPICS`].
pub const MAX_TOPICS: usize = 1000;
/// The label value of the topics beyond [`MAX_TOPICS`] (parentheses are not allowed in Kafka
/// topic names).
pub const OTHER_TOPICS: &str = "(other)";

/// The counters of one topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicRecordCounts {
    /// Record values sealed on Produce.
    pub encrypted: u64,
    /// Record values opened on Fetch.
    pub decrypted: u64,
    /// Fetch partitions withheld for a refusal: plaintext on a topic that must be encrypted, or
    /// a key not granted to this node / from a producer its policy does not admit. Counted
    /// once per withheld partition of a response (the first offending record stops it).
    pub refused: u64,
    /// Fetch partitions withheld because a record could not be opened or read. Counted once per
    /// withheld partition of a response.
    pub failed: u64,
}

/// The counters of all topics, by topic (bounded, see the module docs).
#[derive(Debug, Default)]
pub struct KafkaMetrics {
    topics: Mutex<BTreeMap<String, TopicRecordCounts>>,
}

impl KafkaMetrics {
    /// A fresh set of counters.
    pub fn new() -> Self {
        Self::default()
    }

    fn with(&self, topic: &str, f: impl FnOnce(&mut TopicRecordCounts)) {
        let mut topics = self.topics.lock().expect("kafka metrics");
        let key = if topics.contains_key(topic) || topics.len() < MAX_TOPICS {
            topic
        } else {
            OTHER_TOPICS
        };
        if let Some(c) = topics.get_mut(key) {
            f(c);
        } else {
            f(topics.entry(key.to_string()).or_default());
        }
    }

    /// Adds sealed records (as the interceptor counts them per topic).
    pub fn encrypted(&self, counts: &[(String, u64)]) {
        for (t, n) in counts {
            self.with(t, |c| c.encrypted += n);
        }
    }

    /// Adds opened records.
    pub fn decrypted(&self, counts: &[(String, u64)]) {
        for (t, n) in counts {
            self.with(t, |c| c.decrypted += n);
        }
    }

    /// Counts withheld partitions as refused or failed, by reason.
    pub fn withheld(&self, failures: &[RecordFailure]) {
        for f in failures {
            let refused = matches!(
                f.reason,
                FailureReason::Plaintext | FailureReason::KeyUnavailable(_)
            );
            self.with(&f.topic, |c| match refused {
                true => c.refused += 1,
                false => c.failed += 1,
            });
        }
    }

    /// The counters now, by topic name (sorted).
    pub fn snapshot(&self) -> Vec<(String, TopicRecordCounts)> {
        self.topics
            .lock()
            .expect("kafka metrics")
            .iter()
            .map(|(t, c)| (t.clone(), *c))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_kafka::CryptoError;

    fn failure(topic: &str, reason: FailureReason) -> RecordFailure {
        RecordFailure {
            topic: topic.into(),
            partition: 0,
            offset: Some(1),
            reason,
        }
    }

    #[test]
    fn counts_by_topic_and_reason() {
        let m = KafkaMetrics::new();
        m.encrypted(&[("a".into(), 3), ("b".into(), 1)]);
        m.encrypted(&[("a".into(), 2)]);
        m.decrypted(&[("a".into(), 4)]);
        m.withheld(&[
            failure("a", FailureReason::Plaintext),
            failure(
                "a",
                FailureReason::KeyUnavailable(airlock_kafka::KeyId([1; 8])),
            ),
            failure("b", FailureReason::Undecryptable(CryptoError::TagMismatch)),
        ]);
        let s = m.snapshot();
        assert_eq!(
            s,
            [
                (
                    "a".to_string(),
                    TopicRecordCounts {
                        encrypted: 5,
                        decrypted: 4,
                        refused: 2,
                        failed: 0
                    }
                ),
                (
                    "b".to_string(),
                    TopicRecordCounts {
                        encrypted: 1,
                        decrypted: 0,
                        refused: 0,
                        failed: 1
                    }
                ),
            ]
        );
    }

    #[test]
    fn topics_beyond_the_bound_share_one_label() {
        let m = KafkaMetrics::new();
        for i in 0..MAX_TOPICS + 500 {
            m.encrypted(&[(format!("t{i}"), 1)]);
        }
        // A topic counted by name stays counted by name.
        m.encrypted(&[("t0".into(), 1)]);
        let s = m.snapshot();
        assert_eq!(s.len(), MAX_TOPICS + 1);
        let get = |t: &str| s.iter().find(|(n, _)| n == t).unwrap().1;
        assert_eq!(get(OTHER_TOPICS).encrypted, 500);
        assert_eq!(get("t0").encrypted, 2);
    }
}
