//! Bucket-level response documents: ListAllMyBucketsResult (ListBuckets),
//! LocationConstraint, the AccessControlPolicy of the canned private ACL,
//! and the VersioningConfiguration of a bucket that never had versioning.

use super::time::s3_time;
use super::write::{Owner, XmlDoc};
use cairn_base::Timestamp;

/// The region S3 writes as an empty `<LocationConstraint/>`.
const US_EAST_1: &str = "us-east-1";
const XSI_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// One bucket in a ListBuckets answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketEntry {
    pub name: String,
    pub creation_date: Timestamp,
}

/// The ListBuckets answer: the owner, then the buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAllMyBucketsResult {
    pub owner: Owner,
    pub buckets: Vec<BucketEntry>,
}

impl ListAllMyBucketsResult {
    pub fn to_xml(&self) -> String {
        let mut doc = XmlDoc::new("ListAllMyBucketsResult");
        doc.user("Owner", &self.owner).open("Buckets");
        for b in &self.buckets {
            doc.open("Bucket")
                .text("Name", &b.name)
                .text("CreationDate", &s3_time(b.creation_date))
                .close();
        }
        doc.close();
        doc.finish()
    }
}

/// GetBucketLocation's answer: the region, or an empty element for
/// us-east-1 (and for no region), as S3 answers.
pub fn location_constraint(region: &str) -> String {
    let mut doc = XmlDoc::new("LocationConstraint");
    if region != US_EAST_1 {
        doc.text_value(region);
    }
    doc.finish()
}

/// GetBucketAcl's and GetObjectAcl's answer for the canned `private` ACL:
/// the owner holds FULL_CONTROL and nobody else has a grant.
pub fn access_control_policy(owner: &Owner) -> String {
    let mut doc = XmlDoc::new("AccessControlPolicy");
    doc.user("Owner", owner)
        .open("AccessControlList")
        .open("Grant")
        .open_with(
            "Grantee",
            &[("xmlns:xsi", XSI_NAMESPACE), ("xsi:type", "CanonicalUser")],
        )
        .text("ID", &owner.id)
        .text("DisplayName", &owner.display_name)
        .close()
        .text("Permission", "FULL_CONTROL")
        .close()
        .close();
    doc.finish()
}

/// GetBucketVersioning's answer for a bucket whose versioning was never
/// enabled: an empty configuration.
pub fn versioning_configuration() -> String {
    XmlDoc::new("VersioningConfiguration").finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::xml::testutil::assert_leaves;

    fn owner() -> Owner {
        Owner {
            id: "AUTH_test".to_owned(),
            display_name: "test:tester".to_owned(),
        }
    }

    #[test]
    fn list_buckets_has_owner_then_buckets() {
        // AWS's example shape: Owner/ID, Owner/DisplayName, Buckets/Bucket/….
        let r = ListAllMyBucketsResult {
            owner: owner(),
            buckets: vec![
                BucketEntry {
                    name: "a<b".to_owned(),
                    creation_date: Timestamp::from_secs(1_255_369_830),
                },
                BucketEntry {
                    name: "c".to_owned(),
                    creation_date: Timestamp::from_secs(0),
                },
            ],
        };
        assert_leaves(
            &r.to_xml(),
            &[
                ("ListAllMyBucketsResult/Owner/ID", "AUTH_test"),
                ("ListAllMyBucketsResult/Owner/DisplayName", "test:tester"),
                ("ListAllMyBucketsResult/Buckets/Bucket/Name", "a<b"),
                (
                    "ListAllMyBucketsResult/Buckets/Bucket/CreationDate",
                    "2009-10-12T17:50:30.000Z",
                ),
                ("ListAllMyBucketsResult/Buckets/Bucket/Name", "c"),
                (
                    "ListAllMyBucketsResult/Buckets/Bucket/CreationDate",
                    "1970-01-01T00:00:00.000Z",
                ),
            ],
        );
    }

    #[test]
    fn no_buckets_still_has_an_empty_buckets_element() {
        // Clients expect <Buckets> even when there are none.
        let r = ListAllMyBucketsResult {
            owner: owner(),
            buckets: vec![],
        };
        assert!(r.to_xml().contains("<Buckets></Buckets>"));
    }

    #[test]
    fn location_is_empty_for_us_east_1() {
        // us-east-1 is written as an empty element; other regions as text.
        assert_eq!(
            location_constraint("us-east-1"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>"
        );
        assert_eq!(
            location_constraint("eu-west-1"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             eu-west-1</LocationConstraint>"
        );
    }

    #[test]
    fn private_acl_grants_the_owner_full_control() {
        // One grant, to the owner as a CanonicalUser, of FULL_CONTROL.
        let xml = access_control_policy(&owner());
        assert_leaves(
            &xml,
            &[
                ("AccessControlPolicy/Owner/ID", "AUTH_test"),
                ("AccessControlPolicy/Owner/DisplayName", "test:tester"),
                (
                    "AccessControlPolicy/AccessControlList/Grant/Grantee/ID",
                    "AUTH_test",
                ),
                (
                    "AccessControlPolicy/AccessControlList/Grant/Grantee/DisplayName",
                    "test:tester",
                ),
                (
                    "AccessControlPolicy/AccessControlList/Grant/Permission",
                    "FULL_CONTROL",
                ),
            ],
        );
        assert!(xml.contains(
            "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xsi:type=\"CanonicalUser\">"
        ));
    }

    #[test]
    fn versioning_is_an_empty_configuration() {
        // Never enabled: no Status element at all.
        assert_eq!(
            versioning_configuration(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>"
        );
    }
}
