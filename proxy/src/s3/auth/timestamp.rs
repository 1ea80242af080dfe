//! Request timestamps: SigV4's ISO 8601 basic form (`yyyymmddThhmmssZ`), the
//! HTTP `Date` forms (with the numeric zones SigV2 clients send), and the
//! conversion between them and Unix seconds (UTC, proleptic Gregorian
//! calendar, no calendar crate).

use cairn_base::civil::{civil_from_days, days_from_civil};
use std::time::UNIX_EPOCH;

const SECS_PER_DAY: u64 = 86_400;

/// A request's signing time, in the form it is signed with and in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmzDate {
    /// `yyyymmddThhmmssZ`, as it appears in the string to sign.
    pub text: String,
    /// Seconds since the Unix epoch.
    pub unix_secs: u64,
}

impl AmzDate {
    /// Parses `yyyymmddThhmmssZ` exactly: 16 characters, a real calendar date
    /// and time of day, not before 1970.
    pub fn parse(s: &str) -> Option<AmzDate> {
        let b = s.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<u64> {
            let digits = &b[range];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            Some(digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
        };
        let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
        let (hour, minute, second) = (num(9..11)?, num(11..13)?, num(13..15)?);
        if year < 1970 || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let unix_secs = days * SECS_PER_DAY + hour * 3600 + minute * 60 + second;
        Some(AmzDate {
            text: s.to_owned(),
            unix_secs,
        })
    }

    /// Parses a `Date` header: the SigV4 form, or any form
    /// `http_date_secs` reads, which is signed in the SigV4 form.
    pub fn parse_date_header(s: &str) -> Option<AmzDate> {
        if let Some(d) = AmzDate::parse(s) {
            return Some(d);
        }
        http_date_secs(s).map(AmzDate::from_unix_secs)
    }

    /// The SigV4 form of `unix_secs`.
    pub fn from_unix_secs(unix_secs: u64) -> AmzDate {
        let (year, month, day) = civil_from_days(unix_secs / SECS_PER_DAY);
        let rest = unix_secs % SECS_PER_DAY;
        let text = format!(
            "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        );
        AmzDate { text, unix_secs }
    }

    /// `yyyymmdd`: the date a credential scope must carry.
    pub fn date(&self) -> &str {
        &self.text[..8]
    }
}

/// Seconds since the epoch of an HTTP date: the three forms of RFC 9110
/// (`Tue, 27 Mar 2007 19:36:42 GMT`), or the first with a numeric zone
/// instead of `GMT` (`Tue, 27 Mar 2007 19:36:42 +0000`), as AWS's SigV2
/// examples and s3cmd write it. The weekday must be the date's.
pub fn http_date_secs(s: &str) -> Option<u64> {
    let secs = |t: std::time::SystemTime| Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs());
    if let Ok(t) = httpdate::parse_http_date(s) {
        return secs(t);
    }
    let (local, zone) = s.rsplit_once(' ')?;
    let offset_secs = zone_offset_secs(zone)?;
    let t = httpdate::parse_http_date(&format!("{local} GMT")).ok()?;
    secs(t)?.checked_add_signed(-offset_secs)
}

/// `+hhmm` or `-hhmm`: how far the local time is ahead of UTC.
fn zone_offset_secs(zone: &str) -> Option<i64> {
    let (sign, digits) = match zone.as_bytes() {
        [b'+', rest @ ..] => (1, rest),
        [b'-', rest @ ..] => (-1, rest),
        _ => return None,
    };
    let [h1, h2, m1, m2] = *digits else {
        return None;
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let (hours, minutes) = (
        i64::from((h1 - b'0') * 10 + (h2 - b'0')),
        i64::from((m1 - b'0') * 10 + (m2 - b'0')),
    );
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

fn is_leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_parse_to_unix_seconds() {
        // The AWS examples' date and the epoch convert as `date -u` says.
        let d = AmzDate::parse("20130524T000000Z").unwrap();
        assert_eq!(d.unix_secs, 1_369_353_600);
        assert_eq!(d.date(), "20130524");
        assert_eq!(AmzDate::parse("19700101T000000Z").unwrap().unix_secs, 0);
        let leap = AmzDate::parse("20240229T235959Z").unwrap();
        assert_eq!(leap.unix_secs, 1_709_251_199);
    }

    #[test]
    fn impossible_or_misshapen_dates_are_refused() {
        // Wrong length, separators, calendar days and clock fields are all None.
        for s in [
            "",
            "20130524T000000",
            "20130524 000000Z",
            "20130524T000000z",
            "2013052T0000000Z",
            "20130230T000000Z",
            "20230229T000000Z",
            "20131324T000000Z",
            "20130524T240000Z",
            "20130524T006000Z",
            "19691231T235959Z",
            "+0130524T000000Z",
            "2013052\u{e9}T00000Z",
        ] {
            assert_eq!(AmzDate::parse(s), None, "{s}");
        }
    }

    #[test]
    fn http_date_headers_are_signed_in_the_amz_form() {
        // `Date: Fri, 24 May 2013 00:00:00 GMT` signs as 20130524T000000Z.
        let d = AmzDate::parse_date_header("Fri, 24 May 2013 00:00:00 GMT").unwrap();
        assert_eq!(d.text, "20130524T000000Z");
        assert_eq!(d.unix_secs, 1_369_353_600);
        assert_eq!(
            AmzDate::parse_date_header("20130524T010203Z").unwrap().text,
            "20130524T010203Z"
        );
        assert_eq!(AmzDate::parse_date_header("yesterday"), None);
    }

    #[test]
    fn http_dates_with_numeric_zones_convert_to_utc() {
        // AWS's SigV2 examples write `+0000`; other offsets shift to UTC; the weekday is checked.
        let gmt = http_date_secs("Tue, 27 Mar 2007 19:36:42 GMT").unwrap();
        assert_eq!(gmt, 1_175_024_202);
        assert_eq!(http_date_secs("Tue, 27 Mar 2007 19:36:42 +0000"), Some(gmt));
        assert_eq!(http_date_secs("Tue, 27 Mar 2007 21:36:42 +0200"), Some(gmt));
        assert_eq!(http_date_secs("Tue, 27 Mar 2007 18:06:42 -0130"), Some(gmt));
        assert_eq!(
            AmzDate::parse_date_header("Tue, 27 Mar 2007 19:36:42 +0000")
                .unwrap()
                .unix_secs,
            gmt
        );
        for bad in [
            "Wed, 27 Mar 2007 19:36:42 +0000",
            "Tue, 27 Mar 2007 19:36:42 +2400",
            "Tue, 27 Mar 2007 19:36:42 +0060",
            "Tue, 27 Mar 2007 19:36:42 0000",
            "Tue, 27 Mar 2007 19:36:42 +00:00",
            "Tue, 27 Mar 2007 19:36:42 +\u{e9}00",
            "Thu, 01 Jan 1970 00:00:00 +0100",
            "+0000",
            "",
        ] {
            assert_eq!(http_date_secs(bad), None, "{bad}");
        }
    }

    #[test]
    fn civil_conversion_round_trips_over_centuries() {
        // Every 97th day from 1970 to 2400 formats and parses back to itself.
        for days in (0..157_000).step_by(97) {
            let secs = days * SECS_PER_DAY + days % SECS_PER_DAY;
            let d = AmzDate::from_unix_secs(secs);
            assert_eq!(AmzDate::parse(&d.text), Some(d.clone()), "{days}");
        }
    }
}
