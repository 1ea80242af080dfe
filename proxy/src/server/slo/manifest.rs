//! The stored manifest: the JSON list that is a Static Large Object's body,
//! as Swift's `slo` middleware writes it (`name`, `bytes`, `hash`,
//! `content_type`, `last_modified`, `range`, `sub_slo`, or inline `data`);
//! its parsing, its `format=raw` rendering (the PUT input format) and the
//! SLO ETag and size it defines.

use super::pyjson::{self, Value};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use md5::{Digest, Md5};

/// One entry of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Inline bytes (stored base64-encoded).
    Data(Vec<u8>),
    Object(ObjectSegment),
}

/// An object-backed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSegment {
    /// `/container/object`, in the manifest's account.
    pub name: String,
    /// The segment's ETag when the manifest was written (a sub-SLO's SLO ETag).
    pub hash: String,
    /// The whole segment's length (a sub-SLO's total size).
    pub bytes: u64,
    /// Recorded by a validated PUT; absent in manifests written by
    /// [`super::put_manifest`].
    pub content_type: Option<String>,
    pub last_modified: Option<String>,
    /// The inclusive `(first, last)` bytes used, when not the whole segment.
    pub range: Option<(u64, u64)>,
    /// Whether the segment is itself an SLO manifest.
    pub sub_slo: bool,
}

impl ObjectSegment {
    /// `(container, object)` of [`ObjectSegment::name`].
    pub fn container_object(&self) -> Option<(&str, &str)> {
        split_segment_path(&self.name)
    }
}

/// `(container, object)` of a segment path `/container/object` (the
/// leading `/` optional); `None` without both parts.
pub fn split_segment_path(path: &str) -> Option<(&str, &str)> {
    let (c, o) = path.trim_start_matches('/').split_once('/')?;
    (!c.is_empty() && !o.is_empty()).then_some((c, o))
}

impl Segment {
    /// The bytes this entry adds to the concatenation.
    pub fn length(&self) -> u64 {
        match self {
            Segment::Data(d) => d.len() as u64,
            Segment::Object(o) => match o.range {
                Some((first, last)) => last - first + 1,
                None => o.bytes,
            },
        }
    }

    /// What the entry contributes to the SLO ETag: the md5 of inline data,
    /// `hash:first-last;` for a range, else the hash.
    fn etag_part(&self) -> String {
        match self {
            Segment::Data(d) => hex::encode(Md5::digest(d)),
            Segment::Object(o) => match o.range {
                Some((first, last)) => format!("{}:{first}-{last};", o.hash),
                None => o.hash.clone(),
            },
        }
    }
}

/// The SLO ETag: md5 over every entry's part (see Swift's slo.py).
pub fn slo_etag(segments: &[Segment]) -> String {
    let mut h = Md5::new();
    for s in segments {
        h.update(s.etag_part().as_bytes());
    }
    hex::encode(h.finalize())
}

/// The concatenation's length.
pub fn total_bytes(segments: &[Segment]) -> u64 {
    segments.iter().map(Segment::length).sum()
}

fn range_text((first, last): (u64, u64)) -> String {
    format!("{first}-{last}")
}

/// The stored form, exactly as Swift's `json.dumps` writes it.
pub fn to_json(segments: &[Segment]) -> String {
    json_list(segments, |out, o, range| {
        let mut fields = vec![
            ("name", Value::Str(&o.name)),
            ("bytes", Value::Int(o.bytes)),
            ("hash", Value::Str(&o.hash)),
        ];
        if let Some(ct) = &o.content_type {
            fields.push(("content_type", Value::Str(ct)));
        }
        if let Some(lm) = &o.last_modified {
            fields.push(("last_modified", Value::Str(lm)));
        }
        if let Some(r) = range {
            fields.push(("range", Value::Str(r)));
        }
        if o.sub_slo {
            fields.push(("sub_slo", Value::Bool(true)));
        }
        pyjson::object(out, &fields);
    })
}

/// `multipart-manifest=get&format=raw`: the list in the PUT input format
/// (`path`, `etag`, `size_bytes`, `range`), keys sorted as Swift sorts them.
pub fn to_raw_json(segments: &[Segment]) -> String {
    json_list(segments, |out, o, range| {
        let mut fields = vec![("etag", Value::Str(&o.hash)), ("path", Value::Str(&o.name))];
        if let Some(r) = range {
            fields.push(("range", Value::Str(r)));
        }
        fields.push(("size_bytes", Value::Int(o.bytes)));
        pyjson::object(out, &fields);
    })
}

/// A JSON list of `segments`: data segments as `{"data": base64}`, object
/// segments written by `object` (given the segment and its range text).
fn json_list(
    segments: &[Segment],
    object: impl Fn(&mut String, &ObjectSegment, Option<&str>),
) -> String {
    let mut out = String::from("[");
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match s {
            Segment::Data(d) => {
                let encoded = BASE64.encode(d);
                pyjson::object(&mut out, &[("data", Value::Str(&encoded))]);
            }
            Segment::Object(o) => {
                let range = o.range.map(range_text);
                object(&mut out, o, range.as_deref());
            }
        }
    }
    out.push(']');
    out
}

/// Parses a stored manifest; `Err` says what is wrong with it.
pub fn parse(body: &[u8]) -> Result<Vec<Segment>, String> {
    let list: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(body).map_err(|e| format!("not a manifest: {e}"))?;
    list.iter()
        .enumerate()
        .map(|(i, m)| parse_entry(m).map_err(|e| format!("entry {i}: {e}")))
        .collect()
}

fn parse_entry(m: &serde_json::Map<String, serde_json::Value>) -> Result<Segment, String> {
    use serde_json::Value as J;
    if let Some(d) = m.get("data") {
        let text = d.as_str().ok_or("data is not a string")?;
        let bytes = BASE64.decode(text).map_err(|e| format!("data: {e}"))?;
        return Ok(Segment::Data(bytes));
    }
    let text = |k: &str| m.get(k).and_then(J::as_str).map(str::to_owned);
    let bytes = match m.get("bytes") {
        Some(J::Number(n)) => n.as_u64(),
        Some(J::String(s)) => s.parse().ok(),
        _ => None,
    };
    let range = match text("range") {
        Some(r) => {
            let (a, b) = r.split_once('-').ok_or("range is not first-last")?;
            let first: u64 = a.parse().map_err(|_| "bad range start")?;
            let last: u64 = b.parse().map_err(|_| "bad range end")?;
            if last < first {
                return Err("empty range".into());
            }
            Some((first, last))
        }
        None => None,
    };
    let sub_slo = match m.get("sub_slo") {
        Some(J::Bool(b)) => *b,
        Some(J::String(s)) => crate::server::is_true(Some(s)),
        _ => false,
    };
    Ok(Segment::Object(ObjectSegment {
        name: text("name").ok_or("no name")?,
        hash: text("hash").ok_or("no hash")?,
        bytes: bytes.ok_or("no bytes")?,
        content_type: text("content_type"),
        last_modified: text("last_modified"),
        range,
        sub_slo,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str, hash: &str, bytes: u64, range: Option<(u64, u64)>) -> Segment {
        Segment::Object(ObjectSegment {
            name: name.into(),
            hash: hash.into(),
            bytes,
            content_type: Some("text/plain".into()),
            last_modified: Some("2023-11-14T22:13:20.000000".into()),
            range,
            sub_slo: false,
        })
    }

    #[test]
    fn stored_form_round_trips_in_swifts_layout() {
        // The stored JSON has Swift's key order and separators, and parses back.
        let segs = vec![
            object("/c/a", "h1", 10, None),
            Segment::Data(b"xy".to_vec()),
            object("/c/b", "h2", 10, Some((2, 5))),
        ];
        let json = to_json(&segs);
        assert_eq!(
            json,
            r#"[{"name": "/c/a", "bytes": 10, "hash": "h1", "content_type": "text/plain", "last_modified": "2023-11-14T22:13:20.000000"}, {"data": "eHk="}, {"name": "/c/b", "bytes": 10, "hash": "h2", "content_type": "text/plain", "last_modified": "2023-11-14T22:13:20.000000", "range": "2-5"}]"#
        );
        assert_eq!(parse(json.as_bytes()).unwrap(), segs);
    }

    #[test]
    fn raw_form_is_the_put_input_with_sorted_keys() {
        // format=raw renames name/hash/bytes to path/etag/size_bytes and drops the rest.
        let segs = vec![
            object("/c/a", "h1", 10, Some((0, 3))),
            Segment::Data(b"z".to_vec()),
        ];
        assert_eq!(
            to_raw_json(&segs),
            r#"[{"etag": "h1", "path": "/c/a", "range": "0-3", "size_bytes": 10}, {"data": "eg=="}]"#
        );
    }

    #[test]
    fn slo_etag_and_length_follow_swift() {
        // Ranges enter the ETag as `hash:first-last;`, data as its md5; lengths use the range.
        let segs = vec![
            object("/c/a", "h1", 10, None),
            object("/c/b", "h2", 10, Some((1, 2))),
            Segment::Data(b"abc".to_vec()),
        ];
        let expected = hex::encode(Md5::digest(
            format!("h1h2:1-2;{}", hex::encode(Md5::digest(b"abc"))).as_bytes(),
        ));
        assert_eq!(slo_etag(&segs), expected);
        assert_eq!(total_bytes(&segs), 10 + 2 + 3);
    }

    #[test]
    fn malformed_manifests_are_refused() {
        // Missing fields, bad ranges and non-lists are errors, not panics.
        for bad in [
            &b"{}"[..],
            b"[{\"name\": \"/c/o\", \"bytes\": 1}]",
            b"[{\"name\": \"/c/o\", \"hash\": \"h\", \"bytes\": 1, \"range\": \"5-2\"}]",
            b"[{\"data\": \"!!\"}]",
            b"not json",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
