//! Pure parsing and formatting of config durations such as `30s`, `5m`, `1h30m`, `5d`, `250ms`.

use std::time::Duration;

/// Units accepted in a duration, largest first; a duration lists them in this order, each at most once.
const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses `"<n><unit>[<n><unit>...]"` with units `d`, `h`, `m`, `s`, `ms` in decreasing order.
/// A bare number is refused: a missing unit is a likely mistake (seconds? minutes?).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err("empty duration; write e.g. \"30s\", \"5m\", \"4h\", \"5d\"".into());
    }
    let mut rest = text;
    let mut total_ms: u64 = 0;
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "invalid duration {text:?}: expected a number at {rest:?}"
            ));
        }
        let (number, after) = rest.split_at(digits);
        let letters = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(letters);
        let unit_index = unit_index(text, unit)?;
        if last_unit.is_some_and(|last| unit_index <= last) {
            return Err(format!(
                "invalid duration {text:?}: units must go from largest to smallest, each once"
            ));
        }
        last_unit = Some(unit_index);
        let value: u64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: number too large"))?;
        total_ms = value
            .checked_mul(UNITS[unit_index].1)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
        rest = after;
    }
    Ok(Duration::from_millis(total_ms))
}

fn unit_index(text: &str, unit: &str) -> Result<usize, String> {
    if unit.is_empty() {
        return Err(format!(
            "invalid duration {text:?}: missing unit (d, h, m, s or ms)"
        ));
    }
    UNITS
        .iter()
        .position(|(name, _)| *name == unit)
        .ok_or_else(|| {
            format!("invalid duration {text:?}: unknown unit {unit:?} (use d, h, m, s or ms)")
        })
}

/// Formats a duration in the config syntax, largest units first (`"1h30m"`, `"0s"`, `"250ms"`).
pub fn format_duration(duration: Duration) -> String {
    let mut ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (name, unit_ms) in UNITS {
        let count = ms / unit_ms;
        if count > 0 {
            out.push_str(&format!("{count}{name}"));
            ms %= unit_ms;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn single_units() {
        assert_eq!(parse_duration("30s"), Ok(secs(30)));
        assert_eq!(parse_duration("5m"), Ok(secs(300)));
        assert_eq!(parse_duration("4h"), Ok(secs(4 * 3600)));
        assert_eq!(parse_duration("5d"), Ok(secs(5 * 86_400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn compound() {
        assert_eq!(parse_duration("1h30m"), Ok(secs(5400)));
        assert_eq!(
            parse_duration("1d2h3m4s5ms"),
            Ok(Duration::from_millis(93_784_005))
        );
        assert_eq!(parse_duration("90m"), Ok(secs(5400)));
    }

    #[test]
    fn refuses_bad_input() {
        for bad in [
            "", "5", "s", "5x", "1.5h", "-5s", " 5s", "5s ", "5 s", "30m1h", "1h1h", "5S", "5mm",
            "1m 30s", "h5",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn refuses_overflow() {
        assert!(parse_duration("99999999999999999999s").is_err());
        assert!(parse_duration("999999999999999d").is_err());
    }

    #[test]
    fn messages_name_the_problem() {
        assert!(parse_duration("5").unwrap_err().contains("missing unit"));
        assert!(parse_duration("5w").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn formats_round_trip() {
        for text in ["0s", "30s", "5m", "1h30m", "5d", "250ms", "1d2h3m4s5ms"] {
            let parsed = parse_duration(text).unwrap();
            assert_eq!(format_duration(parsed), text);
        }
        assert_eq!(format_duration(secs(3 * 3600 + 12 * 60)), "3h12m");
    }
}
