//! The textual route syntax: `/node/n1/secure/api/service/outlet`.
//!
//! A [`MultiAddr`] is a list of [`Segment`]s. The CLI replaces `/node/NAME` with that node's TCP
//! address; a node turns the rest into a [`crate::Route`] by connecting TCP hops and opening secure
//! channels for `/secure/…` segments.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One step of a textual route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A local node by name (resolved by the CLI from its state).
    Node(String),
    /// A TCP connection to an IPv4 address.
    Ip4Tcp(Ipv4Addr, u16),
    /// A TCP connection to an IPv6 address.
    Ip6Tcp(Ipv6Addr, u16),
    /// A TCP connection to a host name.
    DnsTcp(String, u16),
    /// A service (worker address) on the node reached so far.
    Service(String),
    /// Open a secure channel to this listener over the route so far and continue inside it.
    Secure(String),
    /// A project route (reserved for projects).
    Project(String),
}

impl Segment {
    /// True for segments that open a TCP connection.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            Segment::Node(_) | Segment::Ip4Tcp(..) | Segment::Ip6Tcp(..) | Segment::DnsTcp(..)
        )
    }
}

/// A parsed textual route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiAddr {
    /// The segments, in order.
    pub segments: Vec<Segment>,
}

/// Why a textual route did not parse; `position` is the 1-based index of the offending segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid route {input:?}: {reason} (segment {position})")]
pub struct MultiAddrError {
    /// The input.
    pub input: String,
    /// 1-based segment index.
    pub position: usize,
    /// What is wrong and how to fix it.
    pub reason: String,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:#".contains(c))
}

impl std::str::FromStr for MultiAddr {
    type Err = MultiAddrError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |position: usize, reason: String| MultiAddrError {
            input: input.to_string(),
            position,
            reason,
        };
        if !input.starts_with('/') {
            return Err(err(
                0,
                "a route starts with '/', for example /node/n1/service/echo".into(),
            ));
        }
        let parts: Vec<&str> = input[1..].split('/').collect();
        let mut segments = Vec::new();
        let mut i = 0;
        while i < parts.len() {
            let proto = parts[i];
            let pos = segments.len() + 1;
            let value = |k: usize| -> Result<&str, MultiAddrError> {
                parts
                    .get(i + k)
                    .copied()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| err(pos, format!("'/{proto}' needs a value")))
            };
            let port = |k: usize| -> Result<u16, MultiAddrError> {
                if parts.get(i + k).copied() != Some("tcp") {
                    return Err(err(
                        pos,
                        format!("'/{proto}/…' must be followed by '/tcp/PORT'"),
                    ));
                }
                let p = parts
                    .get(i + k + 1)
                    .ok_or_else(|| err(pos, "'/tcp' needs a port".into()))?;
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| err(pos, format!("{p:?} is not a TCP port (1-65535)")))
            };
            let name = |k: usize| -> Result<String, MultiAddrError> {
                let v = value(k)?;
                if valid_name(v) {
                    Ok(v.to_string())
                } else {
                    Err(err(
                        pos,
                        format!("{v:?} is not a valid name (letters, digits and ._-:# only)"),
                    ))
                }
            };
            match proto {
                "node" => {
                    segments.push(Segment::Node(name(1)?));
                    i += 2;
                }
                "ip4" => {
                    let a = value(1)?;
                    let ip: Ipv4Addr = a
                        .parse()
                        .map_err(|_| err(pos, format!("{a:?} is not an IPv4 address")))?;
                    segments.push(Segment::Ip4Tcp(ip, port(2)?));
                    i += 4;
                }
                "ip6" => {
                    let a = value(1)?;
                    let ip: Ipv6Addr = a
                        .parse()
                        .map_err(|_| err(pos, format!("{a:?} is not an IPv6 address")))?;
                    segments.push(Segment::Ip6Tcp(ip, port(2)?));
                    i += 4;
                }
                "dnsaddr" => {
                    let h = value(1)?;
                    if h.len() > 253
                        || !h.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                    {
                        return Err(err(pos, format!("{h:?} is not a host name")));
                    }
                    segments.push(Segment::DnsTcp(h.to_string(), port(2)?));
                    i += 4;
                }
                "service" | "worker" => {
                    segments.push(Segment::Service(name(1)?));
                    i += 2;
                }
                "secure" => {
                    segments.push(Segment::Secure(name(1)?));
                    i += 2;
                }
                "project" => {
                    segments.push(Segment::Project(name(1)?));
                    i += 2;
                }
                "" if i == parts.len() - 1 && i > 0 => break, // trailing slash
                other => {
                    return Err(err(
                        pos,
                        format!(
                            "unknown segment '/{other}'; expected one of /node, /ip4, /ip6, /dnsaddr, /service, /secure, /project"
                        ),
                    ))
                }
            }
        }
        if segments.is_empty() {
            return Err(err(0, "the route is empty".into()));
        }
        let transports = segments.iter().filter(|s| s.is_transport()).count();
        if transports > 1 {
            return Err(err(
                0,
                "only one TCP hop (/node, /ip4, /ip6, /dnsaddr) is allowed per route".into(),
            ));
        }
        if let Some(p) = segments.iter().skip(1).position(|s| s.is_transport()) {
            return Err(err(p + 2, "a TCP hop must be the first segment".into()));
        }
        Ok(MultiAddr { segments })
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Node(n) => write!(f, "/node/{n}"),
            Segment::Ip4Tcp(ip, p) => write!(f, "/ip4/{ip}/tcp/{p}"),
            Segment::Ip6Tcp(ip, p) => write!(f, "/ip6/{ip}/tcp/{p}"),
            Segment::DnsTcp(h, p) => write!(f, "/dnsaddr/{h}/tcp/{p}"),
            Segment::Service(s) => write!(f, "/service/{s}"),
            Segment::Secure(s) => write!(f, "/secure/{s}"),
            Segment::Project(s) => write!(f, "/project/{s}"),
        }
    }
}

impl fmt::Display for MultiAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.segments {
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        for s in [
            "/node/n1/service/echo",
            "/node/n1/secure/api/service/outlet",
            "/ip4/127.0.0.1/tcp/4000/secure/api/service/uppercase",
            "/ip6/::1/tcp/4000/service/echo",
            "/dnsaddr/localhost/tcp/4000/service/echo",
            "/service/sc.00ff/service/uppercase",
        ] {
            let m: MultiAddr = s.parse().unwrap();
            assert_eq!(m.to_string(), s);
        }
    }

    #[test]
    fn errors_point_at_the_segment() {
        let e = "/node/n1/bogus/x".parse::<MultiAddr>().unwrap_err();
        assert_eq!(e.position, 2);
        let e = "/ip4/1.2.3.4/udp/1".parse::<MultiAddr>().unwrap_err();
        assert!(e.reason.contains("/tcp/PORT"));
        assert!("/service/echo/node/n1".parse::<MultiAddr>().is_err());
        assert!("node/n1".parse::<MultiAddr>().is_err());
        assert!("/ip4/1.2.3.4/tcp/0".parse::<MultiAddr>().is_err());
        assert!("/node".parse::<MultiAddr>().is_err());
    }
}
