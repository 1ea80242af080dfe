//! Conditional requests: If-Match, If-None-Match, If-Modified-Since and
//! If-Unmodified-Since, judged against an object's ETag and Last-Modified.

use http::HeaderMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a conditional GET/HEAD should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CondOutcome {
    Proceed,
    NotModified,
    PreconditionFailed,
}

impl CondOutcome {
    /// The status a failed condition is answered with (Swift sends it with
    /// the object's headers and no body); `None` to go on.
    pub fn refusal(self) -> Option<http::StatusCode> {
        match self {
            CondOutcome::Proceed => None,
            CondOutcome::NotModified => Some(http::StatusCode::NOT_MODIFIED),
            CondOutcome::PreconditionFailed => Some(http::StatusCode::PRECONDITION_FAILED),
        }
    }
}

/// Whether the ETag list `value` (`*`, or comma-separated, quoted or not) names `etag`.
pub fn etag_list_matches(value: &str, etag: &str) -> bool {
    value
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t.eq_ignore_ascii_case(etag))
}

fn http_date_secs(headers: &HeaderMap, name: &str) -> Option<u64> {
    let v = headers.get(name)?.to_str().ok()?;
    let t = httpdate::parse_http_date(v).ok()?;
    Some(
        t.duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs(),
    )
}

/// Judges the conditions of a GET or HEAD against an object with `etag`
/// last modified at `last_modified_secs` (whole seconds, rounded up).
pub fn evaluate(headers: &HeaderMap, etag: &str, last_modified_secs: u64) -> CondOutcome {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    // As swob, If-Unmodified-Since is judged even when If-Match passed.
    if header("if-match").is_some_and(|im| !etag_list_matches(im, etag)) {
        return CondOutcome::PreconditionFailed;
    }
    if http_date_secs(headers, "if-unmodified-since").is_some_and(|t| last_modified_secs > t) {
        return CondOutcome::PreconditionFailed;
    }
    if let Some(inm) = header("if-none-match") {
        if etag_list_matches(inm, etag) {
            return CondOutcome::NotModified;
        }
    } else if http_date_secs(headers, "if-modified-since").is_some_and(|t| last_modified_secs <= t)
    {
        return CondOutcome::NotModified;
    }
    CondOutcome::Proceed
}

/// An HTTP date for whole seconds since the epoch.
pub fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn etag_conditions() {
        // If-Match must name the ETag; If-None-Match naming it is a 304.
        let e = "abc";
        assert_eq!(
            evaluate(&h(&[("if-match", "\"abc\"")]), e, 10),
            CondOutcome::Proceed
        );
        assert_eq!(
            evaluate(&h(&[("if-match", "x, abc")]), e, 10),
            CondOutcome::Proceed
        );
        assert_eq!(
            evaluate(&h(&[("if-match", "*")]), e, 10),
            CondOutcome::Proceed
        );
        assert_eq!(
            evaluate(&h(&[("if-match", "xyz")]), e, 10),
            CondOutcome::PreconditionFailed
        );
        assert_eq!(
            evaluate(&h(&[("if-none-match", "abc")]), e, 10),
            CondOutcome::NotModified
        );
        assert_eq!(
            evaluate(&h(&[("if-none-match", "*")]), e, 10),
            CondOutcome::NotModified
        );
        assert_eq!(
            evaluate(&h(&[("if-none-match", "xyz")]), e, 10),
            CondOutcome::Proceed
        );
    }

    #[test]
    fn date_conditions() {
        // Modified-since compares whole seconds; junk dates are ignored.
        let at = 1_700_000_000;
        let d = http_date(at);
        let before = http_date(at - 1);
        assert_eq!(
            evaluate(&h(&[("if-modified-since", &d)]), "e", at),
            CondOutcome::NotModified
        );
        assert_eq!(
            evaluate(&h(&[("if-modified-since", &before)]), "e", at),
            CondOutcome::Proceed
        );
        assert_eq!(
            evaluate(&h(&[("if-unmodified-since", &before)]), "e", at),
            CondOutcome::PreconditionFailed
        );
        assert_eq!(
            evaluate(&h(&[("if-unmodified-since", &d)]), "e", at),
            CondOutcome::Proceed
        );
        assert_eq!(
            evaluate(&h(&[("if-modified-since", "garbage")]), "e", at),
            CondOutcome::Proceed
        );
        // A matching If-Match does not excuse a failed If-Unmodified-Since.
        let both = h(&[("if-match", "e"), ("if-unmodified-since", &before)]);
        assert_eq!(evaluate(&both, "e", at), CondOutcome::PreconditionFailed);
        // An ETag condition takes precedence over the matching date condition.
        let both = h(&[("if-none-match", "zzz"), ("if-modified-since", &d)]);
        assert_eq!(evaluate(&both, "e", at), CondOutcome::Proceed);
    }
}
