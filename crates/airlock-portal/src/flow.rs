//! Credit-based flow control for one direction of one stream.
//!
//! The receiver announces a window `W`. The sender may have at most `W` bytes that the receiver's
//! application has not yet consumed. As the application consumes data, the receiver returns
//! credit in batches (once a quarter of the window is consumed), so a fast stream needs one
//! credit frame per `W/4` bytes, and a stalled stream stops its sender after `W` bytes without
//! affecting any other stream.

/// A peer broke the flow-control contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// The peer sent more than the window allows.
    #[error("peer sent {excess} bytes beyond its flow-control window")]
    WindowExceeded {
        /// Bytes beyond the window.
        excess: u64,
    },
    /// The peer returned more credit than it was owed.
    #[error("peer returned more credit than data was sent")]
    CreditOverflow,
}

/// Sender side: how many bytes may be sent now.
#[derive(Debug, Clone)]
pub struct SendCredit {
    window: u64,
    sent: u64,
    acknowledged: u64,
}

impl SendCredit {
    /// A sender facing a receive window of `window` bytes.
    pub fn new(window: u32) -> Self {
        SendCredit {
            window: window as u64,
            sent: 0,
            acknowledged: 0,
        }
    }

    /// Bytes that may be sent right now.
    pub fn available(&self) -> u64 {
        (self.acknowledged + self.window).saturating_sub(self.sent)
    }

    /// Records `n` sent bytes. Callers send at most [`SendCredit::available`].
    pub fn consume(&mut self, n: u64) {
        debug_assert!(n <= self.available());
        self.sent += n;
    }

    /// Records credit returned by the receiver.
    pub fn grant(&mut self, n: u32) -> Result<(), FlowError> {
        let acknowledged = self.acknowledged + n as u64;
        if acknowledged > self.sent {
            return Err(FlowError::CreditOverflow);
        }
        self.acknowledged = acknowledged;
        Ok(())
    }
}

/// Receiver side: polices the peer and decides when to return credit.
#[derive(Debug, Clone)]
pub struct RecvCredit {
    window: u64,
    received: u64,
    consumed: u64,
    credited: u64,
}

impl RecvCredit {
    /// A receiver offering `window` bytes.
    pub fn new(window: u32) -> Self {
        RecvCredit {
            window: window as u64,
            received: 0,
            consumed: 0,
            credited: 0,
        }
    }

    /// Records `n` bytes arriving; fails if the peer overran the window.
    pub fn on_data(&mut self, n: u64) -> Result<(), FlowError> {
        self.received += n;
        let limit = self.credited + self.window;
        if self.received > limit {
            return Err(FlowError::WindowExceeded {
                excess: self.received - limit,
            });
        }
        Ok(())
    }

    /// Bytes received but not yet consumed by the application.
    pub fn buffered(&self) -> u64 {
        self.received - self.consumed
    }

    /// Records `n` bytes consumed by the application; returns a credit to send, if one is due.
    pub fn on_consumed(&mut self, n: u64) -> Option<u32> {
        self.consumed = (self.consumed + n).min(self.received);
        let owed = self.consumed - self.credited;
        if owed >= (self.window / 4).max(1) {
            self.credited = self.consumed;
            Some(owed as u32)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_stops_at_window_and_resumes_on_credit() {
        let mut s = SendCredit::new(100);
        let mut r = RecvCredit::new(100);
        assert_eq!(s.available(), 100);
        s.consume(100);
        r.on_data(100).unwrap();
        assert_eq!(s.available(), 0);
        assert_eq!(r.on_consumed(10), None);
        let c = r.on_consumed(20).unwrap();
        assert_eq!(c, 30);
        s.grant(c).unwrap();
        assert_eq!(s.available(), 30);
    }

    #[test]
    fn overrun_and_credit_overflow_are_detected() {
        let mut r = RecvCredit::new(10);
        assert!(r.on_data(11).is_err());
        let mut s = SendCredit::new(10);
        s.consume(5);
        assert_eq!(s.grant(6), Err(FlowError::CreditOverflow));
    }

    #[test]
    fn many_rounds_keep_invariants() {
        let mut s = SendCredit::new(1000);
        let mut r = RecvCredit::new(1000);
        let mut in_flight = 0u64;
        for round in 0..10_000u64 {
            let n = s.available().min(1 + round % 333);
            s.consume(n);
            r.on_data(n).unwrap();
            in_flight += n;
            let eat = in_flight.min(round % 97);
            in_flight -= eat;
            if let Some(c) = r.on_consumed(eat) {
                s.grant(c).unwrap();
            }
            assert!(r.buffered() <= 1000);
        }
    }
}
