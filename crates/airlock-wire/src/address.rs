//! Addresses and routes.
//!
//! An [`Address`] names a worker on one node: a service (`echo`), a secure channel end
//! (`sc.3f9a…`), or a TCP connection (`tcp.17`). A [`Route`] is an ordered list of addresses.
//! Every message carries two: the *onward* route (where it still has to go; the first address is the
//! next hop) and the *return* route (how to answer; each hop that forwards the message pushes its
//! own address on the front, so a reply retraces the path).

use crate::codec::{DecodeError, Reader};
use std::fmt;

/// Maximum length of one address in bytes.
pub const MAX_ADDRESS_LEN: usize = 64;
/// Maximum number of addresses in one route.
pub const MAX_ROUTE_LEN: usize = 16;

/// The name of a worker on a node. 1–64 bytes of ASCII letters, digits and `._-:#`. Cheap to
/// clone (shared), since every hop of every message copies addresses between routes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(std::sync::Arc<str>);

impl Address {
    /// Validates and wraps a name.
    pub fn new(name: impl Into<String>) -> Result<Self, DecodeError> {
        let name = name.into();
        if name.is_empty() || name.len() > MAX_ADDRESS_LEN {
            return Err(DecodeError::invalid(
                "address",
                format!("length must be 1..={MAX_ADDRESS_LEN} bytes"),
            ));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-:#".contains(*c)))
        {
            return Err(DecodeError::invalid(
                "address",
                format!("character {c:?} is not allowed in {name:?}"),
            ));
        }
        Ok(Address(name.into()))
    }

    /// A fresh random-looking local address with a prefix, e.g. `sc.1a2b3c4d5e6f7081`.
    pub fn with_random_suffix(prefix: &str, random: u64) -> Self {
        Address(format!("{prefix}.{random:016x}").into())
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Appends the wire encoding (one-byte length + bytes).
    pub fn encode(&self, out: &mut Vec<u8>) {
        crate::codec::put_bytes8(out, self.0.as_bytes());
    }

    /// Decodes one address.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let raw = r.bytes8("address")?;
        let s =
            std::str::from_utf8(raw).map_err(|_| DecodeError::invalid("address", "not UTF-8"))?;
        Address::new(s)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Address {
    type Err = DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::new(s)
    }
}

/// An ordered list of addresses; the first is the next hop.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Route(Vec<Address>);

impl Route {
    /// The empty route.
    pub fn empty() -> Self {
        Route(Vec::new())
    }

    /// A route of the given addresses.
    pub fn new(addrs: Vec<Address>) -> Self {
        Route(addrs)
    }

    /// A route of one address.
    pub fn single(a: Address) -> Self {
        Route(vec![a])
    }

    /// The next hop, if any.
    pub fn first(&self) -> Option<&Address> {
        self.0.first()
    }

    /// Removes and returns the next hop.
    pub fn pop_front(&mut self) -> Option<Address> {
        if self.0.is_empty() {
            None
        } else {
            Some(self.0.remove(0))
        }
    }

    /// Adds a hop in front.
    pub fn push_front(&mut self, a: Address) {
        self.0.insert(0, a);
    }

    /// Adds a hop at the end.
    pub fn push_back(&mut self, a: Address) {
        self.0.push(a);
    }

    /// Appends another route.
    pub fn append(&mut self, other: &Route) {
        self.0.extend(other.0.iter().cloned());
    }

    /// Number of hops.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no hops.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The hops as a slice.
    pub fn addresses(&self) -> &[Address] {
        &self.0
    }

    /// Size of the wire encoding.
    pub fn encoded_len(&self) -> usize {
        1 + self.0.iter().map(|a| 1 + a.as_str().len()).sum::<usize>()
    }

    /// Appends the wire encoding: one-byte count, then each address.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.0.len() as u8);
        for a in &self.0 {
            a.encode(out);
        }
    }

    /// Decodes a route, refusing more than [`MAX_ROUTE_LEN`] hops.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.u8("route length")? as usize;
        if n > MAX_ROUTE_LEN {
            return Err(DecodeError::invalid(
                "route",
                format!("{n} hops exceed the maximum of {MAX_ROUTE_LEN}"),
            ));
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(Address::decode(r)?);
        }
        Ok(Route(v))
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, " => ")?;
            }
            write!(f, "{a}")?;
        }
        write!(f, "]")
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_rules() {
        assert!(Address::new("echo").is_ok());
        assert!(Address::new("sc.00ff").is_ok());
        assert!(Address::new("").is_err());
        assert!(Address::new("a/b").is_err());
        assert!(Address::new("x".repeat(65)).is_err());
    }

    #[test]
    fn route_round_trip_and_vector() {
        let r = Route::new(vec![
            Address::new("tcp.1").unwrap(),
            Address::new("api").unwrap(),
        ]);
        let mut out = Vec::new();
        r.encode(&mut out);
        // Test vector from docs/protocol.md §2.
        assert_eq!(out, b"\x02\x05tcp.1\x03api");
        assert_eq!(out.len(), r.encoded_len());
        let back = Route::decode(&mut Reader::new(&out)).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn route_too_long_is_refused() {
        let bytes = [17u8];
        assert!(Route::decode(&mut Reader::new(&bytes)).is_err());
    }
}
