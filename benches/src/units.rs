//! Human units on the command line: byte sizes (`4KiB`, `1MiB`, `4k`,
//! `10MB`) and durations (`30s`, `500ms`, `2m`).
//!
//! Sizes follow `dd`: a bare letter and the `iB` forms are powers of 1024
//! (`4k` = `4K` = `4KiB` = 4096), the `B` forms powers of 1000 (`4KB` = 4000).

use crate::error::BenchError;
use std::time::Duration;

/// A byte count: digits then an optional unit.
pub fn parse_bytes(text: &str) -> Result<u64, BenchError> {
    let s = text.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let bad = || BenchError::invalid("size", format!("{text:?} (e.g. 4096, 4KiB, 1MiB, 10MB)"));
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "k" | "K" | "KiB" => 1 << 10,
        "m" | "M" | "MiB" => 1 << 20,
        "g" | "G" | "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(bad()),
    };
    n.checked_mul(scale).ok_or_else(bad)
}

/// A duration: digits then `ms`, `s`, `m` or `h` (bare digits are seconds).
pub fn parse_duration(text: &str) -> Result<Duration, BenchError> {
    let s = text.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let bad = || BenchError::invalid("duration", format!("{text:?} (e.g. 30s, 500ms, 2m)"));
    let n: u64 = digits.parse().map_err(|_| bad())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" | "min" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(bad()),
    }
}

/// A byte count for people: `4 KiB`, `1.5 MiB`.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_binary_and_decimal_units_as_dd_does() {
        // iB and bare letters are powers of 1024, B suffixes powers of 1000.
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_bytes("4KiB").unwrap(), 4096);
        assert_eq!(parse_bytes("4k").unwrap(), 4096);
        assert_eq!(parse_bytes("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("64M").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_bytes("4KB").unwrap(), 4000);
    }

    #[test]
    fn malformed_sizes_are_refused() {
        // Missing digits, unknown units, fractions and overflow are errors, not zero.
        for bad in ["", "KiB", "4XB", "1.5MiB", "-1", "99999999999999GiB"] {
            assert!(parse_bytes(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations_parse_with_and_without_units() {
        // ms, s, m, h, and bare seconds.
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn byte_counts_format_in_binary_units() {
        // Whole values print without decimals, others with one.
        assert_eq!(format_bytes(4096), "4 KiB");
        assert_eq!(format_bytes(1536 * 1024), "1.5 MiB");
        assert_eq!(format_bytes(12), "12 B");
    }
}
