//! Broker addresses on each side of the portal.
//!
//! At the inlet, [`BrokerMap`] gives each broker (by node id) its own local port from a
//! configured range, in the order brokers are first seen; a broker keeps its port for the life of
//! the inlet, and every client connection of that inlet shares the map, so a client that was told
//! "broker 2 is at 127.0.0.1:9095" finds it there whichever connection told it. At the outlet,
//! [`KnownBrokers`] remembers where the cluster itself said each broker is: the outlet dials only
//! those addresses, never one an inlet names, so an inlet cannot use the outlet to reach arbitrary
//! hosts on the Kafka operator's network.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use crate::KafkaError;

/// A broker as a cluster response advertised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedBroker {
    /// The broker's node id.
    pub node_id: i32,
    /// The advertised host.
    pub host: String,
    /// The advertised port.
    pub port: u16,
}

/// A broker given a local inlet port for the first time: the runtime opens a listener on
/// `(bind host, local_port)` that leads to this broker through the outlet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedBroker {
    /// The broker's node id.
    pub node_id: i32,
    /// The local port clients now use for it.
    pub local_port: u16,
    /// Where the cluster advertised it (for logs; the outlet dials what it learned itself).
    pub advertised: AdvertisedBroker,
}

/// Inlet side: broker node id → local port, allocated in order from an inclusive range.
#[derive(Debug, Clone)]
pub struct BrokerMap {
    bind_host: String,
    first: u16,
    last: u16,
    next: u32,
    ports: BTreeMap<i32, u16>,
}

impl BrokerMap {
    /// A map handing out ports `ports` (inclusive) at `bind_host`, e.g. `127.0.0.1` and
    /// `9093..=9192`.
    pub fn new(
        bind_host: impl Into<String>,
        ports: RangeInclusive<u16>,
    ) -> Result<Self, KafkaError> {
        let bind_host = bind_host.into();
        let (first, last) = (*ports.start(), *ports.end());
        if bind_host.is_empty() || bind_host.len() > i16::MAX as usize {
            return Err(KafkaError::InvalidConfig {
                reason: "the bind host must be a non-empty host name or address".into(),
            });
        }
        if first == 0 || first > last {
            return Err(KafkaError::InvalidConfig {
                reason: format!(
                    "the broker port range {first}-{last} is empty or starts at port 0"
                ),
            });
        }
        Ok(Self {
            bind_host,
            first,
            last,
            next: first as u32,
            ports: BTreeMap::new(),
        })
    }

    /// The host clients are told to connect to.
    pub fn bind_host(&self) -> &str {
        &self.bind_host
    }

    /// The configured port range.
    pub fn port_range(&self) -> RangeInclusive<u16> {
        self.first..=self.last
    }

    /// The local port of a broker already mapped.
    pub fn port_of(&self, node_id: i32) -> Option<u16> {
        self.ports.get(&node_id).copied()
    }

    /// The broker a local port leads to.
    pub fn broker_at(&self, port: u16) -> Option<i32> {
        self.ports
            .iter()
            .find(|(_, &p)| p == port)
            .map(|(&id, _)| id)
    }

    /// Every mapped broker and its port, by node id.
    pub fn iter(&self) -> impl Iterator<Item = (i32, u16)> + '_ {
        self.ports.iter().map(|(&id, &p)| (id, p))
    }

    /// How many brokers are mapped.
    pub fn len(&self) -> usize {
        self.ports.len()
    }

    /// Whether no broker is mapped yet.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }

    /// The port of `node_id`, allocating the next free one if it has none; the flag says
    /// whether it was allocated just now.
    pub fn map(&mut self, node_id: i32) -> Result<(u16, bool), KafkaError> {
        if let Some(p) = self.ports.get(&node_id) {
            return Ok((*p, false));
        }
        if self.next > self.last as u32 {
            return Err(KafkaError::PortRangeExhausted {
                node_id,
                first: self.first,
                last: self.last,
            });
        }
        let port = self.next as u16;
        self.next += 1;
        self.ports.insert(node_id, port);
        Ok((port, true))
    }
}

/// Outlet side: where the cluster said each broker is.
#[derive(Debug, Clone, Default)]
pub struct KnownBrokers {
    brokers: BTreeMap<i32, (String, u16)>,
}

impl KnownBrokers {
    /// An empty set: only the bootstrap server is known until a response advertises brokers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where broker `node_id` is, if the cluster advertised it.
    pub fn address_of(&self, node_id: i32) -> Option<(&str, u16)> {
        self.brokers.get(&node_id).map(|(h, p)| (h.as_str(), *p))
    }

    /// Every known broker by node id.
    pub fn iter(&self) -> impl Iterator<Item = AdvertisedBroker> + '_ {
        self.brokers
            .iter()
            .map(|(&node_id, (host, port))| AdvertisedBroker {
                node_id,
                host: host.clone(),
                port: *port,
            })
    }

    /// How many brokers are known.
    pub fn len(&self) -> usize {
        self.brokers.len()
    }

    /// Whether no broker is known yet.
    pub fn is_empty(&self) -> bool {
        self.brokers.is_empty()
    }

    /// Records an advertised broker; true when it is new or its address changed.
    pub fn learn(&mut self, broker: &AdvertisedBroker) -> bool {
        let entry = (broker.host.clone(), broker.port);
        match self.brokers.insert(broker.node_id, entry.clone()) {
            Some(old) => old != entry,
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_allocated_in_order_and_stable() {
        let mut m = BrokerMap::new("127.0.0.1", 9093..=9094).unwrap();
        assert_eq!(m.map(7).unwrap(), (9093, true));
        assert_eq!(m.map(1).unwrap(), (9094, true));
        assert_eq!(m.map(7).unwrap(), (9093, false));
        assert_eq!(m.map(1).unwrap(), (9094, false));
        assert_eq!(
            m.map(2),
            Err(KafkaError::PortRangeExhausted {
                node_id: 2,
                first: 9093,
                last: 9094
            })
        );
        // Exhaustion does not disturb existing mappings.
        assert_eq!(m.port_of(7), Some(9093));
        assert_eq!(m.broker_at(9094), Some(1));
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![(1, 9094), (7, 9093)]);
    }

    #[test]
    fn the_last_port_65535_is_usable() {
        let mut m = BrokerMap::new("h", 65535..=65535).unwrap();
        assert_eq!(m.map(0).unwrap(), (65535, true));
        assert!(m.map(1).is_err());
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(BrokerMap::new("", 1..=2).is_err());
        assert!(BrokerMap::new("h", 0..=2).is_err());
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 3..=2;
        assert!(BrokerMap::new("h", reversed).is_err());
    }

    #[test]
    fn known_brokers_report_new_and_moved_brokers() {
        let mut k = KnownBrokers::new();
        let b = AdvertisedBroker {
            node_id: 1,
            host: "kafka-1".into(),
            port: 9092,
        };
        assert!(k.learn(&b));
        assert!(!k.learn(&b));
        assert!(k.learn(&AdvertisedBroker {
            port: 9093,
            ..b.clone()
        }));
        assert_eq!(k.address_of(1), Some(("kafka-1", 9093)));
        assert_eq!(k.address_of(2), None);
    }
}
