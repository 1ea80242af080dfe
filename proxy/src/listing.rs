//! Account and container listings: the query parameters and the plain,
//! JSON and XML renderings Swift clients parse.

use crate::errors::SwiftError;
use crate::path::param;
use cairn_base::Timestamp;
use cairn_meta_api::{ContainerListItem, ListQuery, ObjectEntry, ObjectListItem};
use std::fmt::Write;

/// A listing's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Json,
    /// XML, answered with the media type the client asked for.
    Xml(&'static str),
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Plain => "text/plain; charset=utf-8",
            Format::Json => "application/json; charset=utf-8",
            Format::Xml(t) => t,
        }
    }
}

const OFFERS: [(&str, Format); 4] = [
    ("text/plain", Format::Plain),
    ("application/json", Format::Json),
    (
        "application/xml",
        Format::Xml("application/xml; charset=utf-8"),
    ),
    ("text/xml", Format::Xml("text/xml; charset=utf-8")),
];

/// The format from `?format=` or else the Accept header; `None` is a 406.
pub fn choose_format(format_param: Option<&str>, accept: Option<&str>) -> Option<Format> {
    if let Some(f) = format_param {
        return Some(match f.to_ascii_lowercase().as_str() {
            "json" => Format::Json,
            "xml" => Format::Xml("application/xml; charset=utf-8"),
            _ => Format::Plain,
        });
    }
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Format::Plain);
    };
    let mut best: Option<(f32, Format)> = None;
    for (media, fmt) in OFFERS {
        let q = accept_q(accept, media);
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, fmt));
        }
    }
    best.map(|(_, f)| f)
}

/// The q-value `accept` gives `media`, by the most specific matching range.
fn accept_q(accept: &str, media: &str) -> f32 {
    let (mtype, _) = media.split_once('/').unwrap_or((media, ""));
    let mut best: Option<(u8, f32)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let specificity = if range == media {
            3
        } else if range.strip_suffix("/*") == Some(mtype) {
            2
        } else if range == "*/*" || range == "*" {
            1
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.map(|(_, q)| q).unwrap_or(0.0)
}

/// Builds the metadata query from `prefix`, `delimiter`, `marker`,
/// `end_marker`, `limit` and `reverse`, checked as Swift checks them.
pub fn list_query(params: &[(String, String)], limit_max: usize) -> Result<ListQuery, SwiftError> {
    let mut limit = limit_max;
    if let Some(l) =
        param(params, "limit").filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    {
        let n: usize = l.parse().unwrap_or(usize::MAX);
        if n > limit_max {
            return Err(SwiftError::PreconditionFailed(Some(format!(
                "Maximum limit is {limit_max}"
            ))));
        }
        limit = n;
    }
    let delimiter = match param(params, "delimiter") {
        None | Some("") => None,
        Some(d) => Some(d.to_owned()),
    };
    let nonempty = |n: &str| {
        param(params, n)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let reverse = param(params, "reverse").is_some_and(|r| {
        matches!(
            r.to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on" | "t" | "y"
        )
    });
    Ok(ListQuery {
        prefix: nonempty("prefix"),
        delimiter,
        marker: nonempty("marker"),
        end_marker: nonempty("end_marker"),
        limit,
        reverse,
    })
}

/// Swift's listing timestamp: `2023-11-14T22:13:20.123450` (UTC, microseconds).
pub fn iso_timestamp(ts: Timestamp) -> String {
    let secs = ts.secs();
    let micros = ts.micros() % 1_000_000;
    let (y, m, d) = cairn_base::civil::civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn xml_escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The listed size of a large object rides on its row's content type.
const SWIFT_BYTES_PARAM: &str = "swift_bytes=";
/// The SLO ETag rides on its row's hash.
const SLO_ETAG_PARAM: &str = "slo_etag=";
/// So does the S3 ETag of a multipart upload's object (as s3api keeps it).
const S3_ETAG_PARAM: &str = "s3_etag=";

/// The listing row of a large object, as Swift's container server keeps it:
/// the manifest's own `etag` with `; slo_etag=E` (and `; s3_etag=S` for an
/// S3 multipart object) and its `content_type` with `;swift_bytes=N`, the
/// size clients see. The row's size stays the
/// manifest's own, so container and account byte counts do not count the
/// segments twice.
pub fn large_object_row(
    etag: &str,
    slo_etag: &str,
    s3_etag: Option<&str>,
    content_type: &str,
    listed_bytes: u64,
) -> (String, String) {
    let mut hash = format!("{etag}; {SLO_ETAG_PARAM}{slo_etag}");
    if let Some(s3) = s3_etag {
        hash.push_str(&format!("; {S3_ETAG_PARAM}{s3}"));
    }
    (
        hash,
        format!("{content_type};{SWIFT_BYTES_PARAM}{listed_bytes}"),
    )
}

/// An object row as clients see it: [`large_object_row`]'s parameters
/// taken out of the hash and the content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownEntry<'a> {
    pub hash: &'a str,
    /// The SLO ETag, unquoted.
    pub slo_etag: Option<&'a str>,
    /// An S3 multipart object's ETag, unquoted.
    pub s3_etag: Option<&'a str>,
    pub bytes: u64,
    pub content_type: &'a str,
}

impl<'a> ShownEntry<'a> {
    pub fn of(e: &'a ObjectEntry) -> Self {
        let mut params = e.etag.split(';');
        let hash = params.next().unwrap_or_default().trim_end();
        let (mut slo_etag, mut s3_etag) = (None, None);
        for p in params.map(str::trim) {
            if let Some(v) = p.strip_prefix(SLO_ETAG_PARAM) {
                slo_etag = Some(v);
            } else if let Some(v) = p.strip_prefix(S3_ETAG_PARAM) {
                s3_etag = Some(v);
            }
        }
        let swift_bytes = e.content_type.rsplit_once(';').and_then(|(ct, param)| {
            let n = param.trim_start().strip_prefix(SWIFT_BYTES_PARAM)?;
            Some((ct, n.parse::<u64>().ok()?))
        });
        let (content_type, bytes) = swift_bytes.unwrap_or((&e.content_type, e.size));
        ShownEntry {
            hash,
            slo_etag,
            s3_etag,
            bytes,
            content_type,
        }
    }
}

/// Renders an object listing; `None` for an empty plain listing (a 204).
pub fn render_objects(fmt: Format, container: &str, items: &[ObjectListItem]) -> Option<String> {
    let mut out = String::new();
    match fmt {
        Format::Plain => {
            if items.is_empty() {
                return None;
            }
            for it in items {
                let name = match it {
                    ObjectListItem::Object(e) => &e.name,
                    ObjectListItem::Subdir(s) => s,
                };
                out.push_str(name);
                out.push('\n');
            }
        }
        Format::Json => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match it {
                    ObjectListItem::Object(e) => {
                        let shown = ShownEntry::of(e);
                        let _ = write!(
                            out,
                            "{{\"hash\": {}, \"last_modified\": \"{}\", \"bytes\": {}, \"name\": {}, \"content_type\": {}",
                            json_str(shown.hash),
                            iso_timestamp(e.ts),
                            shown.bytes,
                            json_str(&e.name),
                            json_str(shown.content_type)
                        );
                        if let Some(slo) = shown.slo_etag {
                            let _ =
                                write!(out, ", \"slo_etag\": {}", json_str(&format!("\"{slo}\"")));
                        }
                        out.push('}');
                    }
                    ObjectListItem::Subdir(s) => {
                        let _ = write!(out, "{{\"subdir\": {}}}", json_str(s));
                    }
                }
            }
            out.push(']');
        }
        Format::Xml(_) => {
            out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<container name=\"");
            xml_escape(&mut out, container);
            out.push_str("\">");
            for it in items {
                match it {
                    ObjectListItem::Object(e) => {
                        let shown = ShownEntry::of(e);
                        out.push_str("<object><name>");
                        xml_escape(&mut out, &e.name);
                        let _ = write!(
                            out,
                            "</name><hash>{}</hash><bytes>{}</bytes><content_type>",
                            shown.hash, shown.bytes
                        );
                        xml_escape(&mut out, shown.content_type);
                        let _ = write!(
                            out,
                            "</content_type><last_modified>{}</last_modified></object>",
                            iso_timestamp(e.ts)
                        );
                    }
                    ObjectListItem::Subdir(s) => {
                        out.push_str("<subdir name=\"");
                        xml_escape(&mut out, s);
                        out.push_str("\"><name>");
                        xml_escape(&mut out, s);
                        out.push_str("</name></subdir>");
                    }
                }
            }
            out.push_str("</container>");
        }
    }
    Some(out)
}

/// The one storage policy, named in account listings as Swift names it.
pub const STORAGE_POLICY: &str = "Policy-0";

/// Renders a container listing; `None` for an empty plain listing (a 204).
pub fn render_containers(
    fmt: Format,
    account: &str,
    items: &[ContainerListItem],
) -> Option<String> {
    let mut out = String::new();
    match fmt {
        Format::Plain => {
            if items.is_empty() {
                return None;
            }
            for it in items {
                let name = match it {
                    ContainerListItem::Container { name, .. } | ContainerListItem::Subdir(name) => {
                        name
                    }
                };
                out.push_str(name);
                out.push('\n');
            }
        }
        Format::Json => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match it {
                    ContainerListItem::Container {
                        name,
                        object_count,
                        bytes_used,
                        last_modified,
                    } => {
                        let _ = write!(
                            out,
                            "{{\"name\": {}, \"count\": {object_count}, \"bytes\": {bytes_used}, \"last_modified\": \"{}\", \"storage_policy\": \"{STORAGE_POLICY}\"}}",
                            json_str(name),
                            iso_timestamp(*last_modified)
                        );
                    }
                    ContainerListItem::Subdir(s) => {
                        let _ = write!(out, "{{\"subdir\": {}}}", json_str(s));
                    }
                }
            }
            out.push(']');
        }
        Format::Xml(_) => {
            out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<account name=\"");
            xml_escape(&mut out, account);
            out.push_str("\">");
            for it in items {
                match it {
                    ContainerListItem::Container {
                        name,
                        object_count,
                        bytes_used,
                        last_modified,
                    } => {
                        out.push_str("<container><name>");
                        xml_escape(&mut out, name);
                        let _ = write!(
                            out,
                            "</name><count>{object_count}</count><bytes>{bytes_used}</bytes><last_modified>{}</last_modified><storage_policy>{STORAGE_POLICY}</storage_policy></container>",
                            iso_timestamp(*last_modified)
                        );
                    }
                    ContainerListItem::Subdir(s) => {
                        out.push_str("<subdir name=\"");
                        xml_escape(&mut out, s);
                        out.push_str("\"><name>");
                        xml_escape(&mut out, s);
                        out.push_str("</name></subdir>");
                    }
                }
            }
            out.push_str("</account>");
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> Vec<(String, String)> {
        crate::path::parse_query(q).unwrap()
    }

    #[test]
    fn formats_from_param_and_accept() {
        // ?format wins; Accept picks the best offer; nothing acceptable is a 406.
        assert_eq!(
            choose_format(Some("json"), Some("text/xml")),
            Some(Format::Json)
        );
        assert_eq!(choose_format(Some("bogus"), None), Some(Format::Plain));
        assert_eq!(choose_format(None, None), Some(Format::Plain));
        assert_eq!(choose_format(None, Some("*/*")), Some(Format::Plain));
        assert_eq!(
            choose_format(None, Some("application/json")),
            Some(Format::Json)
        );
        assert_eq!(
            choose_format(None, Some("application/*")),
            Some(Format::Json)
        );
        assert_eq!(
            choose_format(None, Some("text/xml")),
            Some(Format::Xml("text/xml; charset=utf-8"))
        );
        assert_eq!(
            choose_format(None, Some("text/plain;q=0.1, application/json;q=0.9")),
            Some(Format::Json)
        );
        assert_eq!(choose_format(None, Some("image/png")), None);
    }

    #[test]
    fn query_checks() {
        // Limits above the maximum and multi-character delimiters are 412s.
        let q = list_query(
            &params("prefix=a&delimiter=/&marker=m&limit=5&reverse=on"),
            100,
        )
        .unwrap();
        assert_eq!(q.prefix.as_deref(), Some("a"));
        assert_eq!(q.delimiter.as_deref(), Some("/"));
        assert_eq!(q.limit, 5);
        assert!(q.reverse);
        assert_eq!(list_query(&params("limit=abc"), 100).unwrap().limit, 100);
        assert!(list_query(&params("limit=101"), 100).is_err());
        assert!(list_query(&params("limit=99999999999999999999999"), 100).is_err());
        // Swift accepts delimiters of several characters.
        assert_eq!(
            list_query(&params("delimiter=-%26"), 100)
                .unwrap()
                .delimiter
                .as_deref(),
            Some("-&")
        );
    }

    #[test]
    fn iso_dates() {
        // Timestamps render as Swift's UTC ISO form with microseconds.
        let t: Timestamp = "1700000000.12345".parse().unwrap();
        assert_eq!(iso_timestamp(t), "2023-11-14T22:13:20.123450");
        assert_eq!(iso_timestamp(Timestamp::ZERO), "1970-01-01T00:00:00.000000");
        let leap: Timestamp = "951782400".parse().unwrap();
        assert_eq!(iso_timestamp(leap), "2000-02-29T00:00:00.000000");
    }

    #[test]
    fn renders_object_listings() {
        // Each format carries names, subdirs and the entry fields, escaped.
        let items = vec![
            ObjectListItem::Object(ObjectEntry {
                name: "a<&\"b".into(),
                ts: Timestamp::from_secs(1),
                size: 3,
                etag: "e".into(),
                content_type: "text/plain".into(),
            }),
            ObjectListItem::Subdir("d/".into()),
        ];
        assert_eq!(
            render_objects(Format::Plain, "c", &items).unwrap(),
            "a<&\"b\nd/\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render_objects(Format::Json, "c", &items).unwrap()).unwrap();
        assert_eq!(json[0]["name"], "a<&\"b");
        assert_eq!(json[0]["bytes"], 3);
        assert_eq!(json[1]["subdir"], "d/");
        let xml = render_objects(Format::Xml("application/xml"), "c", &items).unwrap();
        assert!(xml.contains("<name>a&lt;&amp;&quot;b</name>"));
        assert!(xml.contains("<subdir name=\"d/\"><name>d/</name></subdir>"));
        assert_eq!(render_objects(Format::Plain, "c", &[]), None);
        assert_eq!(render_objects(Format::Json, "c", &[]).unwrap(), "[]");
    }

    #[test]
    fn large_object_rows_show_their_listed_size_and_slo_etag() {
        // The row's parameters become `bytes` and `slo_etag` and leave the hash and content type.
        let (etag, ctype) = large_object_row("m5", "slo5", None, "text/plain", 1234);
        let e = ObjectEntry {
            name: "big".into(),
            ts: Timestamp::from_secs(1),
            size: 80,
            etag,
            content_type: ctype,
        };
        let shown = ShownEntry::of(&e);
        assert_eq!(
            shown,
            ShownEntry {
                hash: "m5",
                slo_etag: Some("slo5"),
                s3_etag: None,
                bytes: 1234,
                content_type: "text/plain",
            }
        );
        let items = vec![ObjectListItem::Object(e)];
        let json: serde_json::Value =
            serde_json::from_str(&render_objects(Format::Json, "c", &items).unwrap()).unwrap();
        assert_eq!(json[0]["hash"], "m5");
        assert_eq!(json[0]["slo_etag"], "\"slo5\"");
        assert_eq!(json[0]["bytes"], 1234);
        assert_eq!(json[0]["content_type"], "text/plain");
        let xml = render_objects(Format::Xml("application/xml"), "c", &items).unwrap();
        assert!(xml.contains("<hash>m5</hash><bytes>1234</bytes><content_type>text/plain<"));
    }

    #[test]
    fn renders_container_listings() {
        // Container rows carry count, bytes and last_modified.
        let items = vec![ContainerListItem::Container {
            name: "c1".into(),
            object_count: 2,
            bytes_used: 10,
            last_modified: Timestamp::from_secs(1),
        }];
        let json: serde_json::Value =
            serde_json::from_str(&render_containers(Format::Json, "AUTH_a", &items).unwrap())
                .unwrap();
        assert_eq!(json[0]["count"], 2);
        assert_eq!(json[0]["bytes"], 10);
        let xml = render_containers(Format::Xml("text/xml"), "AUTH_a", &items).unwrap();
        assert!(xml.contains("<account name=\"AUTH_a\"><container><name>c1</name><count>2</count>"));
    }
}
