//! `Timestamp`: the order of writes, deletes and metadata updates.
//!
//! Swift orders every change by an `X-Timestamp` of seconds with five decimal
//! places (10 µs resolution); newest wins. Cairn keeps the same unit so that
//! timestamps round-trip through Swift clients unchanged.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A point in time in Swift's unit: ticks of 10 µs since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(u64);

const TICKS_PER_SEC: u64 = 100_000;

impl Timestamp {
    /// The zero timestamp, older than any real write.
    pub const ZERO: Timestamp = Timestamp(0);

    /// From raw 10 µs ticks.
    pub const fn from_ticks(ticks: u64) -> Self {
        Timestamp(ticks)
    }

    /// From microseconds since the epoch (truncated to 10 µs).
    pub const fn from_micros(micros: u64) -> Self {
        Timestamp(micros / 10)
    }

    /// From whole seconds since the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Timestamp(secs * TICKS_PER_SEC)
    }

    /// Raw 10 µs ticks.
    pub const fn ticks(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch (truncated).
    pub const fn secs(self) -> u64 {
        self.0 / TICKS_PER_SEC
    }

    /// Microseconds since the epoch.
    pub const fn micros(self) -> u64 {
        self.0 * 10
    }

    /// The next representable timestamp: used to order two changes made in
    /// the same tick (a COPY's new object after its source, say).
    pub const fn next(self) -> Self {
        Timestamp(self.0 + 1)
    }
}

impl fmt::Display for Timestamp {
    /// Swift's normal form: `1700000000.12345`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:010}.{:05}",
            self.0 / TICKS_PER_SEC,
            self.0 % TICKS_PER_SEC
        )
    }
}

/// A string that is not a Swift timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {0:?}")]
pub struct ParseTimestampError(pub String);

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    /// Parses `1700000000`, `1700000000.1` … `1700000000.12345` and Swift's
    /// internal form with an offset suffix (`…_0000000000000001`, offset ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseTimestampError(s.to_owned());
        let s_main = s.split('_').next().unwrap_or(s);
        let (whole, frac) = match s_main.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s_main, ""),
        };
        if whole.is_empty() || whole.len() > 12 || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let secs: u64 = whole.parse().map_err(|_| err())?;
        let mut ticks_frac = 0u64;
        for (i, b) in frac.bytes().take(5).enumerate() {
            ticks_frac += u64::from(b - b'0') * 10u64.pow(4 - i as u32);
        }
        Ok(Timestamp(secs * TICKS_PER_SEC + ticks_frac))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_like_swift() {
        // Swift's normal form has ten integer digits and five decimals.
        let t: Timestamp = "1700000000.12345".parse().unwrap();
        assert_eq!(t.to_string(), "1700000000.12345");
        let t: Timestamp = "1700000000.1".parse().unwrap();
        assert_eq!(t.to_string(), "1700000000.10000");
        let t: Timestamp = "1700000000".parse().unwrap();
        assert_eq!(t.secs(), 1_700_000_000);
    }

    #[test]
    fn rejects_garbage() {
        // Anything that is not digits with an optional fraction is refused.
        for bad in ["", "abc", "-1", "1.2.3", "1e9", ".5", "1.x"] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn display_parse_roundtrip(ticks in 0u64..1_000_000_000_000_000) {
            // Every timestamp survives a trip through its string form.
            let t = Timestamp::from_ticks(ticks);
            prop_assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        }
    }
}
