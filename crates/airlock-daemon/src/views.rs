//! How the node's own records are reported over the control API: each becomes its
//! [`crate::control::protocol`] type, with statuses as enums.

use crate::control::protocol::{
    ChannelView, InletView, KafkaInletView, KafkaOutletView, LinkStatus, OutletView, PolicyView,
    RelayStatus, RelayView,
};
use airlock_node::channel::ChannelInfo;
use airlock_node::kafka::{KafkaInletInfo, KafkaOutletInfo};
use airlock_node::policy::PolicyInfo;
use airlock_node::portal::{InletInfo, OutletInfo};
use airlock_project::relay::RelayInfo;

/// An inlet's link status as the control API shows it, from the node's.
pub fn link_status(status: airlock_node::portal::InletStatus) -> LinkStatus {
    match status {
        airlock_node::portal::InletStatus::Up => LinkStatus::Up,
        airlock_node::portal::InletStatus::Down => LinkStatus::Down,
    }
}

/// A relay's status as the control API shows it, from the keeper's.
pub fn relay_status(status: &airlock_project::relay::RelayStatus) -> RelayStatus {
    match status {
        airlock_project::relay::RelayStatus::Up => RelayStatus::Up,
        airlock_project::relay::RelayStatus::Down => RelayStatus::Down,
    }
}

impl From<OutletInfo> for OutletView {
    fn from(o: OutletInfo) -> Self {
        OutletView {
            name: o.name,
            address: o.address,
            to: o.to,
            links: o.links,
            connections: o.connections,
            bytes_in: o.bytes_in,
            bytes_out: o.bytes_out,
            refused: o.refused,
        }
    }
}

impl From<InletInfo> for InletView {
    fn from(i: InletInfo) -> Self {
        InletView {
            status: link_status(i.status),
            name: i.name,
            from: i.from,
            to: i.to,
            peer: i.peer,
            connections: i.connections,
            connections_total: i.connections_total,
            bytes_out: i.bytes_out,
            bytes_in: i.bytes_in,
            last_error: i.last_error,
            last_error_kind: i.last_error_kind,
            authorized: Vec::new(),
        }
    }
}

impl From<KafkaOutletInfo> for KafkaOutletView {
    fn from(k: KafkaOutletInfo) -> Self {
        let outlets = &k.outlets;
        KafkaOutletView {
            links: outlets.iter().map(|o| o.links).sum(),
            connections: outlets.iter().map(|o| o.connections).sum(),
            bytes_in: outlets.iter().map(|o| o.bytes_in).sum(),
            bytes_out: outlets.iter().map(|o| o.bytes_out).sum(),
            refused: outlets.iter().map(|o| o.refused).sum(),
            name: k.name,
            address: k.address,
            bootstrap_server: k.bootstrap_server,
            tls: k.tls,
            tls_ca_file: k.tls_ca_file,
            brokers: k.brokers,
        }
    }
}

/// The link status, peer and last error are the bootstrap portal's (the first of `inlets`):
/// a client reaches the brokers only through it.
impl From<KafkaInletInfo> for KafkaInletView {
    fn from(k: KafkaInletInfo) -> Self {
        let inlets = &k.inlets;
        let bootstrap = inlets.first();
        KafkaInletView {
            status: bootstrap
                .map(|b| link_status(b.status))
                .unwrap_or(LinkStatus::Down),
            peer: bootstrap.and_then(|b| b.peer.clone()),
            last_error: bootstrap.and_then(|b| b.last_error.clone()),
            last_error_kind: bootstrap.and_then(|b| b.last_error_kind),
            connections: inlets.iter().map(|i| i.connections).sum(),
            connections_total: inlets.iter().map(|i| i.connections_total).sum(),
            bytes_out: inlets.iter().map(|i| i.bytes_out).sum(),
            bytes_in: inlets.iter().map(|i| i.bytes_in).sum(),
            name: k.name,
            from: k.from,
            to: k.to,
            outlet: k.outlet,
            broker_ports: k.broker_ports,
            brokers: k.brokers,
            encrypt: k.encrypt,
            encrypted_fields: k.encrypted_fields,
            authorized: Vec::new(),
        }
    }
}

impl From<ChannelInfo> for ChannelView {
    fn from(c: ChannelInfo) -> Self {
        ChannelView {
            address: c.address,
            role: c.role,
            peer: c.peer,
            status: c.status,
            route: c.route,
            age_secs: c.age_secs,
            attributes: c.attributes,
        }
    }
}

impl From<PolicyInfo> for PolicyView {
    fn from(p: PolicyInfo) -> Self {
        PolicyView {
            resource: p.resource,
            resource_type: p.resource_type,
            expression: p.expression,
        }
    }
}

impl From<RelayInfo> for RelayView {
    fn from(r: RelayInfo) -> Self {
        RelayView {
            status: relay_status(&r.status),
            name: r.name,
            at: r.at,
            address: r.address,
            last_error: r.last_error,
            last_error_kind: r.last_error_kind,
            authorized: r.authorized,
        }
    }
}
