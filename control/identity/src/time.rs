//! The ISO 8601 times of Keystone's bodies (`2035-01-01T00:00:00.000000Z`):
//! formatting a `Timestamp` and parsing what clients send for
//! `expires_at`.

use cairn_base::civil::{civil_from_days, days_from_civil};
use cairn_base::Timestamp;

const SECS_PER_DAY: u64 = 86_400;

/// `2035-01-01T00:00:00.000000Z`: UTC, microseconds, as Keystone writes it.
pub fn iso8601(ts: Timestamp) -> String {
    iso8601_micros(ts.micros())
}

/// [`iso8601`] of microseconds since the epoch, every digit kept.
pub fn iso8601_micros(micros: u64) -> String {
    let secs = micros / 1_000_000;
    let (y, mo, d) = civil_from_days(secs / SECS_PER_DAY);
    let rem = secs % SECS_PER_DAY;
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        micros % 1_000_000
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+00:00]` (UTC only), the forms
/// the clients send, as microseconds since the epoch (not a `Timestamp`,
/// which keeps tens of microseconds: an application credential's expiry
/// is echoed as sent); `None` for anything else.
pub fn parse_iso8601_micros(s: &str) -> Option<u64> {
    let s = s
        .strip_suffix('Z')
        .or_else(|| s.strip_suffix("+00:00"))
        .unwrap_or(s);
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<u64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    if d.next().is_some() || !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
        return None;
    }
    if !(1..=31).contains(&day) {
        return None;
    }
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    if t.next().is_some() || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let micros = parse_fraction(frac)?;
    let secs = days_from_civil(year, month, day) * SECS_PER_DAY + h * 3600 + mi * 60 + sec;
    Some(secs * 1_000_000 + micros)
}

/// Up to six digits of a second's fraction, as microseconds.
fn parse_fraction(frac: &str) -> Option<u64> {
    if frac.is_empty() {
        return Some(0);
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_keystone_times() {
        // A known instant formats as Keystone does and parses back.
        let ts = Timestamp::from_micros(2_051_222_400_000_000 + 123_450);
        assert_eq!(iso8601(ts), "2035-01-01T00:00:00.123450Z");
        assert_eq!(
            parse_iso8601_micros("2035-01-01T00:00:00.12345Z"),
            Some(ts.micros())
        );
        assert_eq!(
            iso8601_micros(2_051_222_400_123_457),
            "2035-01-01T00:00:00.123457Z"
        );
        assert_eq!(
            parse_iso8601_micros("2035-01-01T00:00:00.123457"),
            Some(2_051_222_400_123_457)
        );
        assert_eq!(
            parse_iso8601_micros("2035-01-01T00:00:00"),
            Some(Timestamp::from_secs(2_051_222_400).micros())
        );
        assert_eq!(
            parse_iso8601_micros("2035-01-01T00:00:00+00:00"),
            Some(Timestamp::from_secs(2_051_222_400).micros())
        );
        for bad in ["", "2035-01-01", "2035-13-01T00:00:00", "x-01-01T00:00:00Z"] {
            assert_eq!(parse_iso8601_micros(bad), None, "{bad}");
        }
    }
}
