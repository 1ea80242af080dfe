//! S3's XML documents: the responses we write (plain structs in, a `String`
//! out, each with S3's declaration and namespace) and the request bodies we
//! read (bytes in, a typed value or an [`S3Error`](crate::s3::error::S3Error)
//! out, bounded and without entity expansion).
//!
//! Shapes follow Amazon S3's API reference and what Swift's s3api
//! middleware emits (element names, order, which elements are optional).

mod bucket;
mod listing;
mod multipart;
mod object;
mod read;
mod requests;
mod time;
mod versions;
mod write;

#[cfg(test)]
pub(crate) mod testutil;

pub use bucket::{
    access_control_policy, location_constraint, versioning_configuration, BucketEntry,
    ListAllMyBucketsResult,
};
pub use listing::{ListBucketResult, ListVersion, ObjectEntry};
pub use multipart::{
    CompleteMultipartUploadResult, InitiateMultipartUploadResult, ListMultipartUploadsResult,
    ListPartsResult, PartEntry, UploadEntry,
};
pub use object::{CopyResult, DeleteErrorEntry, DeleteResult, DeletedEntry};
pub use requests::{
    check_order, parse_complete_multipart_upload, parse_create_bucket_configuration, parse_delete,
    CompletedPart, DeleteRequest, ObjectIdentifier, COMPLETE_BODY_BYTES_MAX,
    CREATE_BUCKET_BODY_BYTES_MAX, DELETE_BODY_BYTES_MAX, DELETE_OBJECTS_MAX, PARTS_MAX,
};
pub use time::{iso8601, s3_time};
pub use versions::{ListVersionsResult, NULL_VERSION_ID};
pub use write::{KeyEncoding, Owner, S3_NAMESPACE};

pub(crate) use write::{quoted_etag, XmlDoc};

/// A 200 answer carrying an XML document.
pub fn ok(doc: String) -> http::Response<axum::body::Body> {
    let mut r = http::Response::new(axum::body::Body::from(doc));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    r
}
