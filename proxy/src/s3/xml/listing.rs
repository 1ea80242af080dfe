//! ListBucketResult, the answer to ListObjects (v1) and ListObjectsV2:
//! which elements each version has, when `NextMarker` and the owner appear,
//! and which values `encoding-type=url` encodes.

use super::time::s3_time;
use super::write::{quoted_etag, KeyEncoding, Owner, XmlDoc};
use cairn_base::Timestamp;

/// One object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntry {
    pub key: String,
    pub last_modified: Timestamp,
    /// Quoted on output unless it already is.
    pub etag: String,
    pub size: u64,
}

/// What differs between the two versions of ListObjects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListVersion {
    /// ListObjects: the request's `marker`; every entry shows its owner.
    V1 { marker: Option<String> },
    /// ListObjectsV2: the request's tokens and `start-after`; entries show
    /// their owner only with `fetch-owner=true`.
    V2 {
        continuation_token: Option<String>,
        /// Written only when the listing is truncated.
        next_continuation_token: Option<String>,
        start_after: Option<String>,
        fetch_owner: bool,
    },
}

/// A page of a bucket listing. `contents` and `common_prefixes` are each in
/// key order; together they hold at most `max_keys` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListBucketResult {
    pub bucket: String,
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    /// The request's `max-keys`, echoed.
    pub max_keys: u32,
    pub encoding: KeyEncoding,
    pub is_truncated: bool,
    pub owner: Owner,
    pub contents: Vec<ObjectEntry>,
    pub common_prefixes: Vec<String>,
    pub version: ListVersion,
}

impl ListBucketResult {
    pub fn to_xml(&self) -> String {
        let enc = self.encoding;
        let mut doc = XmlDoc::new("ListBucketResult");
        doc.text("Name", &self.bucket)
            .text("Prefix", &enc.apply(self.prefix.as_deref().unwrap_or("")));
        let show_owner = match &self.version {
            ListVersion::V1 { marker } => {
                doc.text("Marker", &enc.apply(marker.as_deref().unwrap_or("")));
                if let Some(next) = self.next_marker() {
                    doc.text("NextMarker", &enc.apply(next));
                }
                true
            }
            ListVersion::V2 {
                continuation_token,
                next_continuation_token,
                start_after,
                fetch_owner,
            } => {
                if self.is_truncated {
                    doc.text_opt("NextContinuationToken", next_continuation_token.as_deref());
                }
                doc.text_opt("ContinuationToken", continuation_token.as_deref());
                if let Some(s) = start_after {
                    doc.text("StartAfter", &enc.apply(s));
                }
                let key_count = self.contents.len() + self.common_prefixes.len();
                doc.number("KeyCount", key_count as u64);
                *fetch_owner
            }
        };
        doc.number("MaxKeys", u64::from(self.max_keys));
        if let Some(d) = self.delimiter.as_deref().filter(|d| !d.is_empty()) {
            doc.text("Delimiter", &enc.apply(d));
        }
        doc.encoding_type(enc)
            .boolean("IsTruncated", self.is_truncated);
        for o in &self.contents {
            self.write_object(&mut doc, o, show_owner);
        }
        for p in &self.common_prefixes {
            doc.open("CommonPrefixes")
                .text("Prefix", &enc.apply(p))
                .close();
        }
        doc.finish()
    }

    /// v1's `NextMarker`: S3 sends it only for a truncated listing with a
    /// delimiter (without one, the client continues from the last key); it
    /// is the last entry of the page, key or common prefix.
    fn next_marker(&self) -> Option<&str> {
        let has_delimiter = self.delimiter.as_deref().is_some_and(|d| !d.is_empty());
        if !self.is_truncated || !has_delimiter {
            return None;
        }
        let last_key = self.contents.last().map(|o| o.key.as_str());
        let last_prefix = self.common_prefixes.last().map(String::as_str);
        last_key.max(last_prefix)
    }

    fn write_object(&self, doc: &mut XmlDoc, o: &ObjectEntry, show_owner: bool) {
        doc.open("Contents")
            .text("Key", &self.encoding.apply(&o.key))
            .text("LastModified", &s3_time(o.last_modified))
            .text("ETag", &quoted_etag(&o.etag))
            .number("Size", o.size);
        if show_owner {
            doc.user("Owner", &self.owner);
        }
        doc.text("StorageClass", "STANDARD").close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::xml::testutil::{assert_leaves, leaves};

    const T: &str = "2009-10-12T17:50:30.000Z";

    fn entry(key: &str) -> ObjectEntry {
        ObjectEntry {
            key: key.to_owned(),
            last_modified: Timestamp::from_secs(1_255_369_830),
            etag: "fba9dede5f27731c9771645a39863328".to_owned(),
            size: 434_234,
        }
    }

    fn v1(marker: Option<&str>) -> ListBucketResult {
        ListBucketResult {
            bucket: "bucket".to_owned(),
            prefix: None,
            delimiter: None,
            max_keys: 1000,
            encoding: KeyEncoding::Plain,
            is_truncated: false,
            owner: Owner {
                id: "AUTH_a".to_owned(),
                display_name: "a:u".to_owned(),
            },
            contents: vec![entry("my-image.jpg")],
            common_prefixes: vec![],
            version: ListVersion::V1 {
                marker: marker.map(str::to_owned),
            },
        }
    }

    fn v2(fetch_owner: bool) -> ListBucketResult {
        ListBucketResult {
            version: ListVersion::V2 {
                continuation_token: None,
                next_continuation_token: None,
                start_after: None,
                fetch_owner,
            },
            ..v1(None)
        }
    }

    #[test]
    fn v1_has_the_documented_shape_with_owner() {
        // Name, Prefix, Marker, MaxKeys, IsTruncated, then Contents with Owner.
        assert_leaves(
            &v1(None).to_xml(),
            &[
                ("ListBucketResult/Name", "bucket"),
                ("ListBucketResult/Prefix", ""),
                ("ListBucketResult/Marker", ""),
                ("ListBucketResult/MaxKeys", "1000"),
                ("ListBucketResult/IsTruncated", "false"),
                ("ListBucketResult/Contents/Key", "my-image.jpg"),
                ("ListBucketResult/Contents/LastModified", T),
                (
                    "ListBucketResult/Contents/ETag",
                    "\"fba9dede5f27731c9771645a39863328\"",
                ),
                ("ListBucketResult/Contents/Size", "434234"),
                ("ListBucketResult/Contents/Owner/ID", "AUTH_a"),
                ("ListBucketResult/Contents/Owner/DisplayName", "a:u"),
                ("ListBucketResult/Contents/StorageClass", "STANDARD"),
            ],
        );
    }

    #[test]
    fn v1_next_marker_needs_truncation_and_a_delimiter() {
        // Truncated without a delimiter: no NextMarker. With one: the last
        // entry, here a common prefix sorting after the last key.
        let mut r = v1(Some("a"));
        r.is_truncated = true;
        assert!(!r.to_xml().contains("NextMarker"));
        r.delimiter = Some("/".to_owned());
        r.common_prefixes = vec!["photos/".to_owned()];
        let got = leaves(&r.to_xml());
        assert_eq!(
            got[2],
            ("ListBucketResult/Marker".to_owned(), "a".to_owned())
        );
        assert_eq!(
            got[3],
            (
                "ListBucketResult/NextMarker".to_owned(),
                "photos/".to_owned()
            )
        );
        assert_eq!(
            got[5],
            ("ListBucketResult/Delimiter".to_owned(), "/".to_owned())
        );
        r.is_truncated = false;
        assert!(!r.to_xml().contains("NextMarker"));
    }

    #[test]
    fn v2_counts_keys_and_shows_owner_only_when_fetched() {
        // KeyCount counts contents and prefixes; no Owner without fetch-owner.
        let mut r = v2(false);
        r.common_prefixes = vec!["p/".to_owned()];
        r.delimiter = Some("/".to_owned());
        assert_leaves(
            &r.to_xml(),
            &[
                ("ListBucketResult/Name", "bucket"),
                ("ListBucketResult/Prefix", ""),
                ("ListBucketResult/KeyCount", "2"),
                ("ListBucketResult/MaxKeys", "1000"),
                ("ListBucketResult/Delimiter", "/"),
                ("ListBucketResult/IsTruncated", "false"),
                ("ListBucketResult/Contents/Key", "my-image.jpg"),
                ("ListBucketResult/Contents/LastModified", T),
                (
                    "ListBucketResult/Contents/ETag",
                    "\"fba9dede5f27731c9771645a39863328\"",
                ),
                ("ListBucketResult/Contents/Size", "434234"),
                ("ListBucketResult/Contents/StorageClass", "STANDARD"),
                ("ListBucketResult/CommonPrefixes/Prefix", "p/"),
            ],
        );
        assert!(v2(true).to_xml().contains("<Owner><ID>AUTH_a</ID>"));
        assert!(!r.to_xml().contains("Marker"));
    }

    #[test]
    fn v2_tokens_and_start_after_appear_as_s3_orders_them() {
        // NextContinuationToken (only when truncated), ContinuationToken, StartAfter.
        let mut r = v2(false);
        r.is_truncated = true;
        r.version = ListVersion::V2 {
            continuation_token: Some("dG9rZW4x".to_owned()),
            next_continuation_token: Some("dG9rZW4y".to_owned()),
            start_after: Some("a".to_owned()),
            fetch_owner: false,
        };
        let got = leaves(&r.to_xml());
        let names: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).take(8).collect();
        assert_eq!(
            names,
            [
                "ListBucketResult/Name",
                "ListBucketResult/Prefix",
                "ListBucketResult/NextContinuationToken",
                "ListBucketResult/ContinuationToken",
                "ListBucketResult/StartAfter",
                "ListBucketResult/KeyCount",
                "ListBucketResult/MaxKeys",
                "ListBucketResult/IsTruncated",
            ]
        );
        r.is_truncated = false;
        assert!(!r.to_xml().contains("NextContinuationToken"));
    }

    #[test]
    fn url_encoding_covers_keys_prefixes_markers_and_delimiter() {
        // encoding-type=url encodes every key-like value, and says so.
        let mut r = v1(Some("m k"));
        r.encoding = KeyEncoding::Url;
        r.is_truncated = true;
        r.prefix = Some("a b".to_owned());
        r.delimiter = Some("&".to_owned());
        r.contents = vec![entry("a b&c\r+é")];
        r.common_prefixes = vec!["a b/x&".to_owned()];
        let got = leaves(&r.to_xml());
        let get = |name: &str| {
            got.iter()
                .find(|(p, _)| p == &format!("ListBucketResult/{name}"))
                .map(|(_, t)| t.as_str())
        };
        assert_eq!(get("Prefix"), Some("a%20b"));
        assert_eq!(get("Marker"), Some("m%20k"));
        assert_eq!(get("NextMarker"), Some("a%20b/x%26"));
        assert_eq!(get("Delimiter"), Some("%26"));
        assert_eq!(get("EncodingType"), Some("url"));
        assert_eq!(get("Contents/Key"), Some("a%20b%26c%0D%2B%C3%A9"));
        assert_eq!(get("CommonPrefixes/Prefix"), Some("a%20b/x%26"));
        let mut r2 = v2(false);
        r2.encoding = KeyEncoding::Url;
        r2.version = ListVersion::V2 {
            continuation_token: Some("a+b=".to_owned()),
            next_continuation_token: None,
            start_after: Some("s t".to_owned()),
            fetch_owner: false,
        };
        let xml = r2.to_xml();
        assert!(xml.contains("<StartAfter>s%20t</StartAfter>"));
        assert!(xml.contains("<ContinuationToken>a+b=</ContinuationToken>"));
    }

    #[test]
    fn keys_with_markup_and_control_characters_survive_plain_encoding() {
        // Without encoding-type, escaping alone carries any key through XML.
        let key = "<a>&\"b\"'\r\n\t\u{1}";
        let mut r = v1(None);
        r.contents = vec![entry(key)];
        let got = leaves(&r.to_xml());
        assert!(got.contains(&("ListBucketResult/Contents/Key".to_owned(), key.to_owned())));
    }
}
