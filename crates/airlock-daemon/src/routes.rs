//! Parsing what users type for routes and durations: `HOST:PORT` and `/node/NAME` become
//! routes (`/ip4/…/tcp/…`), `10m` becomes seconds. Shared by commands, operations and the node
//! process (which resolves recorded inlet routes when it starts).

use crate::home::Home;
use std::net::{IpAddr, SocketAddr};
use std::num::ParseIntError;

/// Why a duration, an address or a route typed by a user is not one (or, for a route with
/// `/node/NAME`, cannot be resolved).
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// Not a duration such as `30s`, `10m`, `2h`, `1d` or plain seconds.
    #[error("{input:?} is not a duration (use e.g. 30s, 10m, 2h, 1d)")]
    NotADuration {
        /// What was typed (trimmed).
        input: String,
        /// Why its number is not one.
        #[source]
        source: ParseIntError,
    },
    /// An address without a `:PORT`.
    #[error("{addr:?} is not HOST:PORT")]
    NotHostPort {
        /// What was typed.
        addr: String,
    },
    /// An address whose port is not a port number.
    #[error("{port:?} is not a port")]
    NotAPort {
        /// The part after the last `:`.
        port: String,
        /// Why it is not a port.
        #[source]
        source: ParseIntError,
    },
    /// Not a valid route.
    #[error(transparent)]
    Route(#[from] airlock_wire::multiaddr::MultiAddrError),
    /// `/node/NAME` names no local node, or the home could not be read.
    #[error(transparent)]
    Home(#[from] crate::home::HomeError),
    /// The recorded TCP listen address of a local node is not an address.
    #[error(transparent)]
    NodeAddress(#[from] std::net::AddrParseError),
}

/// Parses `10m`, `2h`, `1d`, `30s` or plain seconds.
pub fn parse_duration(s: &str) -> Result<u64, RouteError> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        Some('d') => (&s[..s.len() - 1], 86400),
        _ => (s, 1),
    };
    let n: u64 = num.parse().map_err(|source| RouteError::NotADuration {
        input: s.to_string(),
        source,
    })?;
    Ok(n * mult)
}

/// `/ip4/…/tcp/…` or `/ip6/…/tcp/…` for a socket address; an unspecified IP (a node listening
/// on all interfaces) is reached at the loopback address.
fn socket_route(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    match ip {
        IpAddr::V4(v4) => format!("/ip4/{v4}/tcp/{}", addr.port()),
        IpAddr::V6(v6) => format!("/ip6/{v6}/tcp/{}", addr.port()),
    }
}

/// `HOST:PORT` → `/ip4/…/tcp/…`, `/ip6/…` or `/dnsaddr/…`.
pub fn address_to_route(addr: &str) -> Result<String, RouteError> {
    if let Ok(sa) = addr.parse::<SocketAddr>() {
        return Ok(socket_route(sa));
    }
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| RouteError::NotHostPort {
            addr: addr.to_string(),
        })?;
    let port: u16 = port.parse().map_err(|source| RouteError::NotAPort {
        port: port.to_string(),
        source,
    })?;
    let route = format!("/dnsaddr/{host}/tcp/{port}");
    route.parse::<airlock_wire::MultiAddr>()?;
    Ok(route)
}

/// Replaces `/node/NAME` in a route with the TCP address of local node NAME.
pub fn resolve_node_route(home: &Home, route: &str) -> Result<String, RouteError> {
    let ma: airlock_wire::MultiAddr = route.parse()?;
    let mut out = String::new();
    for seg in &ma.segments {
        match seg {
            airlock_wire::Segment::Node(n) => {
                let row = home.require_node(n)?;
                let addr: SocketAddr = row.tcp_listen.parse()?;
                out.push_str(&socket_route(addr));
            }
            other => out.push_str(&other.to_string()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_addresses() {
        assert_eq!(parse_duration("10m").unwrap(), 600);
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert_eq!(parse_duration("45").unwrap(), 45);
        assert!(parse_duration("ten").is_err());
        assert_eq!(
            address_to_route("0.0.0.0:4000").unwrap(),
            "/ip4/127.0.0.1/tcp/4000"
        );
        assert_eq!(address_to_route("[::1]:4000").unwrap(), "/ip6/::1/tcp/4000");
        assert_eq!(
            address_to_route("project.example:4000").unwrap(),
            "/dnsaddr/project.example/tcp/4000"
        );
        assert!(matches!(
            address_to_route("nope"),
            Err(RouteError::NotHostPort { .. })
        ));
        let e = parse_duration(" ten ").unwrap_err();
        assert!(matches!(&e, RouteError::NotADuration { input, .. } if input == "ten"));
        assert_eq!(
            format!("{:#}", anyhow::Error::from(e)),
            "\"ten\" is not a duration (use e.g. 30s, 10m, 2h, 1d): invalid digit found in string"
        );
    }
}
