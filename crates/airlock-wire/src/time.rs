//! Wall-clock time as the protocols carry it (Unix seconds), and durations in words for
//! messages people read ("expired 10 s ago" rather than two epoch numbers).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A duration in seconds, in the largest unit or two that say it plainly:
/// `45 s`, `12 min`, `3 h 5 min`, `2 days 4 h`.
pub fn describe_secs(secs: u64) -> String {
    const MIN: u64 = 60;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    let two = |big: u64, big_unit: &str, small: u64, small_unit: &str| {
        if small == 0 {
            format!("{big} {big_unit}")
        } else {
            format!("{big} {big_unit} {small} {small_unit}")
        }
    };
    match secs {
        s if s < 2 * MIN => format!("{s} s"),
        s if s < HOUR => format!("{} min", s / MIN),
        s if s < 2 * DAY => two(s / HOUR, "h", (s % HOUR) / MIN, "min"),
        s => {
            let days = s / DAY;
            two(
                days,
                if days == 1 { "day" } else { "days" },
                (s % DAY) / HOUR,
                "h",
            )
        }
    }
}

/// How `at` (Unix seconds) relates to `now`, in words: `10 s ago`, `in 3 h 5 min`.
pub fn relative(at: u64, now: u64) -> String {
    if at <= now {
        format!("{} ago", describe_secs(now - at))
    } else {
        format!("in {}", describe_secs(at - now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_plainly() {
        assert_eq!(describe_secs(0), "0 s");
        assert_eq!(describe_secs(119), "119 s");
        assert_eq!(describe_secs(120), "2 min");
        assert_eq!(describe_secs(3599), "59 min");
        assert_eq!(describe_secs(3600), "1 h");
        assert_eq!(describe_secs(3 * 3600 + 5 * 60 + 9), "3 h 5 min");
        assert_eq!(describe_secs(2 * 86400), "2 days");
        assert_eq!(describe_secs(86400 * 9 + 3600 * 4), "9 days 4 h");
        assert_eq!(relative(90, 100), "10 s ago");
        assert_eq!(relative(100, 100), "0 s ago");
        assert_eq!(relative(100 + 600, 100), "in 10 min");
    }

    #[test]
    fn now_is_after_2025() {
        assert!(unix_now() > 1_735_689_600);
    }
}
