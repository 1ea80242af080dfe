//! Multipart upload response documents: InitiateMultipartUploadResult,
//! CompleteMultipartUploadResult, ListPartsResult and
//! ListMultipartUploadsResult.

use super::time::s3_time;
use super::write::{quoted_etag, KeyEncoding, Owner, XmlDoc};
use cairn_base::Timestamp;

const STORAGE_CLASS: &str = "STANDARD";

/// CreateMultipartUpload's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiateMultipartUploadResult {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
}

impl InitiateMultipartUploadResult {
    pub fn to_xml(&self) -> String {
        let mut doc = XmlDoc::new("InitiateMultipartUploadResult");
        doc.text("Bucket", &self.bucket)
            .text("Key", &self.key)
            .text("UploadId", &self.upload_id);
        doc.finish()
    }
}

/// CompleteMultipartUpload's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteMultipartUploadResult {
    /// The object's URL.
    pub location: String,
    pub bucket: String,
    pub key: String,
    /// The multipart ETag (`<md5 of the parts' md5s>-<part count>`); quoted on output.
    pub etag: String,
}

impl CompleteMultipartUploadResult {
    pub fn to_xml(&self) -> String {
        let mut doc = XmlDoc::new("CompleteMultipartUploadResult");
        doc.text("Location", &self.location)
            .text("Bucket", &self.bucket)
            .text("Key", &self.key)
            .text("ETag", &quoted_etag(&self.etag));
        doc.finish()
    }
}

/// One uploaded part in a ListParts answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartEntry {
    pub part_number: u32,
    pub last_modified: Timestamp,
    pub etag: String,
    pub size: u64,
}

/// ListParts' answer. The account is both initiator and owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPartsResult {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub owner: Owner,
    /// The request's `part-number-marker` (0 if none).
    pub part_number_marker: u32,
    pub max_parts: u32,
    pub encoding: KeyEncoding,
    pub is_truncated: bool,
    /// In part-number order.
    pub parts: Vec<PartEntry>,
}

impl ListPartsResult {
    pub fn to_xml(&self) -> String {
        // The next marker is the last part listed, 0 for none (as s3api).
        let next_marker = self.parts.last().map_or(0, |p| p.part_number);
        let mut doc = XmlDoc::new("ListPartsResult");
        doc.text("Bucket", &self.bucket)
            .text("Key", &self.encoding.apply(&self.key))
            .text("UploadId", &self.upload_id)
            .user("Initiator", &self.owner)
            .user("Owner", &self.owner)
            .text("StorageClass", STORAGE_CLASS)
            .number("PartNumberMarker", u64::from(self.part_number_marker))
            .number("NextPartNumberMarker", u64::from(next_marker))
            .number("MaxParts", u64::from(self.max_parts))
            .encoding_type(self.encoding)
            .boolean("IsTruncated", self.is_truncated);
        for p in &self.parts {
            doc.open("Part")
                .number("PartNumber", u64::from(p.part_number))
                .text("LastModified", &s3_time(p.last_modified))
                .text("ETag", &quoted_etag(&p.etag))
                .number("Size", p.size)
                .close();
        }
        doc.finish()
    }
}

/// One upload in progress in a ListMultipartUploads answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEntry {
    pub key: String,
    pub upload_id: String,
    pub initiated: Timestamp,
}

/// ListMultipartUploads' answer. The account is initiator and owner of
/// every upload. Markers are empty strings when absent, as S3 writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMultipartUploadsResult {
    pub bucket: String,
    pub key_marker: String,
    pub upload_id_marker: String,
    pub next_key_marker: String,
    pub next_upload_id_marker: String,
    pub delimiter: Option<String>,
    pub prefix: Option<String>,
    pub max_uploads: u32,
    pub encoding: KeyEncoding,
    pub is_truncated: bool,
    pub owner: Owner,
    pub uploads: Vec<UploadEntry>,
    pub common_prefixes: Vec<String>,
}

impl ListMultipartUploadsResult {
    pub fn to_xml(&self) -> String {
        let enc = self.encoding;
        let mut doc = XmlDoc::new("ListMultipartUploadsResult");
        doc.text("Bucket", &self.bucket)
            .text("KeyMarker", &enc.apply(&self.key_marker))
            .text("UploadIdMarker", &self.upload_id_marker)
            .text("NextKeyMarker", &enc.apply(&self.next_key_marker))
            .text("NextUploadIdMarker", &self.next_upload_id_marker);
        if let Some(d) = &self.delimiter {
            doc.text("Delimiter", &enc.apply(d));
        }
        if let Some(p) = &self.prefix {
            doc.text("Prefix", &enc.apply(p));
        }
        doc.number("MaxUploads", u64::from(self.max_uploads))
            .encoding_type(enc)
            .boolean("IsTruncated", self.is_truncated);
        for u in &self.uploads {
            doc.open("Upload")
                .text("Key", &enc.apply(&u.key))
                .text("UploadId", &u.upload_id)
                .user("Initiator", &self.owner)
                .user("Owner", &self.owner)
                .text("StorageClass", STORAGE_CLASS)
                .text("Initiated", &s3_time(u.initiated))
                .close();
        }
        for p in &self.common_prefixes {
            doc.open("CommonPrefixes")
                .text("Prefix", &enc.apply(p))
                .close();
        }
        doc.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::xml::testutil::assert_leaves;

    const T: &str = "2010-11-10T20:48:33.000Z";

    fn owner() -> Owner {
        Owner {
            id: "AUTH_a".to_owned(),
            display_name: "a:u".to_owned(),
        }
    }

    fn t() -> Timestamp {
        Timestamp::from_secs(1_289_422_113)
    }

    #[test]
    fn initiate_has_bucket_key_and_upload_id() {
        // AWS's example shape, the key escaped.
        let r = InitiateMultipartUploadResult {
            bucket: "example-bucket".to_owned(),
            key: "a&b".to_owned(),
            upload_id: "VXBsb2FkIElE".to_owned(),
        };
        assert_eq!(
            r.to_xml(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult \
             xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>example-bucket</Bucket>\
             <Key>a&amp;b</Key><UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>"
        );
    }

    #[test]
    fn complete_has_location_bucket_key_and_quoted_etag() {
        // Location, Bucket, Key, ETag in quotes.
        let r = CompleteMultipartUploadResult {
            location: "http://example.com/b/k".to_owned(),
            bucket: "b".to_owned(),
            key: "k".to_owned(),
            etag: "3858f62230ac3c915f300c664312c11f-9".to_owned(),
        };
        assert_leaves(
            &r.to_xml(),
            &[
                (
                    "CompleteMultipartUploadResult/Location",
                    "http://example.com/b/k",
                ),
                ("CompleteMultipartUploadResult/Bucket", "b"),
                ("CompleteMultipartUploadResult/Key", "k"),
                (
                    "CompleteMultipartUploadResult/ETag",
                    "\"3858f62230ac3c915f300c664312c11f-9\"",
                ),
            ],
        );
    }

    fn parts_result(parts: Vec<PartEntry>) -> ListPartsResult {
        ListPartsResult {
            bucket: "b".to_owned(),
            key: "a b".to_owned(),
            upload_id: "u1".to_owned(),
            owner: owner(),
            part_number_marker: 1,
            max_parts: 2,
            encoding: KeyEncoding::Plain,
            is_truncated: true,
            parts,
        }
    }

    #[test]
    fn list_parts_has_the_documented_shape() {
        // Header elements in s3api's order, then each Part; the next marker
        // is the last part listed.
        let r = parts_result(vec![
            PartEntry {
                part_number: 2,
                last_modified: t(),
                etag: "7778aef83f66abc1fa1e8477f296d394".to_owned(),
                size: 10_485_760,
            },
            PartEntry {
                part_number: 3,
                last_modified: t(),
                etag: "aaaa18db4cc2f85cedef654fccc4a4x8".to_owned(),
                size: 10_485_760,
            },
        ]);
        assert_leaves(
            &r.to_xml(),
            &[
                ("ListPartsResult/Bucket", "b"),
                ("ListPartsResult/Key", "a b"),
                ("ListPartsResult/UploadId", "u1"),
                ("ListPartsResult/Initiator/ID", "AUTH_a"),
                ("ListPartsResult/Initiator/DisplayName", "a:u"),
                ("ListPartsResult/Owner/ID", "AUTH_a"),
                ("ListPartsResult/Owner/DisplayName", "a:u"),
                ("ListPartsResult/StorageClass", "STANDARD"),
                ("ListPartsResult/PartNumberMarker", "1"),
                ("ListPartsResult/NextPartNumberMarker", "3"),
                ("ListPartsResult/MaxParts", "2"),
                ("ListPartsResult/IsTruncated", "true"),
                ("ListPartsResult/Part/PartNumber", "2"),
                ("ListPartsResult/Part/LastModified", T),
                (
                    "ListPartsResult/Part/ETag",
                    "\"7778aef83f66abc1fa1e8477f296d394\"",
                ),
                ("ListPartsResult/Part/Size", "10485760"),
                ("ListPartsResult/Part/PartNumber", "3"),
                ("ListPartsResult/Part/LastModified", T),
                (
                    "ListPartsResult/Part/ETag",
                    "\"aaaa18db4cc2f85cedef654fccc4a4x8\"",
                ),
                ("ListPartsResult/Part/Size", "10485760"),
            ],
        );
    }

    #[test]
    fn list_parts_without_parts_has_next_marker_zero_and_url_keys() {
        // No parts: NextPartNumberMarker 0; encoding-type=url encodes the key.
        let mut r = parts_result(vec![]);
        r.encoding = KeyEncoding::Url;
        let xml = r.to_xml();
        assert!(xml.contains("<NextPartNumberMarker>0</NextPartNumberMarker>"));
        assert!(xml.contains("<Key>a%20b</Key>"));
        assert!(xml.contains("<EncodingType>url</EncodingType><IsTruncated>"));
    }

    fn uploads_result() -> ListMultipartUploadsResult {
        ListMultipartUploadsResult {
            bucket: "b".to_owned(),
            key_marker: String::new(),
            upload_id_marker: String::new(),
            next_key_marker: "my-movie.m2ts".to_owned(),
            next_upload_id_marker: "u2".to_owned(),
            delimiter: Some("/".to_owned()),
            prefix: Some("photos/".to_owned()),
            max_uploads: 3,
            encoding: KeyEncoding::Plain,
            is_truncated: true,
            owner: owner(),
            uploads: vec![UploadEntry {
                key: "photos/my-movie.m2ts".to_owned(),
                upload_id: "u2".to_owned(),
                initiated: t(),
            }],
            common_prefixes: vec!["photos/2006/".to_owned()],
        }
    }

    #[test]
    fn list_uploads_has_the_documented_shape() {
        // Markers (empty when absent), Delimiter, Prefix, then Upload and
        // CommonPrefixes.
        assert_leaves(
            &uploads_result().to_xml(),
            &[
                ("ListMultipartUploadsResult/Bucket", "b"),
                ("ListMultipartUploadsResult/KeyMarker", ""),
                ("ListMultipartUploadsResult/UploadIdMarker", ""),
                ("ListMultipartUploadsResult/NextKeyMarker", "my-movie.m2ts"),
                ("ListMultipartUploadsResult/NextUploadIdMarker", "u2"),
                ("ListMultipartUploadsResult/Delimiter", "/"),
                ("ListMultipartUploadsResult/Prefix", "photos/"),
                ("ListMultipartUploadsResult/MaxUploads", "3"),
                ("ListMultipartUploadsResult/IsTruncated", "true"),
                (
                    "ListMultipartUploadsResult/Upload/Key",
                    "photos/my-movie.m2ts",
                ),
                ("ListMultipartUploadsResult/Upload/UploadId", "u2"),
                ("ListMultipartUploadsResult/Upload/Initiator/ID", "AUTH_a"),
                (
                    "ListMultipartUploadsResult/Upload/Initiator/DisplayName",
                    "a:u",
                ),
                ("ListMultipartUploadsResult/Upload/Owner/ID", "AUTH_a"),
                ("ListMultipartUploadsResult/Upload/Owner/DisplayName", "a:u"),
                ("ListMultipartUploadsResult/Upload/StorageClass", "STANDARD"),
                ("ListMultipartUploadsResult/Upload/Initiated", T),
                (
                    "ListMultipartUploadsResult/CommonPrefixes/Prefix",
                    "photos/2006/",
                ),
            ],
        );
    }

    #[test]
    fn list_uploads_url_encodes_key_values_only() {
        // Keys, key markers, prefixes and the delimiter are encoded; upload
        // ids are not.
        let mut r = uploads_result();
        r.encoding = KeyEncoding::Url;
        r.key_marker = "k m".to_owned();
        r.next_upload_id_marker = "u+2".to_owned();
        r.delimiter = Some(" ".to_owned());
        r.uploads[0].key = "a b".to_owned();
        let xml = r.to_xml();
        for want in [
            "<KeyMarker>k%20m</KeyMarker>",
            "<NextUploadIdMarker>u+2</NextUploadIdMarker>",
            "<Delimiter>%20</Delimiter>",
            "<Key>a%20b</Key>",
            "<Prefix>photos/2006/</Prefix>",
            "<EncodingType>url</EncodingType>",
        ] {
            assert!(xml.contains(want), "{want} in {xml}");
        }
    }
}
