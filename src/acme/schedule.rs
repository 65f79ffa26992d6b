//! Pure: when a certificate is renewed. 30 days before its expiry (issue 17), or, for a
//! certificate valid for less than 90 days, when a third of its lifetime remains, so that a short
//! test certificate is renewed once, not in a loop.

use std::time::{Duration, SystemTime};

/// Renew this long before expiry (for certificates of 90 days or more).
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// When a certificate valid from `not_before` to `not_after` should be renewed.
pub fn renew_at(not_before: SystemTime, not_after: SystemTime) -> SystemTime {
    let lifetime = not_after.duration_since(not_before).unwrap_or_default();
    let margin = RENEW_BEFORE.min(lifetime / 3);
    not_after.checked_sub(margin).unwrap_or(not_before)
}

/// How long to wait from `now` until `at` (zero when due).
pub fn wait_until(at: SystemTime, now: SystemTime) -> Duration {
    at.duration_since(now).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 24 * 3600;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn a_ninety_day_certificate_is_renewed_thirty_days_before_expiry() {
        assert_eq!(renew_at(at(0), at(90 * DAY)), at(60 * DAY));
        assert_eq!(renew_at(at(0), at(365 * DAY)), at(335 * DAY));
    }

    #[test]
    fn a_short_certificate_is_renewed_when_a_third_remains() {
        assert_eq!(renew_at(at(1000), at(1030)), at(1020));
        assert_eq!(renew_at(at(0), at(30 * DAY)), at(20 * DAY));
        // Dates out of order: renew at once.
        assert_eq!(renew_at(at(50), at(10)), at(10));
    }

    #[test]
    fn waiting_stops_at_zero() {
        assert_eq!(wait_until(at(10), at(4)), Duration::from_secs(6));
        assert_eq!(wait_until(at(4), at(10)), Duration::ZERO);
    }
}
