//! Static Large Objects, as Swift's `slo` middleware serves them: a manifest
//! object whose body is the JSON list of its segments (objects, ranges of
//! objects, other SLOs, inline data), marked `X-Static-Large-Object: True`
//! with the SLO ETag and total size as system metadata.
//!
//! - `PUT ?multipart-manifest=put` validates the client's list against a
//!   HEAD of every segment and stores the resolved manifest ([`put`]);
//! - GET and HEAD serve the concatenation, `multipart-manifest=get` the
//!   manifest itself ([`serve`], streaming in [`walk`]);
//! - `DELETE ?multipart-manifest=delete` deletes the segments too ([`delete`]);
//! - [`put_manifest`] writes a manifest whose segments the caller validated
//!   (S3's multipart upload).
//!
//! Segments are always reached with the requester's own rights.

mod access;
mod delete;
mod input;
mod manifest;
mod put;
mod pyjson;
mod report;
mod serve;
mod store;
mod walk;

pub use delete::delete;
pub use put::{copy_manifest, put};
pub use serve::{copy_source, get_or_head, get_raw};
pub use store::ManifestObject;
pub(crate) use store::{put_manifest, SegmentRef};

use super::{is_true, Ctx};
use crate::errors::SwiftError;
use crate::path::param;
use cairn_nodeapi::ObjectMeta;
use serde_json::{json, Value};

/// Object-backed segments one manifest may list (`max_manifest_segments`).
pub const MAX_MANIFEST_SEGMENTS: usize = 1000;
/// Largest manifest PUT body (`max_manifest_size`).
pub const MAX_MANIFEST_BYTES: usize = 8 * 1024 * 1024;
/// Largest stored manifest read whole: a PUT body of [`MAX_MANIFEST_BYTES`]
/// grows when each entry gains its content type and timestamp.
pub const MANIFEST_READ_BYTES_MAX: usize = 4 * MAX_MANIFEST_BYTES;
/// Content type of `multipart-manifest=get`.
pub const MANIFEST_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Marks a manifest object.
const SLO_HEADER: &str = "x-static-large-object";
/// The SLO ETag (md5 of the segments' ETags, unquoted).
const SLO_ETAG_SYSMETA: &str = "x-object-sysmeta-slo-etag";
/// The concatenation's length.
const SLO_SIZE_SYSMETA: &str = "x-object-sysmeta-slo-size";

/// `/info`'s `slo` section.
pub fn capabilities() -> Value {
    json!({
        "max_manifest_segments": MAX_MANIFEST_SEGMENTS,
        "max_manifest_size": MAX_MANIFEST_BYTES,
        "yield_frequency": report::YIELD_FREQUENCY_SECS,
        "min_segment_size": 1,
        "allow_async_delete": false,
    })
}

/// Whether the stored object is an SLO manifest.
pub fn is_manifest(meta: &ObjectMeta) -> bool {
    is_true(meta.header(SLO_HEADER))
}

/// Whether a persisted header is one of the SLO's own.
pub fn is_slo_header(name: &str) -> bool {
    matches!(name, SLO_HEADER | SLO_ETAG_SYSMETA | SLO_SIZE_SYSMETA)
}

/// A manifest's SLO ETag and total size, from its system metadata.
pub struct Attrs {
    pub etag: String,
    pub size: u64,
}

impl Attrs {
    /// `None` for an object that is no manifest; an error for a manifest
    /// without them (Cairn writes both with every manifest).
    pub fn of(meta: &ObjectMeta) -> Result<Option<Attrs>, SwiftError> {
        if !is_manifest(meta) {
            return Ok(None);
        }
        let etag = meta.header(SLO_ETAG_SYSMETA);
        let size = meta.header(SLO_SIZE_SYSMETA).and_then(|s| s.parse().ok());
        match (etag, size) {
            (Some(etag), Some(size)) => Ok(Some(Attrs {
                etag: etag.to_owned(),
                size,
            })),
            _ => Err(SwiftError::Internal(format!(
                "SLO manifest {} lacks its ETag or size",
                meta.name
            ))),
        }
    }

    /// As [`Attrs::of`] for an object known to be a manifest.
    pub fn required(meta: &ObjectMeta) -> Result<Attrs, SwiftError> {
        Attrs::of(meta)?.ok_or_else(|| SwiftError::Internal(format!("{} is no SLO", meta.name)))
    }
}

/// The listing row's ETag and content type for an object stored with
/// `meta`: for a manifest, with the SLO ETag and total size riding along.
pub fn listing_fields(meta: &ObjectMeta) -> (String, String) {
    match Attrs::of(meta) {
        Ok(Some(a)) => {
            let s3_etag = meta.header(crate::s3::translate::S3_ETAG_SYSMETA);
            crate::listing::large_object_row(
                &meta.etag,
                &a.etag,
                s3_etag,
                &meta.content_type,
                a.size,
            )
        }
        _ => (meta.etag.clone(), meta.content_type.clone()),
    }
}

/// What a GET or HEAD of a manifest serves.
pub enum View {
    /// The segments' concatenation.
    Concatenation,
    /// `multipart-manifest=get`: the stored manifest, as JSON.
    Stored,
    /// `multipart-manifest=get&format=raw`: the manifest in the PUT format.
    Raw,
}

impl View {
    pub fn of(ctx: &Ctx) -> View {
        match param(&ctx.params, "multipart-manifest") {
            Some("get") if param(&ctx.params, "format") == Some("raw") => View::Raw,
            Some("get") => View::Stored,
            _ => View::Concatenation,
        }
    }
}

/// `PUT ?multipart-manifest=put`.
pub fn is_manifest_put(ctx: &Ctx) -> bool {
    ctx.method == http::Method::PUT && param(&ctx.params, "multipart-manifest") == Some("put")
}

/// `DELETE ?multipart-manifest=delete`.
pub fn is_manifest_delete(ctx: &Ctx) -> bool {
    ctx.method == http::Method::DELETE && param(&ctx.params, "multipart-manifest") == Some("delete")
}

/// Whether a write that is no manifest PUT or DELETE carries
/// `X-Static-Large-Object`, which Swift refuses ([`reserved_header`]).
pub fn has_reserved_header(ctx: &Ctx) -> bool {
    ctx.headers.contains_key(SLO_HEADER)
}

/// Swift's answer to a reserved `X-Static-Large-Object` header.
pub fn reserved_header() -> SwiftError {
    SwiftError::BadRequest(
        "X-Static-Large-Object is a reserved header. To create a static large object add query param multipart-manifest=put.".into(),
    )
}
