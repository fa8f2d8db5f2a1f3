//! Sliding replay window over 64-bit nonces.

/// Width of the window in nonces.
pub const WINDOW: u64 = 128;

/// Accepts each nonce at most once, and nonces up to `WINDOW` (128) behind the highest seen
/// (so moderate reordering is tolerated). Anything older is refused.
#[derive(Debug, Clone, Default)]
pub struct ReplayWindow {
    /// Highest accepted nonce + 1 (0 = nothing accepted yet).
    top: u64,
    /// Bit i set = nonce `top - 1 - i` was accepted.
    bits: u128,
}

/// Why a nonce was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// Fresh nonce.
    Fresh,
    /// Already accepted.
    Duplicate,
    /// Too far behind the window.
    TooOld,
}

impl ReplayWindow {
    /// Checks a nonce without recording it.
    pub fn check(&self, nonce: u64) -> ReplayVerdict {
        if nonce >= self.top {
            return ReplayVerdict::Fresh;
        }
        let behind = self.top - 1 - nonce;
        if behind >= WINDOW {
            return ReplayVerdict::TooOld;
        }
        if self.bits & (1u128 << behind) != 0 {
            ReplayVerdict::Duplicate
        } else {
            ReplayVerdict::Fresh
        }
    }

    /// Records a nonce (call only after the message authenticated).
    pub fn accept(&mut self, nonce: u64) {
        if nonce >= self.top {
            let shift = nonce - self.top + 1;
            self.bits = if shift >= WINDOW {
                0
            } else {
                self.bits << shift
            };
            self.bits |= 1;
            self.top = nonce + 1;
        } else {
            let behind = self.top - 1 - nonce;
            self.bits |= 1u128 << behind;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_duplicates_and_old() {
        let mut w = ReplayWindow::default();
        for n in 0..10 {
            assert_eq!(w.check(n), ReplayVerdict::Fresh);
            w.accept(n);
        }
        assert_eq!(w.check(9), ReplayVerdict::Duplicate);
        assert_eq!(w.check(0), ReplayVerdict::Duplicate);
        w.accept(500);
        assert_eq!(w.check(10), ReplayVerdict::TooOld);
        assert_eq!(w.check(500 - 127), ReplayVerdict::Fresh);
        assert_eq!(w.check(500 - 128), ReplayVerdict::TooOld);
    }

    #[test]
    fn reordering_within_window_is_accepted_once() {
        let mut w = ReplayWindow::default();
        for n in [5u64, 3, 4, 0, 2, 1, 7, 6] {
            assert_eq!(w.check(n), ReplayVerdict::Fresh, "nonce {n}");
            w.accept(n);
        }
        for n in 0..8 {
            assert_eq!(w.check(n), ReplayVerdict::Duplicate);
        }
    }
}
