//! Recreating what was recorded for a node when it starts: its policies (failing closed), its
//! portals (TCP and Kafka) and the relays it keeps registered. The CLI records resources in the home and asks
//! the running node to create them; a restarted node creates them again from the home.

use super::relays::RelayKeepers;
use crate::home::Home;
use crate::routes::resolve_node_route;
use crate::run::RunError;
use airlock_node::kafka::KafkaInletSpec;
use airlock_node::portal::{InletSpec, OutletSpec};
use airlock_node::Node;
use std::time::Duration;

/// Where a recorded policy that cannot be installed puts its deny-all stand-in: the same scope
/// when its type is known, the name alone when only the type is unknown; `None` for an unknown
/// type alone (it governs no resource this version has).
fn deny_all_scope<'a>(
    resource: Option<&'a str>,
    rtype: Option<&'a str>,
) -> Option<(Option<&'a str>, Option<&'a str>)> {
    let known = |t: &str| airlock_node::policy::RESOURCE_TYPES.contains(&t);
    match (resource, rtype) {
        (_, Some(t)) if known(t) => Some((resource, rtype)),
        (Some(_), _) => Some((resource, None)),
        (None, _) => None,
    }
}

#[cfg(test)]
#[test]
fn unrestorable_policies_fail_closed() {
    assert_eq!(
        deny_all_scope(Some("db"), Some("tcp-outlet")),
        Some((Some("db"), Some("tcp-outlet")))
    );
    assert_eq!(
        deny_all_scope(Some("db"), Some("outlet")),
        Some((Some("db"), None))
    );
    assert_eq!(deny_all_scope(Some("db"), None), Some((Some("db"), None)));
    assert_eq!(
        deny_all_scope(None, Some("tcp-outlet")),
        Some((None, Some("tcp-outlet")))
    );
    assert_eq!(deny_all_scope(None, Some("outlet")), None);
}

/// Installs the node's recorded policies. Fails closed: a recorded policy that cannot be
/// installed as it is (an expression or a type this version does not accept) becomes a policy
/// that denies everyone, on the resource name it was for, so nothing it guarded opens up.
pub fn restore_policies(home: &Home, node: &Node, name: &str) -> Result<(), RunError> {
    let rows = home
        .policies(name)
        .map_err(|source| RunError::Policies { source })?;
    for (resource, rtype, expr) in rows {
        let resource = Some(resource.as_str()).filter(|s| !s.is_empty());
        let rtype = Some(rtype.as_str()).filter(|s| !s.is_empty());
        let r = airlock_abac::Policy::parse(&expr)
            .map_err(|e| e.to_string())
            .and_then(|p| node.set_policy(resource, rtype, p));
        let Err(e) = r else { continue };
        let deny: airlock_abac::Policy = "false".parse().expect("valid policy");
        let fallback = match deny_all_scope(resource, rtype) {
            Some((r, t)) => node.set_policy(r, t, deny),
            None => Err("nothing to guard".into()),
        };
        match fallback {
            Ok(()) => tracing::error!(
                resource,
                resource_type = rtype,
                "cannot restore policy {expr:?} ({e}); denying everyone there until it is replaced"
            ),
            Err(_) => tracing::error!(resource_type = rtype, "cannot restore policy {expr:?}: {e}"),
        }
    }
    Ok(())
}

pub async fn restore_relays(home: &Home, node: &Node, name: &str, relays: &RelayKeepers) {
    for (relay, at, authorized) in home.relays(name).unwrap_or_default() {
        if let Err(e) = relays.create(node, &relay, &at, &authorized).await {
            tracing::error!(%relay, "cannot restore relay: {e:#}");
        }
    }
}

pub async fn restore_portals(home: &Home, node: &Node, name: &str) {
    for (oname, target) in home.outlets(name).unwrap_or_default() {
        if let Err(e) = node.create_outlet(OutletSpec {
            name: oname.clone(),
            to: target,
        }) {
            let e = anyhow::Error::from(e);
            tracing::error!(outlet = %oname, "cannot restore outlet: {e:#}");
        }
    }
    for row in home.inlets(name).unwrap_or_default() {
        let (iname, bind, route, authorized) = (row.name, row.bind, row.route, row.authorized);
        let to = match resolve_node_route(home, &route) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(inlet = %iname, "cannot restore inlet: {e:#}");
                continue;
            }
        };
        let Ok(from) = bind.parse() else { continue };
        if let Err(e) = node
            .create_inlet(InletSpec {
                name: iname.clone(),
                from,
                to,
                authorized,
            })
            .await
        {
            let e = anyhow::Error::from(e);
            tracing::error!(inlet = %iname, "cannot restore inlet: {e:#}");
        }
    }
    restore_kafka_portals(home, node, name).await;
}

/// Kafka outlets, then Kafka inlets; an inlet does not wait for its link (it keeps trying, as
/// a restored TCP inlet does).
async fn restore_kafka_portals(home: &Home, node: &Node, name: &str) {
    for spec in home.kafka_outlets(name).unwrap_or_default() {
        let oname = spec.name.clone();
        if let Err(e) = node.create_kafka_outlet(spec) {
            let e = anyhow::Error::from(e);
            tracing::error!(kafka_outlet = %oname, "cannot restore Kafka outlet: {e:#}");
        }
    }
    for row in home.kafka_inlets(name).unwrap_or_default() {
        let iname = row.name.clone();
        let spec = resolve_node_route(home, &row.route)
            .map_err(anyhow::Error::from)
            .and_then(|to| {
                let from = row.bind.parse().map_err(|e| {
                    anyhow::anyhow!("the recorded address {:?} is not IP:PORT: {e}", row.bind)
                })?;
                Ok(KafkaInletSpec {
                    name: row.name,
                    from,
                    to,
                    outlet: row.outlet,
                    broker_ports: row.broker_ports,
                    authorized: row.authorized,
                    encrypt: row.encrypt,
                    encrypted_fields: row.encrypted_fields,
                })
            });
        let created = match spec {
            Ok(spec) => node
                .create_kafka_inlet(spec, Duration::ZERO)
                .await
                .map(drop)
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        if let Err(e) = created {
            tracing::error!(kafka_inlet = %iname, "cannot restore Kafka inlet: {e:#}");
        }
    }
}
