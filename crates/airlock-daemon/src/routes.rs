//! Parsing what users type for routes and durations: `HOST:PORT` and `/node/NAME` become
//! routes (`/ip4/…/tcp/…`), `10m` becomes seconds. Shared by commands, operations and the node
//! process (which resolves recorded inlet routes when it starts).

use crate::home::Home;
use anyhow::{Context, Result};
use std::net::{IpAddr, SocketAddr};

/// Parses `10m`, `2h`, `1d`, `30s` or plain seconds.
pub fn parse_duration(s: &str) -> Result<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        Some('d') => (&s[..s.len() - 1], 86400),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .with_context(|| format!("{s:?} is not a duration (use e.g. 30s, 10m, 2h, 1d)"))?;
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
pub fn address_to_route(addr: &str) -> Result<String> {
    if let Ok(sa) = addr.parse::<SocketAddr>() {
        return Ok(socket_route(sa));
    }
    let (host, port) = addr
        .rsplit_once(':')
        .with_context(|| format!("{addr:?} is not HOST:PORT"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("{port:?} is not a port"))?;
    let route = format!("/dnsaddr/{host}/tcp/{port}");
    route.parse::<airlock_wire::MultiAddr>()?;
    Ok(route)
}

/// Replaces `/node/NAME` in a route with the TCP address of local node NAME.
pub fn resolve_node_route(home: &Home, route: &str) -> Result<String> {
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
        assert!(address_to_route("nope").is_err());
    }
}
