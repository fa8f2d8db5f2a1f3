//! Limits the authority applies to its callers: a cap on requests in flight, and a per-identity
//! token bucket for callers that are not members (docs/protocol.md §9.3).
//!
//! Time is passed in (`now`), so the limiter is tested without sleeping.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Requests the authority serves at once by default; more are answered
/// `{"ok":false,"error":…,"retry":true}` at once, without touching the store.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
/// Sustained requests per second a caller that is not a member may send (enroll attempts).
pub const NON_MEMBER_RATE: f64 = 5.0;
/// Requests a caller that is not a member may send in a burst.
pub const NON_MEMBER_BURST: u32 = 10;
/// Non-member identities the limiter tracks at most. Identities are cheap to create, so the
/// table is bounded: when it is full, buckets that have refilled (they hold no state) are
/// dropped, and if none has, new identities are refused until one does.
pub const MAX_TRACKED_CALLERS: usize = 10_000;

/// How the authority limits its callers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuthorityLimits {
    /// Requests served at once (0 refuses every request: tests).
    pub max_in_flight: usize,
    /// Tokens per second of a non-member's bucket.
    pub non_member_rate: f64,
    /// Size of a non-member's bucket.
    pub non_member_burst: u32,
    /// Non-member identities tracked at most.
    pub max_tracked: usize,
}

impl Default for AuthorityLimits {
    fn default() -> Self {
        AuthorityLimits {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            non_member_rate: NON_MEMBER_RATE,
            non_member_burst: NON_MEMBER_BURST,
            max_tracked: MAX_TRACKED_CALLERS,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One token bucket per key: `burst` tokens at most, refilled at `rate` per second; each
/// request takes one.
#[derive(Debug)]
pub struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    max_keys: usize,
    buckets: HashMap<K, Bucket>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter of `rate` tokens per second (> 0), buckets of `burst` (≥ 1), tracking at most
    /// `max_keys` keys.
    pub fn new(rate: f64, burst: u32, max_keys: usize) -> Self {
        RateLimiter {
            rate: if rate > 0.0 { rate } else { f64::MIN_POSITIVE },
            burst: f64::from(burst.max(1)),
            max_keys: max_keys.max(1),
            buckets: HashMap::new(),
        }
    }

    /// The limits' non-member bucket.
    pub fn for_non_members(limits: &AuthorityLimits) -> Self {
        Self::new(
            limits.non_member_rate,
            limits.non_member_burst,
            limits.max_tracked,
        )
    }

    fn refilled(&self, b: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + elapsed * self.rate).min(self.burst)
    }

    /// Takes a token from `key`'s bucket at time `now`; `Err(wait)` when it is empty, `wait`
    /// being the time until the next token.
    pub fn check(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        let one_token = Duration::from_secs_f64(1.0 / self.rate);
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.max_keys {
            // Forget the buckets that are full again: they hold no state.
            let (rate, burst) = (self.rate, self.burst);
            self.buckets.retain(|_, b| {
                let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
                b.tokens + elapsed * rate < burst
            });
            if self.buckets.len() >= self.max_keys {
                return Err(one_token);
            }
        }
        let bucket = *self.buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = self.refilled(&bucket, now);
        let at = now.max(bucket.at);
        if tokens >= 1.0 {
            self.buckets.insert(
                key.clone(),
                Bucket {
                    tokens: tokens - 1.0,
                    at,
                },
            );
            Ok(())
        } else {
            self.buckets.insert(key.clone(), Bucket { tokens, at });
            Err(Duration::from_secs_f64((1.0 - tokens) / self.rate))
        }
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(5.0, 10, 100);
        for _ in 0..10 {
            l.check(&"a", t0).unwrap();
        }
        let wait = l.check(&"a", t0).unwrap_err();
        assert!(wait > ms(190) && wait <= ms(200), "{wait:?}");
        // Refusals take nothing: one token 200 ms later, then none again.
        l.check(&"a", t0 + ms(100)).unwrap_err();
        l.check(&"a", t0 + ms(200)).unwrap();
        l.check(&"a", t0 + ms(200)).unwrap_err();
        // 5 per second sustained.
        let t1 = t0 + ms(200);
        // (1.1 s: float rounding may move the fifth token by one step, not past the window.)
        let ok = (1..=55)
            .filter(|i| l.check(&"a", t1 + ms(20 * i)).is_ok())
            .count();
        assert_eq!(ok, 5);
        // Idle long enough, the bucket is full again, not fuller.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..10 {
            l.check(&"a", t2).unwrap();
        }
        l.check(&"a", t2).unwrap_err();
    }

    #[test]
    fn callers_have_their_own_buckets() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(5.0, 2, 100);
        l.check(&"a", t0).unwrap();
        l.check(&"a", t0).unwrap();
        l.check(&"a", t0).unwrap_err();
        l.check(&"b", t0).unwrap();
        l.check(&"b", t0).unwrap();
        l.check(&"b", t0).unwrap_err();
    }

    #[test]
    fn time_going_backwards_grants_nothing() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut l = RateLimiter::new(5.0, 1, 100);
        l.check(&"a", t0).unwrap();
        l.check(&"a", t0 - Duration::from_secs(5)).unwrap_err();
        l.check(&"a", t0 + ms(200)).unwrap();
    }

    #[test]
    fn the_table_of_callers_is_bounded() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(5.0, 10, 2);
        l.check(&"a", t0).unwrap();
        l.check(&"b", t0).unwrap();
        // Full of callers whose buckets are not full: a new one waits.
        assert!(l.check(&"c", t0 + ms(100)).is_err());
        assert_eq!(l.tracked(), 2);
        // Once they refilled (200 ms for one token), they are forgotten and room is made.
        l.check(&"c", t0 + ms(200)).unwrap();
        assert_eq!(l.tracked(), 1);
        // Known callers are never refused for lack of room.
        l.check(&"d", t0 + ms(200)).unwrap();
        l.check(&"c", t0 + ms(200)).unwrap();
    }
}
