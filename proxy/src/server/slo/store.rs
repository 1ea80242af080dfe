//! Writing a manifest object: the stored JSON as its body, with
//! `X-Static-Large-Object: True` and the SLO ETag and size as system
//! metadata, through the ordinary quorum write and listing commit; and
//! [`put_manifest`], the entry point for callers (S3's multipart upload)
//! whose segments are already validated.

use super::manifest::{self, ObjectSegment, Segment};
use super::{SLO_ETAG_SYSMETA, SLO_HEADER, SLO_SIZE_SYSMETA};
use crate::errors::SwiftError;
use crate::server::fanout::{BodyStream, WriteSpec};
use crate::server::object_put::{new_meta, store};
use crate::server::{Ctx, ObjectPath, Shared};
use bytes::Bytes;
use cairn_base::Timestamp;
use cairn_nodeapi::ObjectMeta;

/// What is written besides the segments.
pub struct ManifestObject {
    /// Persisted headers (user metadata, `content-*`, `x-delete-at`,
    /// sysmeta), lowercase names; any SLO header among them is replaced.
    pub headers: Vec<(String, String)>,
    pub content_type: String,
    pub ts: Timestamp,
}

/// A manifest that reached its quorum: the stored metadata (`etag` is the
/// md5 of the manifest JSON) and the SLO ETag.
pub struct StoredManifest {
    pub meta: ObjectMeta,
    pub slo_etag: String,
}

/// Writes `segments` as the manifest `obj`. `None` when a quorum already
/// holds a newer version of the name (Swift's 202).
pub async fn store_manifest(
    sh: &Shared,
    obj: &ObjectPath,
    segments: &[Segment],
    object: ManifestObject,
) -> Result<Option<StoredManifest>, SwiftError> {
    let json = Bytes::from(manifest::to_json(segments));
    let slo_etag = manifest::slo_etag(segments);
    let mut headers = object.headers;
    headers.retain(|(k, _)| !super::is_slo_header(k));
    headers.push((SLO_HEADER.into(), "True".into()));
    headers.push((SLO_ETAG_SYSMETA.into(), slo_etag.clone()));
    headers.push((
        SLO_SIZE_SYSMETA.into(),
        manifest::total_bytes(segments).to_string(),
    ));
    let spec = WriteSpec {
        meta: new_meta(obj, object.ts, object.content_type, headers),
        expected_len: Some(json.len() as u64),
        expected_etag: None,
        max_len: json.len() as u64,
    };
    let body: BodyStream = Box::pin(futures::stream::once(async move { Ok(json) }));
    let written = store(sh, obj, body, spec).await?;
    Ok(written.map(|w| StoredManifest {
        meta: w.meta,
        slo_etag,
    }))
}

/// A segment the caller has already checked exists with this ETag and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRef {
    /// In the manifest's account.
    pub container: String,
    pub object: String,
    /// The segment's ETag (unquoted md5 hex).
    pub etag: String,
    pub size: u64,
}

/// Writes the manifest `obj` over `segments`, in order, whole, without the
/// checks of a Swift manifest PUT: for a caller (S3's multipart upload)
/// that has already authorized the write and validated every segment.
///
/// Guarantees, once it returns `Ok(Some(meta))`:
/// - the manifest is durable on a quorum and listed (the listing shows the
///   total size and the SLO ETag, as for any SLO);
/// - `extra_headers` (lowercase names, e.g. `x-object-sysmeta-s3api-etag`)
///   are persisted with it; `x-object-sysmeta-*` ones also survive POSTs;
/// - a Swift GET or HEAD serves the concatenation, with the SLO ETag (the
///   md5 of the segments' ETags) and total size, which are also in
///   `meta.header("x-object-sysmeta-slo-etag" / "…-slo-size")`;
///   `meta.etag` is the md5 of the stored manifest JSON;
/// - `meta.data_ts` is the write's timestamp (`ctx`'s), Last-Modified's source.
///
/// `Ok(None)` when a quorum already held a newer version of `obj` (Swift's
/// 202): nothing was written. It bounds neither the segment count nor their
/// sizes: the caller does (S3: 10,000 parts).
pub(crate) async fn put_manifest(
    sh: &Shared,
    ctx: &Ctx,
    obj: &ObjectPath,
    segments: Vec<SegmentRef>,
    extra_headers: Vec<(String, String)>,
    content_type: String,
) -> Result<Option<ObjectMeta>, SwiftError> {
    let segments: Vec<Segment> = segments
        .into_iter()
        .map(|s| {
            Segment::Object(ObjectSegment {
                name: format!("/{}/{}", s.container, s.object),
                hash: s.etag,
                bytes: s.size,
                content_type: None,
                last_modified: None,
                range: None,
                sub_slo: false,
            })
        })
        .collect();
    let object = ManifestObject {
        headers: extra_headers,
        content_type,
        ts: ctx.timestamp()?,
    };
    let stored = store_manifest(sh, obj, &segments, object).await?;
    Ok(stored.map(|s| s.meta))
}
