//! What `kafka-inlet create` and a node file's `kafka-inlet` share: the broker port range
//! syntax, the route through a project relay, the check that a route ends at the Kafka
//! outlet node's secure channel (the inlet itself appends `/service/OUTLET`), and the check of
//! the names of the fields to encrypt.

use airlock_wire::{MultiAddr, Segment};

/// The relay a Kafka inlet goes through when neither a route nor a relay is given (the relay
/// name the Kafka outlet node of the seeds registers).
pub const DEFAULT_VIA: &str = "kafka";
/// The Kafka outlet's service name when none is given.
pub const DEFAULT_OUTLET: &str = "kafka";
/// Where Kafka clients bootstrap when `--from` is not given.
pub const DEFAULT_FROM: &str = "127.0.0.1:9092";

/// Parses `FIRST-LAST` (e.g. `9093-9192`): two ports, the first not above the last.
pub fn parse_broker_ports(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .trim()
        .split_once('-')
        .ok_or_else(|| format!("{s:?} is not a port range: use FIRST-LAST, e.g. 9093-9192"))?;
    let port = |p: &str| -> Result<u16, String> {
        match p.trim().parse::<u16>() {
            Ok(0) => Err(format!("{s:?}: port 0 cannot be a broker port")),
            Ok(n) => Ok(n),
            Err(_) => Err(format!(
                "{s:?}: {:?} is not a port (1-65535); use FIRST-LAST, e.g. 9093-9192",
                p.trim()
            )),
        }
    };
    let (a, b) = (port(a)?, port(b)?);
    if a > b {
        return Err(format!(
            "{s:?}: the first port is above the last (use FIRST-LAST, e.g. {b}-{a})"
        ));
    }
    Ok((a, b))
}

/// Checks the bootstrap address and the broker ports together: the range must not contain the
/// bootstrap port, and without a range the bootstrap port must be fixed (the default range is
/// the ports after it).
pub fn check_ports(from: std::net::SocketAddr, ports: Option<(u16, u16)>) -> Result<(), String> {
    match ports {
        Some((a, b)) if (a..=b).contains(&from.port()) => Err(format!(
            "the broker port range {a}-{b} contains the bootstrap port {} of {from}: choose ports apart from it",
            from.port()
        )),
        None if from.port() == 0 => Err(format!(
            "{from}: give the bootstrap port (the brokers get the 100 ports after it), or a range with --brokers-port-range"
        )),
        None if from.port() > u16::MAX - 100 => Err(format!(
            "{from}: there are not 100 ports after the bootstrap port for the brokers; choose them with --brokers-port-range"
        )),
        _ => Ok(()),
    }
}

/// The route to the node holding relay `via` of `project`, ending at its secure channel:
/// `/project/P/service/forward_to_VIA/secure/api` (as `tcp-inlet --via` reaches the outlet's
/// node, without the outlet's service, which the Kafka inlet appends).
pub fn via_route(project: &str, via: &str) -> String {
    format!("/project/{project}/service/forward_to_{via}/secure/api")
}

/// Checks that `to` is a route ending at a secure channel (`…/secure/api`): a route that goes
/// on to a service after it (`…/secure/api/service/kafka`) names the outlet, which the inlet
/// adds itself from `--outlet`.
pub fn check_outlet_node_route(to: &str) -> Result<(), String> {
    let ma: MultiAddr = to
        .parse()
        .map_err(|e| format!("{to:?} is not a route: {e}"))?;
    // `/project/P` is a secure channel to the project node (whose own Kafka outlet, the
    // project's Kafka add-on, an inlet reaches as `/project/P/service/kafka`).
    let last_secure = ma
        .segments
        .iter()
        .rposition(|s| matches!(s, Segment::Secure(_) | Segment::Project(_)));
    let Some(i) = last_secure else {
        return Err(format!(
            "{to:?} does not reach the Kafka outlet's node through a secure channel: end the route with it, e.g. /node/n1/secure/api, /project/default/service/forward_to_kafka/secure/api, or /project/default for the project's Kafka add-on"
        ));
    };
    match ma.segments.get(i + 1) {
        None => Ok(()),
        Some(Segment::Service(s)) => {
            let secure: String = ma.segments[..=i].iter().map(|s| s.to_string()).collect();
            Err(format!(
                "{to:?} names a service after the secure channel (/service/{s}); a Kafka inlet adds the outlet's service itself: give the route up to the secure channel ({secure}) and the outlet's name with --outlet (default `kafka`)"
            ))
        }
        Some(_) => Err(format!(
            "{to:?} goes on after its last secure channel: end it with the secure channel to the Kafka outlet's node, e.g. /node/n1/secure/api"
        )),
    }
}

/// The longest name `--encrypted-field` takes, in bytes.
pub const MAX_ENCRYPTED_FIELD: usize = 255;

/// Checks the names of the top-level JSON fields to encrypt (`--encrypted-field`, a node file's
/// `encrypted-fields`): each given once, not empty, at most [`MAX_ENCRYPTED_FIELD`] bytes.
/// Field names are compared as given (JSON object keys are case-sensitive).
pub fn check_encrypted_fields(fields: &[String]) -> Result<(), String> {
    for (i, f) in fields.iter().enumerate() {
        if f.is_empty() {
            return Err("a field name is empty".to_string());
        }
        if f.len() > MAX_ENCRYPTED_FIELD {
            let start: String = f.chars().take(20).collect();
            return Err(format!(
                "the field name {start:?}… is {} bytes long, more than {MAX_ENCRYPTED_FIELD}",
                f.len()
            ));
        }
        if fields[..i].contains(f) {
            return Err(format!("field {f:?} is named twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_port_ranges() {
        assert_eq!(parse_broker_ports("9093-9192"), Ok((9093, 9192)));
        assert_eq!(parse_broker_ports(" 9100 - 9100 "), Ok((9100, 9100)));
        for (bad, says) in [
            ("9093", "is not a port range"),
            ("9093:9192", "is not a port range"),
            ("a-9192", "\"a\" is not a port"),
            ("9093-70000", "\"70000\" is not a port"),
            ("0-10", "port 0"),
            ("9192-9093", "e.g. 9093-9192"),
        ] {
            let e = parse_broker_ports(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn bootstrap_port_and_range_go_together() {
        let from: std::net::SocketAddr = "127.0.0.1:9092".parse().unwrap();
        assert!(check_ports(from, None).is_ok());
        assert!(check_ports(from, Some((9093, 9192))).is_ok());
        let e = check_ports(from, Some((9000, 9100))).unwrap_err();
        assert!(e.contains("contains the bootstrap port 9092"), "{e}");
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert!(check_ports(any, None)
            .unwrap_err()
            .contains("--brokers-port-range"));
        assert!(check_ports(any, Some((20000, 20010))).is_ok());
        let high: std::net::SocketAddr = "127.0.0.1:65500".parse().unwrap();
        assert!(check_ports(high, None).is_err());
    }

    #[test]
    fn routes_end_at_the_outlet_nodes_secure_channel() {
        assert_eq!(
            via_route("default", "kafka"),
            "/project/default/service/forward_to_kafka/secure/api"
        );
        assert!(check_outlet_node_route(&via_route("default", "kafka")).is_ok());
        assert!(check_outlet_node_route("/node/n1/secure/api").is_ok());
        assert!(check_outlet_node_route("/ip4/10.0.0.1/tcp/4000/secure/api").is_ok());
        let e = check_outlet_node_route("/node/n1/secure/api/service/kafka").unwrap_err();
        assert!(
            e.contains("/service/kafka") && e.contains("(/node/n1/secure/api)"),
            "{e}"
        );
        let e = check_outlet_node_route("/node/n1/service/kafka").unwrap_err();
        assert!(e.contains("through a secure channel"), "{e}");
        assert!(check_outlet_node_route("not a route").is_err());
        // The project node's own Kafka outlet (the project's Kafka add-on).
        assert!(check_outlet_node_route("/project/default").is_ok());
        let e = check_outlet_node_route("/project/default/service/kafka").unwrap_err();
        assert!(e.contains("(/project/default)"), "{e}");
    }

    #[test]
    fn encrypted_field_names() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_encrypted_fields(&[]).is_ok());
        assert!(check_encrypted_fields(&names(&["secret", "pin", "Pin", "a b", "é"])).is_ok());
        let longest = "x".repeat(MAX_ENCRYPTED_FIELD);
        assert!(check_encrypted_fields(std::slice::from_ref(&longest)).is_ok());
        let e = check_encrypted_fields(&[longest + "y"]).unwrap_err();
        assert!(e.contains("256 bytes long, more than 255"), "{e}");
        // Bytes, not characters: 128 two-byte characters are too long.
        assert!(check_encrypted_fields(&["é".repeat(128)]).is_err());
        let e = check_encrypted_fields(&names(&["secret", ""])).unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = check_encrypted_fields(&names(&["secret", "pin", "secret"])).unwrap_err();
        assert!(e.contains("\"secret\" is named twice"), "{e}");
    }
}
