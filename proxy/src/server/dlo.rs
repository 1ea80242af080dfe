//! Dynamic Large Objects: an object whose `X-Object-Manifest: container/prefix`
//! makes GET and HEAD serve the concatenation of the objects listed under
//! that prefix, in name order, as Swift's `dlo` middleware does.
//!
//! The segments are listed and read with the requester's own rights on the
//! segment container. The ETag is the quoted md5 of the segments' ETags;
//! a single Range is served over the concatenation, several are ignored.

use super::object_read::object_headers;
use super::reader::{self, Piece, Replicas, Version};
use super::respond::{empty, error_response, last_modified_secs, response, set};
use super::{Ctx, ObjectPath, Shared};
use crate::conditional::evaluate;
use crate::errors::SwiftError;
use crate::range::{self, RangePlan};
use axum::body::Body;
use cairn_meta_api::{ListQuery, ObjectEntry, ObjectListItem};
use cairn_nodeapi::{GetStream, ObjectMeta};
use http::header::CONTENT_LENGTH;
use http::{HeaderValue, Response, StatusCode};
use md5::{Digest, Md5};
use std::time::{Duration, Instant};

/// A GET of a manifest is cut after this long (Swift's `max_get_time`).
pub const MAX_GET_TIME_SECS: u64 = 86_400;
/// Segments served before rate limiting starts (`rate_limit_after_segment`).
pub const RATE_LIMIT_AFTER_SEGMENT: usize = 10;
/// Segments per second after that (`rate_limit_segments_per_sec`).
pub const RATE_LIMIT_SEGMENTS_PER_SEC: u64 = 1;
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
    let specs = ctx
        .header("range")
        .and_then(range::parse_range)
        .filter(|s| s.len() == 1);
    let plan = specs
        .map(|s| range::plan(&s, total))
        .unwrap_or(RangePlan::Whole);
    let (status, start, end) = match plan {
        RangePlan::Whole => (StatusCode::OK, 0, total),
        RangePlan::Unsatisfiable => {
            let mut r = error_response(&SwiftError::RangeNotSatisfiable, ctx.is_head());
            set(
                r.headers_mut(),
                "content-range",
                &format!("bytes */{total}"),
            );
            set(r.headers_mut(), "accept-ranges", "bytes");
            return Ok(r);
        }
        RangePlan::Ranges(r) => {
            let (s, e) = r[0];
            let cr = format!("bytes {s}-{}/{total}", e - 1);
            set(&mut h, "content-range", &cr);
            (StatusCode::PARTIAL_CONTENT, s, e)
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

type Opened = (GetStream, usize);

/// Opens one segment, checking it still has the listed length.
async fn open_part(reps: &Replicas, part: &Part) -> Result<(Version, Opened), SwiftError> {
    let opened = reader::open(reps, None).await?;
    if opened.0.meta.content_length != part.size {
        tracing::warn!(segment = %part.name, "DLO segment changed size since listed");
        return Err(SwiftError::Conflict);
    }
    Ok((Version::of(&opened.0.meta), opened))
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
        let began = Instant::now();
        for (i, (part, reps)) in work.into_iter().enumerate() {
            if began.elapsed() > Duration::from_secs(MAX_GET_TIME_SECS) {
                let _ = tx
                    .send(Err(std::io::Error::other("max_get_time exceeded")))
                    .await;
                return;
            }
            rate_limit(began, i).await;
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

/// Swift's RateLimitedIterator: after the first segments, at most
/// [`RATE_LIMIT_SEGMENTS_PER_SEC`] segments per second.
async fn rate_limit(began: Instant, index: usize) {
    let Some(over) = index.checked_sub(RATE_LIMIT_AFTER_SEGMENT) else {
        return;
    };
    let due = began + Duration::from_secs(over as u64 / RATE_LIMIT_SEGMENTS_PER_SEC);
    tokio::time::sleep_until(due.into()).await;
}
