//! ListVersionsResult, the answer to ListObjectVersions. Cairn keeps one
//! version per key (versioning is never enabled), so every object is listed
//! as its own latest version with the version id `null`, as S3 lists the
//! objects of a bucket that never had versioning.

use super::listing::ObjectEntry;
use super::time::s3_time;
use super::write::{quoted_etag, KeyEncoding, Owner, XmlDoc};

/// The version id of an object written while versioning was off.
pub const NULL_VERSION_ID: &str = "null";

/// A page of a version listing. `versions` and `common_prefixes` are each
/// in key order; together they hold at most `max_keys` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListVersionsResult {
    pub bucket: String,
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    /// The request's `key-marker` and `version-id-marker`, echoed.
    pub key_marker: Option<String>,
    pub version_id_marker: Option<String>,
    /// The request's `max-keys`, echoed.
    pub max_keys: u32,
    pub encoding: KeyEncoding,
    pub is_truncated: bool,
    pub owner: Owner,
    pub versions: Vec<ObjectEntry>,
    pub common_prefixes: Vec<String>,
}

impl ListVersionsResult {
    pub fn to_xml(&self) -> String {
        let enc = self.encoding;
        let mut doc = XmlDoc::new("ListVersionsResult");
        doc.text("Name", &self.bucket)
            .text("Prefix", &enc.apply(self.prefix.as_deref().unwrap_or("")))
            .text(
                "KeyMarker",
                &enc.apply(self.key_marker.as_deref().unwrap_or("")),
            )
            .text(
                "VersionIdMarker",
                self.version_id_marker.as_deref().unwrap_or(""),
            );
        if let Some(next) = self.next_key_marker() {
            doc.text("NextKeyMarker", &enc.apply(next))
                .text("NextVersionIdMarker", NULL_VERSION_ID);
        }
        doc.number("MaxKeys", u64::from(self.max_keys));
        if let Some(d) = self.delimiter.as_deref().filter(|d| !d.is_empty()) {
            doc.text("Delimiter", &enc.apply(d));
        }
        doc.encoding_type(enc)
            .boolean("IsTruncated", self.is_truncated);
        for v in &self.versions {
            doc.open("Version")
                .text("Key", &enc.apply(&v.key))
                .text("VersionId", NULL_VERSION_ID)
                .boolean("IsLatest", true)
                .text("LastModified", &s3_time(v.last_modified))
                .text("ETag", &quoted_etag(&v.etag))
                .number("Size", v.size)
                .user("Owner", &self.owner)
                .text("StorageClass", "STANDARD")
                .close();
        }
        for p in &self.common_prefixes {
            doc.open("CommonPrefixes")
                .text("Prefix", &enc.apply(p))
                .close();
        }
        doc.finish()
    }

    /// Where a truncated listing continues: its last entry, key or common prefix.
    fn next_key_marker(&self) -> Option<&str> {
        if !self.is_truncated {
            return None;
        }
        let last_key = self.versions.last().map(|o| o.key.as_str());
        let last_prefix = self.common_prefixes.last().map(String::as_str);
        last_key.max(last_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::xml::testutil::{assert_leaves, leaves};
    use cairn_base::Timestamp;

    fn entry(key: &str) -> ObjectEntry {
        ObjectEntry {
            key: key.to_owned(),
            last_modified: Timestamp::from_secs(1_255_369_830),
            etag: "fba9dede5f27731c9771645a39863328".to_owned(),
            size: 3,
        }
    }

    fn result() -> ListVersionsResult {
        ListVersionsResult {
            bucket: "b".to_owned(),
            prefix: None,
            delimiter: None,
            key_marker: None,
            version_id_marker: None,
            max_keys: 1000,
            encoding: KeyEncoding::Plain,
            is_truncated: false,
            owner: Owner {
                id: "t:u".to_owned(),
                display_name: "t:u".to_owned(),
            },
            versions: vec![entry("k")],
            common_prefixes: vec![],
        }
    }

    #[test]
    fn every_object_is_its_own_latest_null_version() {
        // The documented shape: markers echoed, one Version per key, id null.
        assert_leaves(
            &result().to_xml(),
            &[
                ("ListVersionsResult/Name", "b"),
                ("ListVersionsResult/Prefix", ""),
                ("ListVersionsResult/KeyMarker", ""),
                ("ListVersionsResult/VersionIdMarker", ""),
                ("ListVersionsResult/MaxKeys", "1000"),
                ("ListVersionsResult/IsTruncated", "false"),
                ("ListVersionsResult/Version/Key", "k"),
                ("ListVersionsResult/Version/VersionId", "null"),
                ("ListVersionsResult/Version/IsLatest", "true"),
                (
                    "ListVersionsResult/Version/LastModified",
                    "2009-10-12T17:50:30.000Z",
                ),
                (
                    "ListVersionsResult/Version/ETag",
                    "\"fba9dede5f27731c9771645a39863328\"",
                ),
                ("ListVersionsResult/Version/Size", "3"),
                ("ListVersionsResult/Version/Owner/ID", "t:u"),
                ("ListVersionsResult/Version/Owner/DisplayName", "t:u"),
                ("ListVersionsResult/Version/StorageClass", "STANDARD"),
            ],
        );
    }

    #[test]
    fn truncated_listing_names_where_to_continue() {
        // NextKeyMarker is the last entry (here a common prefix); its version null.
        let mut r = result();
        r.is_truncated = true;
        r.key_marker = Some("a b".to_owned());
        r.version_id_marker = Some("null".to_owned());
        r.delimiter = Some("/".to_owned());
        r.common_prefixes = vec!["p q/".to_owned()];
        r.encoding = KeyEncoding::Url;
        let got = leaves(&r.to_xml());
        let get = |name: &str| {
            got.iter()
                .find(|(p, _)| p == &format!("ListVersionsResult/{name}"))
                .map(|(_, t)| t.as_str())
        };
        assert_eq!(get("KeyMarker"), Some("a%20b"));
        assert_eq!(get("VersionIdMarker"), Some("null"));
        assert_eq!(get("NextKeyMarker"), Some("p%20q/"));
        assert_eq!(get("NextVersionIdMarker"), Some("null"));
        assert_eq!(get("EncodingType"), Some("url"));
        assert_eq!(get("CommonPrefixes/Prefix"), Some("p%20q/"));
        r.is_truncated = false;
        assert!(!r.to_xml().contains("NextKeyMarker"));
    }
}
