//! Exponential back-off between retries, shared by every loop that re-establishes something in
//! the background (an inlet's link, a relay registration, a project credential).
//!
//! A [`Backoff`] only computes delays; the caller sleeps. Each caller keeps its own bounds and
//! decides when a success resets the delay, so the loops differ only in those values. Jitter
//! spreads the retries of many nodes that failed at once, so they do not all come back at the
//! same moment.

use std::time::Duration;

/// Delays that start at `min` and double on each [`Backoff::next_delay`] up to `max`, each
/// optionally spread by jitter; [`Backoff::reset`] starts again from `min`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
    jitter: f64,
}

impl Backoff {
    /// Delays from `min` doubling to `max`, without jitter.
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            current: min,
            jitter: 0.0,
        }
    }

    /// Spreads each delay uniformly by ±`fraction` of it (0.2: between 80 % and 120 %).
    pub fn with_jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// The delay before the next retry; the one after it is twice as long (at most `max`).
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_at(rand::random())
    }

    /// [`Backoff::next_delay`] with the random number in `[0, 1)` given (for tests).
    fn next_delay_at(&mut self, unit: f64) -> Duration {
        let delay = self.current;
        self.current = (self.current * 2).min(self.max);
        if self.jitter > 0.0 {
            spread(delay, self.jitter, unit)
        } else {
            delay
        }
    }

    /// After a success: the next delay is `min` again.
    pub fn reset(&mut self) {
        self.current = self.min;
    }

    /// After a failure that retrying soon will not fix: the next delay is `max` already.
    pub fn skip_to_max(&mut self) {
        self.current = self.max;
    }

    /// The next delay before jitter, without taking it.
    pub fn peek(&self) -> Duration {
        self.current
    }

    /// The longest delay.
    pub fn max(&self) -> Duration {
        self.max
    }
}

/// `d` spread uniformly by ±`fraction` of it (for periodic work that should not run in step
/// across a fleet).
pub fn jitter(d: Duration, fraction: f64) -> Duration {
    spread(d, fraction, rand::random())
}

/// `d` scaled by `1 + fraction * (2 * unit - 1)`, never below zero; `unit` is in `[0, 1)`.
fn spread(d: Duration, fraction: f64, unit: f64) -> Duration {
    let f = 1.0 + fraction * (unit * 2.0 - 1.0);
    d.mul_f64(f.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(100 * MS, 1000 * MS);
        let delays: Vec<_> = (0..6).map(|_| b.next_delay()).collect();
        assert_eq!(
            delays,
            [100 * MS, 200 * MS, 400 * MS, 800 * MS, 1000 * MS, 1000 * MS]
        );
        b.reset();
        assert_eq!(b.peek(), 100 * MS);
        assert_eq!(b.next_delay(), 100 * MS);
        assert_eq!(b.next_delay(), 200 * MS);
        assert_eq!(b.max(), 1000 * MS);
    }

    #[test]
    fn skip_to_max_makes_the_next_delay_the_longest() {
        let mut b = Backoff::new(MS, 60 * MS);
        b.next_delay();
        b.skip_to_max();
        assert_eq!(b.next_delay(), 60 * MS);
        assert_eq!(b.next_delay(), 60 * MS);
        b.reset();
        assert_eq!(b.next_delay(), MS);
    }

    #[test]
    fn jitter_spreads_each_delay_within_the_fraction() {
        let mut b = Backoff::new(500 * MS, 30_000 * MS).with_jitter(0.2);
        assert_eq!(b.next_delay_at(0.0), 400 * MS);
        assert_eq!(b.next_delay_at(0.5), 1000 * MS);
        // Just below 1: just below 120 % of 2 s.
        let top = b.next_delay_at(0.999_999);
        assert!(top > 2390 * MS && top < 2400 * MS, "{top:?}");
        let mut capped = Backoff::new(1000 * MS, 1000 * MS).with_jitter(0.2);
        for _ in 0..100 {
            let d = capped.next_delay();
            assert!(d >= 800 * MS && d <= 1200 * MS, "{d:?}");
        }
    }

    #[test]
    fn jitter_never_goes_below_zero() {
        assert_eq!(spread(100 * MS, 2.0, 0.0), Duration::ZERO);
        for _ in 0..100 {
            let d = jitter(100 * MS, 0.1);
            assert!(d >= 90 * MS && d <= 110 * MS, "{d:?}");
        }
    }
}
