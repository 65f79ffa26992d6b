//! Pure formatting for the console: ages like `3h12m`, sizes like `1.4 MiB`, UTC timestamps.

/// A duration in milliseconds as the console shows ages: `45s`, `12m`, `3h12m`, `2d3h`.
pub fn age(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, hours, mins) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{mins}m")
    } else if secs < 86_400 {
        format!("{hours}h{mins:02}m")
    } else {
        format!("{days}d{hours}h")
    }
}

/// How long ago `then_ms` was, seen at `now_ms` (a future time counts as 0).
pub fn age_at(now_ms: u64, then_ms: u64) -> String {
    age(now_ms.saturating_sub(then_ms))
}

/// When `at_ms` comes, seen at `now_ms`: `in 12s`, or `now` once due.
pub fn due_in(now_ms: u64, at_ms: u64) -> String {
    if at_ms <= now_ms {
        "now".to_string()
    } else {
        format!("in {}", age(at_ms - now_ms))
    }
}

/// A byte count in binary units: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.0 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Unix milliseconds as `2025-03-01 14:05:09Z` (UTC, second precision).
pub fn timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let (year, month, day) = crate::clock::civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_qshape() {
        assert_eq!(age(0), "0s");
        assert_eq!(age(59_999), "59s");
        assert_eq!(age(60_000), "1m");
        assert_eq!(age(3_599_000), "59m");
        assert_eq!(age(3_600_000), "1h00m");
        assert_eq!(age((3 * 3600 + 12 * 60 + 5) * 1000), "3h12m");
        assert_eq!(age((2 * 86_400 + 3 * 3600 + 59) * 1000), "2d3h");
    }

    #[test]
    fn future_and_past() {
        assert_eq!(age_at(1000, 5000), "0s");
        assert_eq!(age_at(61_000, 1000), "1m");
        assert_eq!(due_in(10_000, 10_000), "now");
        assert_eq!(due_in(10_000, 22_000), "in 12s");
    }

    #[test]
    fn sizes_in_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(bytes(u64::MAX), "16777216.0 TiB");
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00Z");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(timestamp(1_709_251_199_000), "2024-02-29 23:59:59Z");
        assert_eq!(
            timestamp(1_735_689_600_000 + 3_723_000),
            "2025-01-01 01:02:03Z"
        );
    }
}
