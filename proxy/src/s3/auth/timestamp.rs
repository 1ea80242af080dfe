//! Request timestamps: SigV4's ISO 8601 basic form (`yyyymmddThhmmssZ`), the
//! HTTP `Date` forms, and the conversion between them and Unix seconds (UTC,
//! proleptic Gregorian calendar, no calendar crate).

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

    /// Parses a `Date` header: the SigV4 form, or any HTTP date form
    /// (`Fri, 24 May 2013 00:00:00 GMT`), which is signed in the SigV4 form.
    pub fn parse_date_header(s: &str) -> Option<AmzDate> {
        if let Some(d) = AmzDate::parse(s) {
            return Some(d);
        }
        let t = httpdate::parse_http_date(s).ok()?;
        let unix_secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
        Some(AmzDate::from_unix_secs(unix_secs))
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

/// Days since 1970-01-01 of a date on or after it (Howard Hinnant's algorithm).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01: the inverse of `days_from_civil`.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
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
    fn civil_conversion_round_trips_over_centuries() {
        // Every 97th day from 1970 to 2400 formats and parses back to itself.
        for days in (0..157_000).step_by(97) {
            let secs = days * SECS_PER_DAY + days % SECS_PER_DAY;
            let d = AmzDate::from_unix_secs(secs);
            assert_eq!(AmzDate::parse(&d.text), Some(d.clone()), "{days}");
        }
    }
}
