//! A manifest PUT's body: Swift's `parse_and_validate_input` (the JSON list
//! of `path`/`etag`/`size_bytes`/`range` or `data` entries, with its exact
//! error lines), and `validate_seg_dict`, which checks one entry against
//! the segment's HEAD and turns it into a stored [`ObjectSegment`].

use super::manifest::{split_segment_path, ObjectSegment};
use crate::errors::SwiftError;
use crate::range::{self, RangePlan, RangeSpec};
use crate::server::respond::QUOTE;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use percent_encoding::utf8_percent_encode;
use serde_json::{Map, Value};

/// One entry of the PUT body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSegment {
    Data(Vec<u8>),
    Object(InputObject),
}

/// An object-backed entry as the client gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputObject {
    /// `/container/object` (the leading `/` optional), not percent-decoded.
    pub path: String,
    pub etag: Option<String>,
    pub size_bytes: Option<i64>,
    pub range: Option<RangeSpec>,
}

/// Parses and checks a manifest PUT body for the manifest `container/object`.
/// Errors are Swift's 400s: one `Index N: …` line per bad entry.
pub fn parse(body: &[u8], container: &str, object: &str) -> Result<Vec<InputSegment>, SwiftError> {
    let parsed: Value = serde_json::from_slice(body)
        .map_err(|_| SwiftError::BadRequest("Manifest must be valid JSON.\n".into()))?;
    let Value::Array(list) = parsed else {
        return Err(SwiftError::BadRequest("Manifest must be a list.\n".into()));
    };
    let last = list.len().saturating_sub(1);
    let myself = format!("{container}/{object}");
    let mut out = Vec::with_capacity(list.len());
    let mut errors = String::new();
    for (i, entry) in list.iter().enumerate() {
        match parse_entry(entry, i == last, &myself) {
            Ok(s) => out.push(s),
            Err(e) => errors.push_str(&format!("Index {i}: {e}\n")),
        }
    }
    let all_data = list
        .iter()
        .all(|e| e.as_object().is_some_and(|m| m.contains_key("data")));
    if !list.is_empty() && all_data {
        errors.push_str("Inline data segments require at least one object-backed segment.\n");
    }
    if !errors.is_empty() {
        return Err(SwiftError::BadRequest(errors));
    }
    Ok(out)
}

const TOO_SMALL: &str = "too small; each segment must be at least 1 byte.";

fn parse_entry(entry: &Value, is_last: bool, myself: &str) -> Result<InputSegment, String> {
    let Value::Object(m) = entry else {
        return Err("not a JSON object".into());
    };
    let (kind, allowed): (&str, &[&str]) = if m.contains_key("data") {
        ("data", &["data"])
    } else if m.contains_key("path") {
        ("path", &["path", "range", "etag", "size_bytes"])
    } else {
        return Err("expected keys to include one of 'data' or 'path'".into());
    };
    let mut extraneous: Vec<&String> = m
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    if !extraneous.is_empty() {
        extraneous.sort();
        let names: Vec<String> = extraneous
            .iter()
            .map(|k| Value::from(k.as_str()).to_string())
            .collect();
        return Err(format!("extraneous keys {}", names.join(", ")));
    }
    if kind == "data" {
        let data = m
            .get("data")
            .and_then(Value::as_str)
            .and_then(strict_b64decode)
            .ok_or("data must be valid base64")?;
        if data.is_empty() {
            return Err(TOO_SMALL.into());
        }
        return Ok(InputSegment::Data(data));
    }
    parse_object(m, is_last, myself).map(InputSegment::Object)
}

fn parse_object(
    m: &Map<String, Value>,
    is_last: bool,
    myself: &str,
) -> Result<InputObject, String> {
    let path = m
        .get("path")
        .and_then(Value::as_str)
        .ok_or("\"path\" must be a string")?;
    let etag = match m.get("etag") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("\"etag\" must be a string or null (if provided)".into()),
    };
    if !path.trim_matches('/').contains('/') {
        return Err(
            "path does not refer to an object. Path must be of the form /container/object.".into(),
        );
    }
    let size_bytes = match m.get("size_bytes") {
        None | Some(Value::Null) => None,
        Some(v) => Some(python_int(v).ok_or("invalid size_bytes")?),
    };
    if size_bytes.is_some_and(|s| s < 1) && !is_last {
        return Err(TOO_SMALL.into());
    }
    if path.trim_start_matches('/') == myself {
        return Err("manifest must not include itself as a segment".into());
    }
    let range = match m.get("range") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(v) => Some(parse_range(v, size_bytes)?),
    };
    Ok(InputObject {
        path: path.to_owned(),
        etag,
        size_bytes,
        range,
    })
}

/// One `range` value: a single syntactically valid range, satisfiable for
/// `size_bytes` when that was given.
fn parse_range(v: &Value, size_bytes: Option<i64>) -> Result<RangeSpec, String> {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let specs = range::parse_range(&format!("bytes={text}")).ok_or("invalid range")?;
    let [spec] = specs[..] else {
        return Err("multiple ranges (only one allowed)".into());
    };
    if let Some(size) = size_bytes {
        let size = u64::try_from(size).unwrap_or(0);
        if !matches!(range::plan(&[spec], size), RangePlan::Ranges(r) if r.len() == 1) {
            return Err("unsatisfiable range".into());
        }
    }
    Ok(spec)
}

/// Python's `int(v)` for the JSON values a client may send as a size.
fn python_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// Swift's `strict_b64decode`: only base64 characters, correct padding.
fn strict_b64decode(s: &str) -> Option<Vec<u8>> {
    let body = s.trim_matches('=');
    if !body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return None;
    }
    BASE64.decode(s).ok()
}

/// What validation needs of a segment's HEAD (as the requester sees it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHead {
    /// Unquoted; an SLO's SLO ETag.
    pub etag: String,
    /// An SLO's total size.
    pub size: u64,
    pub content_type: String,
    /// Swift's manifest timestamp of the Last-Modified second.
    pub last_modified: String,
    pub is_slo: bool,
}

/// A failed segment: its quoted path and the reason (a status line or a
/// mismatch), as in Swift's `Errors` list.
pub type Problem = (String, String);

/// Swift's `validate_seg_dict`: checks `seg` against its HEAD (or the
/// status line of its failure), records the problems found, and returns
/// the entry to store.
pub fn resolve(
    seg: &InputObject,
    head: Result<&SegmentHead, &str>,
    allow_empty: bool,
    problems: &mut Vec<Problem>,
) -> Option<ObjectSegment> {
    let quoted = utf8_percent_encode(&seg.path, QUOTE).to_string();
    let head = match head {
        Ok(h) => h,
        Err(status) => {
            problems.push((quoted, status.to_owned()));
            return None;
        }
    };
    let mut length = head.size;
    let mut stored_range = None;
    if let Some(spec) = seg.range {
        match range::plan(&[spec], head.size) {
            RangePlan::Ranges(r) if r[0] != (0, head.size) => {
                stored_range = Some((r[0].0, r[0].1 - 1));
                length = r[0].1 - r[0].0;
            }
            RangePlan::Ranges(_) => {}
            _ => problems.push((quoted.clone(), "Unsatisfiable Range".into())),
        }
    }
    if length < 1 && !allow_empty {
        problems.push((
            quoted.clone(),
            "Too small; each segment must be at least 1 byte.".into(),
        ));
    }
    if seg
        .size_bytes
        .is_some_and(|s| u64::try_from(s) != Ok(head.size))
    {
        problems.push((quoted.clone(), "Size Mismatch".into()));
    }
    if seg.etag.as_ref().is_some_and(|e| *e != head.etag) {
        problems.push((quoted, "Etag Mismatch".into()));
    }
    Some(ObjectSegment {
        name: format!("/{}", seg.path.trim_start_matches('/')),
        hash: head.etag.clone(),
        bytes: head.size,
        content_type: Some(head.content_type.clone()),
        last_modified: Some(head.last_modified.clone()),
        range: stored_range,
        sub_slo: head.is_slo,
    })
}

impl InputObject {
    /// `(container, object)` of the path (checked to exist by [`parse`]).
    pub fn container_object(&self) -> Option<(&str, &str)> {
        split_segment_path(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::super::manifest::Segment;
    use super::*;

    fn bad(body: &str) -> String {
        match parse(body.as_bytes(), "c", "man") {
            Err(SwiftError::BadRequest(m)) => m,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn entries_parse_with_optional_fields() {
        // Paths with etag/size/range, nulls, string sizes and data entries are accepted.
        let segs = parse(
            br#"[{"path": "/s/a", "etag": "e", "size_bytes": "10", "range": "1-2"},
                 {"path": "s/b", "etag": null, "size_bytes": null},
                 {"data": "eHk="}]"#,
            "c",
            "man",
        )
        .unwrap();
        assert_eq!(
            segs[0],
            InputSegment::Object(InputObject {
                path: "/s/a".into(),
                etag: Some("e".into()),
                size_bytes: Some(10),
                range: Some(RangeSpec::FromTo(1, Some(2))),
            })
        );
        assert!(
            matches!(&segs[1], InputSegment::Object(o) if o.etag.is_none() && o.size_bytes.is_none())
        );
        assert_eq!(segs[2], InputSegment::Data(b"xy".to_vec()));
        assert_eq!(parse(b"[]", "c", "man").unwrap(), vec![]);
    }

    #[test]
    fn bad_bodies_get_swifts_messages() {
        // Each bad entry gets its own `Index N:` line, worded as Swift words it.
        assert_eq!(bad("{"), "Manifest must be valid JSON.\n");
        assert_eq!(bad("{}"), "Manifest must be a list.\n");
        assert_eq!(
            bad(r#"[1, {"x": 1}, {"path": "/s/a", "teag": "e", "siz": 1}]"#),
            "Index 0: not a JSON object\n\
             Index 1: expected keys to include one of 'data' or 'path'\n\
             Index 2: extraneous keys \"siz\", \"teag\"\n"
        );
        assert_eq!(
            bad(r#"[{"path": 1}, {"path": "/s/a", "etag": 5}, {"path": "/nocontainer"}, {"path": "/s/a", "size_bytes": "x"}]"#),
            "Index 0: \"path\" must be a string\n\
             Index 1: \"etag\" must be a string or null (if provided)\n\
             Index 2: path does not refer to an object. Path must be of the form /container/object.\n\
             Index 3: invalid size_bytes\n"
        );
        assert_eq!(
            bad(
                r#"[{"path": "/s/a", "size_bytes": 0}, {"path": "/c/man"}, {"path": "/s/a", "range": "x"}, {"path": "/s/a", "range": "0-1,3-4"}, {"path": "/s/a", "size_bytes": 5, "range": "7-9"}]"#
            ),
            "Index 0: too small; each segment must be at least 1 byte.\n\
             Index 1: manifest must not include itself as a segment\n\
             Index 2: invalid range\n\
             Index 3: multiple ranges (only one allowed)\n\
             Index 4: unsatisfiable range\n"
        );
        assert_eq!(
            bad(r#"[{"data": "!!"}, {"data": ""}, {"path": "/s/a", "data": "eA=="}]"#),
            "Index 0: data must be valid base64\n\
             Index 1: too small; each segment must be at least 1 byte.\n\
             Index 2: extraneous keys \"path\"\n\
             Inline data segments require at least one object-backed segment.\n"
        );
        assert_eq!(
            bad(r#"[{"data": "eA=="}]"#),
            "Inline data segments require at least one object-backed segment.\n"
        );
    }

    fn head(size: u64) -> SegmentHead {
        SegmentHead {
            etag: "e1".into(),
            size,
            content_type: "text/plain".into(),
            last_modified: "2023-11-14T22:13:20.000000".into(),
            is_slo: false,
        }
    }

    fn input(range: Option<RangeSpec>, etag: Option<&str>, size: Option<i64>) -> InputObject {
        InputObject {
            path: "/s/a b".into(),
            etag: etag.map(str::to_owned),
            size_bytes: size,
            range,
        }
    }

    #[test]
    fn resolving_against_the_head_normalises_ranges() {
        // A suffix range becomes first-last; a range covering everything is dropped.
        let mut problems = Vec::new();
        let seg = resolve(
            &input(Some(RangeSpec::Suffix(3)), None, None),
            Ok(&head(10)),
            false,
            &mut problems,
        )
        .unwrap();
        assert_eq!(
            (seg.range, Segment::Object(seg).length()),
            (Some((7, 9)), 3)
        );
        let seg = resolve(
            &input(Some(RangeSpec::FromTo(0, None)), Some("e1"), Some(10)),
            Ok(&head(10)),
            false,
            &mut problems,
        )
        .unwrap();
        assert_eq!(
            (seg.range, seg.bytes, seg.name.as_str()),
            (None, 10, "/s/a b")
        );
        assert!(problems.is_empty());
    }

    #[test]
    fn resolving_records_every_problem() {
        // Missing segments, mismatches, empty and unsatisfiable ranges are listed with quoted paths.
        let mut problems = Vec::new();
        resolve(
            &input(None, None, None),
            Err("404 Not Found"),
            false,
            &mut problems,
        );
        resolve(
            &input(Some(RangeSpec::FromTo(20, None)), Some("zz"), Some(9)),
            Ok(&head(10)),
            false,
            &mut problems,
        );
        resolve(&input(None, None, None), Ok(&head(0)), false, &mut problems);
        resolve(&input(None, None, None), Ok(&head(0)), true, &mut problems);
        let q = "/s/a%20b".to_owned();
        assert_eq!(
            problems,
            vec![
                (q.clone(), "404 Not Found".to_owned()),
                (q.clone(), "Unsatisfiable Range".to_owned()),
                (q.clone(), "Size Mismatch".to_owned()),
                (q.clone(), "Etag Mismatch".to_owned()),
                (
                    q,
                    "Too small; each segment must be at least 1 byte.".to_owned()
                ),
            ]
        );
    }
}
