//! S3's timestamps (`2026-11-25T13:55:09.000Z`) and the rounding that keeps a listing's `LastModified` equal to the
//! object's `Last-Modified` header.

use cairn_base::civil::civil_from_days;
use cairn_base::Timestamp;

const SECS_PER_DAY: u64 = 86_400;
const MILLIS_MAX: u32 = 999;

/// UTC ISO 8601 with milliseconds, as S3 writes `LastModified`,
/// `CreationDate` and `Initiated`. `millis` above 999 is clamped.
pub fn iso8601(unix_secs: u64, millis: u32) -> String {
    let (y, m, d) = civil_from_days(unix_secs / SECS_PER_DAY);
    let rem = unix_secs % SECS_PER_DAY;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        millis.min(MILLIS_MAX)
    )
}

/// A timestamp as S3 documents show it: rounded up to whole seconds, as the
/// `Last-Modified` header rounds it (s3api does the same), so that a client
/// comparing a listing with a HEAD sees one time.
pub fn s3_time(ts: Timestamp) -> String {
    let secs = ts.secs();
    let ceil = if Timestamp::from_secs(secs) == ts {
        secs
    } else {
        secs + 1
    };
    iso8601(ceil, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates_convert() {
        // Epoch, leap days, century rules and a date in the S3 docs' style.
        assert_eq!(iso8601(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400, 0), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
        assert_eq!(iso8601(1_709_164_800, 0), "2024-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_255_369_830, 0), "2009-10-12T17:50:30.000Z");
        assert_eq!(iso8601(1_795_614_909, 123), "2026-11-25T13:55:09.123Z");
        assert_eq!(iso8601(253_402_300_799, 999), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn every_day_follows_the_previous_one() {
        // Over 1970..2400 each day is the calendar successor of the one before.
        let days_in = |y: u64, m: u64| match (m, y % 4, y % 100, y % 400) {
            (2, _, _, 0) => 29,
            (2, _, 0, _) => 28,
            (2, 0, _, _) => 29,
            (2, _, _, _) => 28,
            (4 | 6 | 9 | 11, ..) => 30,
            _ => 31,
        };
        let mut prev = civil_from_days(0);
        for day in 1..157_000 {
            let (y, m, d) = civil_from_days(day);
            let (py, pm, pd) = prev;
            let want = if pd < days_in(py, pm) {
                (py, pm, pd + 1)
            } else if pm < 12 {
                (py, pm + 1, 1)
            } else {
                (py + 1, 1, 1)
            };
            assert_eq!((y, m, d), want, "day {day}");
            prev = (y, m, d);
        }
    }

    #[test]
    fn out_of_range_inputs_do_not_panic() {
        // Clamped milliseconds; the largest timestamp still formats.
        assert_eq!(iso8601(0, 5000), "1970-01-01T00:00:00.999Z");
        assert!(iso8601(u64::MAX, 0).ends_with('Z'));
    }

    #[test]
    fn s3_time_rounds_up_to_whole_seconds() {
        // A fractional timestamp shows the next second, like Last-Modified.
        let exact = Timestamp::from_secs(1_700_000_000);
        assert_eq!(s3_time(exact), "2023-11-14T22:13:20.000Z");
        assert_eq!(s3_time(exact.next()), "2023-11-14T22:13:21.000Z");
    }
}
