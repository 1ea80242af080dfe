//! Dynamic Large Objects: an object whose `X-Object-Manifest: container/prefix`
//! makes GET and HEAD serve the concatenation of the objects listed under
//! that prefix, in name order, as Swift's `dlo` middleware does.
//!
//! The segments are listed and read with the requester's own rights on the
//! segment container. The ETag is the quoted md5 of the segments' ETags;
//! a single Range is served over the concatenation, several are ignored.

use super::large_object::{self, Expected, Pacer, Requested};
use super::object_read::object_headers;
use super::reader::{self, Piece, Replicas};
use super::respond::{empty, last_modified_secs, response, set};
use super::{Ctx, ObjectPath, Shared};
use crate::conditional::evaluate;
use crate::errors::SwiftError;
use axum::body::Body;
use cairn_meta_api::{ListQuery, ObjectEntry, ObjectListItem};
use cairn_nodeapi::{ByteRange, ObjectMeta};
use http::header::CONTENT_LENGTH;
use http::{HeaderValue, Response, StatusCode};
use md5::{Digest, Md5};

/// Listing pages read for one manifest; beyond this the manifest is refused.
pub const LISTING_PAGES_MAX: usize = 100;

/// What Swift answers for a malformed `X-Object-Manifest`.
fn bad_manifest() -> SwiftError {
    SwiftError::BadRequest("X-Object-Manifest must be in the format container/prefix".into())
}

/// The manifest's `container/prefix`, percent-decoded.
fn manifest_target(meta: &ObjectMeta) -> Result<(String, String), SwiftError> {
    let raw = meta.header("x-object-manifest").ok_or_else(bad_manifest)?;
    let decoded = crate::path::decode(raw).ok_or_else(bad_manifest)?;
    let (c, p) = decoded.split_once('/').ok_or_else(bad_manifest)?;
    Ok((c.to_owned(), p.to_owned()))
}

/// A manifest resolved to its segments, as the requester may read them.
pub struct Manifest {
    /// The segments' container (in the manifest's account).
    pub container: String,
    pub segments: Vec<ObjectEntry>,
    /// The concatenation's length in bytes.
    pub total: u64,
}

impl Manifest {
    /// Lists the segments the manifest `meta` in `account` names.
    pub async fn load(
        sh: &Shared,
        ctx: &Ctx,
        account: &str,
        meta: &ObjectMeta,
    ) -> Result<Manifest, SwiftError> {
        let (container, prefix) = manifest_target(meta)?;
        let segments = segments(sh, ctx, account, &container, &prefix).await?;
        let total = segments.iter().map(|s| s.size).sum();
        Ok(Manifest {
            container,
            segments,
            total,
        })
    }
}

/// Swift's check of an `X-Object-Manifest` header on PUT and POST.
pub fn validate_header(value: Option<&str>) -> Result<(), SwiftError> {
    let Some(v) = value else { return Ok(()) };
    let ok = match v.split_once('/') {
        Some((c, p)) => {
            !c.is_empty() && !p.is_empty() && !v.contains(['?', '&']) && !p.starts_with('/')
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(bad_manifest())
    }
}

/// Every segment under `prefix` in `container`, read as the requester.
async fn segments(
    sh: &Shared,
    ctx: &Ctx,
    account: &str,
    container: &str,
    prefix: &str,
) -> Result<Vec<ObjectEntry>, SwiftError> {
    sh.authorize_in_container(ctx, account, container, false, "x-container-read")
        .await?;
    let limit = sh.cfg.constraints.container_listing_limit;
    let mut out: Vec<ObjectEntry> = Vec::new();
    for _ in 0..LISTING_PAGES_MAX {
        let q = ListQuery {
            prefix: Some(prefix.to_owned()),
            delimiter: None,
            marker: out.last().map(|e| e.name.clone()),
            end_marker: None,
            limit,
            reverse: false,
        };
        let page = sh.meta.list_objects(account, container, &q).await?;
        let n = page.len();
        out.extend(page.into_iter().filter_map(|i| match i {
            ObjectListItem::Object(e) => Some(e),
            ObjectListItem::Subdir(_) => None,
        }));
        if n < limit {
            return Ok(out);
        }
    }
    tracing::warn!(
        account,
        container,
        prefix,
        "DLO listing exceeds LISTING_PAGES_MAX"
    );
    Err(SwiftError::Conflict)
}

/// The manifest's ETag: md5 over the segments' ETags (unquoted hex).
pub fn etag(segs: &[ObjectEntry]) -> String {
    let mut h = Md5::new();
    for s in segs {
        h.update(s.etag.trim_matches('"').as_bytes());
    }
    hex::encode(h.finalize())
}

/// GET or HEAD of a manifest whose stored object is `manifest`.
pub async fn get_or_head(
    sh: &Shared,
    ctx: &Ctx,
    obj: &ObjectPath,
    manifest: &ObjectMeta,
) -> Result<Response<Body>, SwiftError> {
    let m = Manifest::load(sh, ctx, &obj.account, manifest).await?;
    let total = m.total;
    let etag = etag(&m.segments);
    let mut h = object_headers(manifest);
    set(&mut h, "etag", &format!("\"{etag}\""));
    let lm = last_modified_secs(manifest.meta_ts);
    if let Some(status) = evaluate(&ctx.headers, &etag, lm).refusal() {
        return Ok(empty(status, h));
    }
    // Only a single range is honoured; several are ignored (a 200), as in Swift.
    let (status, start, end) = match large_object::requested(ctx, total, false) {
        Requested::Whole => (StatusCode::OK, 0, total),
        Requested::Unsatisfiable => {
            return Ok(large_object::unsatisfiable(&h, total, ctx.is_head()))
        }
        Requested::Ranges(r) => {
            large_object::set_content_range(&mut h, r[0], total);
            (StatusCode::PARTIAL_CONTENT, r[0].0, r[0].1)
        }
    };
    h.insert(CONTENT_LENGTH, HeaderValue::from(end - start));
    if ctx.is_head() {
        return Ok(response(status, h, Body::empty()));
    }
    let body = spawn_body(sh, &obj.account, &m, (start, end)).await?;
    Ok(response(status, h, body))
}

/// One segment's part of the response: its name, listed size, and the
/// `[start, end)` of it that is served.
struct Part {
    name: String,
    size: u64,
    start: u64,
    end: u64,
}

/// The segments' parts covering `[start, end)` of the concatenation.
fn parts(segs: &[ObjectEntry], (start, end): (u64, u64)) -> Vec<Part> {
    let mut out = Vec::new();
    let mut off = 0u64;
    for s in segs {
        let (lo, hi) = (off, off + s.size);
        off = hi;
        if hi <= start || lo >= end || s.size == 0 {
            continue;
        }
        out.push(Part {
            name: s.name.clone(),
            size: s.size,
            start: start.max(lo) - lo,
            end: end.min(hi) - lo,
        });
    }
    out
}

/// Opens one part, checking its segment still has the listed length.
async fn open_part(
    reps: &Replicas,
    part: &Part,
) -> Result<(reader::Version, large_object::Opened), SwiftError> {
    let range = ByteRange {
        start: part.start,
        end: part.end,
    };
    let expected = Expected {
        size: part.size,
        etag: None,
    };
    large_object::open_segment(reps, range, expected).await
}

/// The concatenated body: the first segment is opened before answering
/// (a missing one is a 409, as in Swift), the rest while streaming.
pub async fn spawn_body(
    sh: &Shared,
    account: &str,
    m: &Manifest,
    span: (u64, u64),
) -> Result<Body, SwiftError> {
    let work: Vec<(Part, Replicas)> = parts(&m.segments, span)
        .into_iter()
        .map(|p| {
            let loc = sh.placement.locate(account, &m.container, &p.name);
            let reps = Replicas::new(sh, &loc);
            (p, reps)
        })
        .collect();
    let mut first = match work.first() {
        Some((p, reps)) => Some(open_part(reps, p).await.map_err(|e| match e {
            SwiftError::NotFound => SwiftError::Conflict,
            e => e,
        })?),
        None => None,
    };
    let (tx, body) = reader::body_channel();
    tokio::spawn(async move {
        let mut pacer = Pacer::new();
        for (part, reps) in work {
            if let Err(e) = pacer.next_segment(true).await {
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                return;
            }
            let opened = match first.take() {
                Some(o) => Ok(o),
                None => open_part(&reps, &part).await,
            };
            let (version, opened) = match opened {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(segment = %part.name, error = %e, "DLO segment failed");
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            // Straight into the client's channel: one task for the whole
            // manifest, no second hop per segment.
            let piece = vec![Piece::Range(part.start, part.end)];
            if !reader::stream_pieces(reps, version, Some(opened), piece, tx.clone()).await {
                return;
            }
        }
    });
    Ok(body)
}
