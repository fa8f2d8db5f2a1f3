//! [`Identifier`]: the stable name of an identity.

use crate::IdentityError;
use std::fmt;

/// 20 bytes: the first 20 bytes of SHA-256 over the first change of the history.
/// Written as `I` followed by 40 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier(pub [u8; 20]);

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "I{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Identifier {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || IdentityError::BadIdentifier(s.chars().take(64).collect());
        let hexpart = s.strip_prefix('I').ok_or_else(bad)?;
        if hexpart.len() != 40 {
            return Err(bad());
        }
        let mut out = [0u8; 20];
        hex::decode_to_slice(hexpart, &mut out).map_err(|_| bad())?;
        Ok(Identifier(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip() {
        let id = Identifier([0xab; 20]);
        let s = id.to_string();
        assert_eq!(s.len(), 41);
        assert_eq!(s.parse::<Identifier>().unwrap(), id);
        assert!("Ixyz".parse::<Identifier>().is_err());
        assert!("abababababababababababababababababababab"
            .parse::<Identifier>()
            .is_err());
    }
}
