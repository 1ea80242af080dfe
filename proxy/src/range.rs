//! `Range` headers, exactly as Swift's swob reads them: a syntactically bad
//! header is ignored (200), an unsatisfiable one is a 416, several ranges are
//! served as `multipart/byteranges`.

/// More ranges than this are refused with 416 (swob's `MAX_RANGES`).
pub const RANGES_MAX: usize = 50;
const RANGE_OVERLAPS_MAX: usize = 2;
const NONASCENDING_RANGES_MAX: usize = 8;

/// One syntactically valid byte-range-spec: `a-b`, `a-` or `-n` (suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    FromTo(u64, Option<u64>),
    Suffix(u64),
}

/// Parses a Range header; `None` when it must be ignored.
pub fn parse_range(value: &str) -> Option<Vec<RangeSpec>> {
    let v: String = value.chars().filter(|c| *c != ' ').collect();
    // `get`, not indexing: byte 6 may fall inside a multi-byte character.
    let rest = match v.get(..6) {
        Some(unit) if unit.eq_ignore_ascii_case("bytes=") => &v[6..],
        _ => return None,
    };
    let mut specs = Vec::new();
    for rng in rest.split(',') {
        let (start, end) = rng.split_once('-')?;
        let end = if end.is_empty() {
            None
        } else {
            Some(digits(end)?)
        };
        let spec = if start.is_empty() {
            RangeSpec::Suffix(end?)
        } else {
            let s = digits(start)?;
            if end.is_some_and(|e| e < s) {
                return None;
            }
            RangeSpec::FromTo(s, end)
        };
        specs.push(spec);
    }
    Some(specs)
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// What to serve for a Range against an object of `length` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangePlan {
    /// Serve the whole object (200).
    Whole,
    /// Serve these half-open `[start, end)` ranges (206).
    Ranges(Vec<(u64, u64)>),
    /// 416.
    Unsatisfiable,
}

/// swob's `ranges_for_length`.
pub fn plan(specs: &[RangeSpec], length: u64) -> RangePlan {
    if specs.is_empty() {
        return RangePlan::Whole;
    }
    let mut out = Vec::new();
    for spec in specs {
        match *spec {
            RangeSpec::Suffix(0) => {}
            RangeSpec::Suffix(n) => out.push((length.saturating_sub(n), length)),
            RangeSpec::FromTo(b, None) if b < length => out.push((b, length)),
            RangeSpec::FromTo(b, Some(e)) if b < length => {
                out.push((b, e.saturating_add(1).min(length)))
            }
            RangeSpec::FromTo(..) => {}
        }
    }
    // A suffix range of an empty object is empty: it satisfies nothing.
    out.retain(|(s, e)| s < e);
    if out.is_empty() || out.len() > RANGES_MAX || too_many_overlaps(&out) {
        return RangePlan::Unsatisfiable;
    }
    let ascending = out.windows(2).all(|w| w[0] <= w[1]);
    if !ascending && out.len() >= NONASCENDING_RANGES_MAX {
        return RangePlan::Unsatisfiable;
    }
    RangePlan::Ranges(out)
}

fn too_many_overlaps(r: &[(u64, u64)]) -> bool {
    let mut overlaps = 0;
    for (i, &(s1, e1)) in r.iter().enumerate() {
        for &(s2, e2) in &r[i + 1..] {
            let hit = (s1 < s2 && s2 < e1)
                || (s1 < e2 && e2 < e1)
                || (s2 < s1 && s1 < e2)
                || (s2 < e1 && e1 < e2);
            if hit {
                overlaps += 1;
                if overlaps > RANGE_OVERLAPS_MAX {
                    return true;
                }
            }
        }
    }
    false
}

/// The header of one part of a `multipart/byteranges` body.
pub fn part_header(boundary: &str, content_type: &str, (s, e): (u64, u64), length: u64) -> String {
    format!(
        "--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {s}-{}/{length}\r\n\r\n",
        e - 1
    )
}

/// The closing delimiter of a `multipart/byteranges` body.
pub fn closing(boundary: &str) -> String {
    format!("--{boundary}--")
}

/// Total body length of a multipart answer, for its Content-Length.
pub fn multipart_length(
    boundary: &str,
    content_type: &str,
    ranges: &[(u64, u64)],
    length: u64,
) -> u64 {
    let parts: u64 = ranges
        .iter()
        .map(|&r| part_header(boundary, content_type, r, length).len() as u64 + (r.1 - r.0) + 2)
        .sum();
    parts + closing(boundary).len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(h: &str, len: u64) -> RangePlan {
        match parse_range(h) {
            None => RangePlan::Whole,
            Some(s) => plan(&s, len),
        }
    }

    #[test]
    fn single_ranges() {
        // Start-end, open-ended and suffix ranges clamp to the object.
        assert_eq!(p("bytes=0-4", 10), RangePlan::Ranges(vec![(0, 5)]));
        assert_eq!(p("bytes=5-", 10), RangePlan::Ranges(vec![(5, 10)]));
        assert_eq!(p("bytes=-3", 10), RangePlan::Ranges(vec![(7, 10)]));
        assert_eq!(p("bytes=-30", 10), RangePlan::Ranges(vec![(0, 10)]));
        assert_eq!(p("bytes=8-100", 10), RangePlan::Ranges(vec![(8, 10)]));
        assert_eq!(p("Bytes = 1-1", 10), RangePlan::Ranges(vec![(1, 2)]));
    }

    #[test]
    fn invalid_headers_are_ignored() {
        // Syntax errors mean "serve the whole object", as the RFC demands.
        for h in [
            "",
            "bytes=",
            "bytes=5-3",
            "bytes=-",
            "bytes=45",
            "bytes=a-b",
            "items=0-1",
            "bytes=0-1,x",
            "bytes=-1-2",
        ] {
            assert_eq!(p(h, 10), RangePlan::Whole, "{h}");
        }
    }

    #[test]
    fn non_ascii_unit_is_ignored() {
        // A multi-byte character straddling byte 6 (found by the fuzzer) is ignored, not a panic.
        for h in ["bytes\u{e9}=0-1", "%%f\u{519}\u{4c8}", "abcde\u{e9}"] {
            assert_eq!(p(h, 10), RangePlan::Whole, "{h}");
        }
    }

    #[test]
    fn unsatisfiable_ranges() {
        // Ranges past the end, zero suffixes and empty objects are 416s.
        assert_eq!(p("bytes=10-", 10), RangePlan::Unsatisfiable);
        assert_eq!(p("bytes=-0", 10), RangePlan::Unsatisfiable);
        assert_eq!(p("bytes=0-", 0), RangePlan::Unsatisfiable);
        assert_eq!(p("bytes=-5", 0), RangePlan::Unsatisfiable);
        let many: Vec<String> = (0..51).map(|i| format!("{i}-{i}")).collect();
        assert_eq!(
            p(&format!("bytes={}", many.join(",")), 100),
            RangePlan::Unsatisfiable
        );
        assert_eq!(p("bytes=0-5,1-6,2-7,3-8", 10), RangePlan::Unsatisfiable);
    }

    #[test]
    fn largest_end_clamps() {
        // An end of u64::MAX clamps to the object instead of overflowing `end + 1`.
        assert_eq!(
            p("bytes=0-18446744073709551615", 10),
            RangePlan::Ranges(vec![(0, 10)])
        );
    }

    #[test]
    fn multiple_ranges_and_body_length() {
        // Satisfiable parts are kept in order; the computed length matches the rendered body.
        let r = match p("bytes=0-1,20-30,5-6", 10) {
            RangePlan::Ranges(r) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(r, vec![(0, 2), (5, 7)]);
        let mut body = String::new();
        for &x in &r {
            body.push_str(&part_header("b", "text/plain", x, 10));
            body.push_str(&"x".repeat((x.1 - x.0) as usize));
            body.push_str("\r\n");
        }
        body.push_str(&closing("b"));
        assert_eq!(
            multipart_length("b", "text/plain", &r, 10),
            body.len() as u64
        );
        assert!(body.contains("Content-Range: bytes 5-6/10"));
    }
}
