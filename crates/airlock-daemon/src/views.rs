//! How the node's own records are reported over the control API: each becomes its
//! [`crate::control::protocol`] type, with statuses as enums.

use crate::control::protocol::{
    ChannelView, InletView, LinkStatus, OutletView, PolicyView, RelayStatus, RelayView,
};
use airlock_node::channel::ChannelInfo;
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
