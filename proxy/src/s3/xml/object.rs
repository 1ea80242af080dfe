//! Object-level response documents: CopyObjectResult, CopyPartResult and
//! DeleteResult (DeleteObjects, with quiet mode).

use super::time::s3_time;
use super::write::{quoted_etag, XmlDoc};
use crate::s3::error::S3ErrorCode;
use cairn_base::Timestamp;

/// The answer to CopyObject and UploadPartCopy: the new object's (or
/// part's) time and ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResult {
    pub last_modified: Timestamp,
    /// Quoted on output unless it already is.
    pub etag: String,
}

impl CopyResult {
    /// As `<CopyObjectResult>`, CopyObject's answer.
    pub fn object_xml(&self) -> String {
        self.to_xml("CopyObjectResult")
    }

    /// As `<CopyPartResult>`, UploadPartCopy's answer.
    pub fn part_xml(&self) -> String {
        self.to_xml("CopyPartResult")
    }

    fn to_xml(&self, root: &'static str) -> String {
        let mut doc = XmlDoc::new(root);
        doc.text("LastModified", &s3_time(self.last_modified))
            .text("ETag", &quoted_etag(&self.etag));
        doc.finish()
    }
}

/// An object a DeleteObjects request deleted (or found already gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedEntry {
    pub key: String,
    pub version_id: Option<String>,
}

/// An object a DeleteObjects request could not delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteErrorEntry {
    pub key: String,
    pub version_id: Option<String>,
    pub code: S3ErrorCode,
    pub message: String,
}

/// DeleteObjects' answer. In quiet mode only the errors are listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteResult {
    pub quiet: bool,
    pub deleted: Vec<DeletedEntry>,
    pub errors: Vec<DeleteErrorEntry>,
}

impl DeleteResult {
    pub fn to_xml(&self) -> String {
        let mut doc = XmlDoc::new("DeleteResult");
        if !self.quiet {
            for d in &self.deleted {
                doc.open("Deleted")
                    .text("Key", &d.key)
                    .text_opt("VersionId", d.version_id.as_deref())
                    .close();
            }
        }
        for e in &self.errors {
            doc.open("Error")
                .text("Key", &e.key)
                .text_opt("VersionId", e.version_id.as_deref())
                .text("Code", e.code.as_str())
                .text("Message", &e.message)
                .close();
        }
        doc.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::xml::testutil::assert_leaves;

    fn copy() -> CopyResult {
        CopyResult {
            last_modified: Timestamp::from_secs(1_255_369_830),
            etag: "9b2cf535f27731c974343645a3985328".to_owned(),
        }
    }

    #[test]
    fn copy_results_have_time_and_quoted_etag_under_their_roots() {
        // Same content, CopyObjectResult or CopyPartResult as the root.
        let want = |root: &str| {
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} \
                 xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LastModified>2009-10-12T17:50:30.000Z</LastModified>\
                 <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag></{root}>"
            )
        };
        assert_eq!(copy().object_xml(), want("CopyObjectResult"));
        assert_eq!(copy().part_xml(), want("CopyPartResult"));
    }

    fn result(quiet: bool) -> DeleteResult {
        DeleteResult {
            quiet,
            deleted: vec![
                DeletedEntry {
                    key: "sample1.txt".to_owned(),
                    version_id: None,
                },
                DeletedEntry {
                    key: "a\r&b".to_owned(),
                    version_id: Some("v1".to_owned()),
                },
            ],
            errors: vec![DeleteErrorEntry {
                key: "sample2.txt".to_owned(),
                version_id: None,
                code: S3ErrorCode::AccessDenied,
                message: "Access Denied".to_owned(),
            }],
        }
    }

    #[test]
    fn delete_result_lists_deleted_then_errors() {
        // Each Deleted with its key (and version), each Error with code and message.
        assert_leaves(
            &result(false).to_xml(),
            &[
                ("DeleteResult/Deleted/Key", "sample1.txt"),
                ("DeleteResult/Deleted/Key", "a\r&b"),
                ("DeleteResult/Deleted/VersionId", "v1"),
                ("DeleteResult/Error/Key", "sample2.txt"),
                ("DeleteResult/Error/Code", "AccessDenied"),
                ("DeleteResult/Error/Message", "Access Denied"),
            ],
        );
    }

    #[test]
    fn quiet_delete_result_lists_only_errors() {
        // Quiet mode drops the Deleted entries; with no errors the root is empty.
        assert_leaves(
            &result(true).to_xml(),
            &[
                ("DeleteResult/Error/Key", "sample2.txt"),
                ("DeleteResult/Error/Code", "AccessDenied"),
                ("DeleteResult/Error/Message", "Access Denied"),
            ],
        );
        let mut clean = result(true);
        clean.errors.clear();
        assert!(clean
            .to_xml()
            .ends_with("<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>"));
    }
}
