//! GET and HEAD of a Static Large Object: the concatenation of its segments
//! with the SLO's headers (quoted SLO ETag, `X-Manifest-Etag`, the total as
//! Content-Length), conditions judged against the SLO ETag, Range (several
//! as `multipart/byteranges`) and `part-number`; the manifest in the PUT
//! format for `multipart-manifest=get&format=raw`; and the source side of a
//! COPY of the concatenation.

use super::manifest::{self, Segment};
use super::walk::{self, Emit};
use super::{Attrs, MANIFEST_READ_BYTES_MAX};
use crate::conditional::evaluate;
use crate::errors::SwiftError;
use crate::path::param;
use crate::range;
use crate::server::large_object::{self, Requested};
use crate::server::object_put::copy_range;
use crate::server::object_read::object_headers;
use crate::server::reader::{self, Replicas, Version};
use crate::server::respond::{empty, last_modified_secs, response, set, with_body};
use crate::server::{Ctx, ObjectPath, Shared};
use axum::body::Body;
use bytes::Bytes;
use cairn_nodeapi::{GetStream, ObjectMeta};
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use md5::{Digest, Md5};
use std::sync::Arc;

/// The manifest's stored list, parsed; `opened` is the object's open stream
/// when the caller has one.
pub async fn load(
    reps: Replicas,
    opened: Option<(GetStream, usize)>,
    meta: &ObjectMeta,
) -> Result<Vec<Segment>, SwiftError> {
    let opened = match opened {
        Some(o) => o,
        None => reader::open(&reps, Some(&Version::of(meta))).await?,
    };
    let body = reader::read_all(reps, opened, MANIFEST_READ_BYTES_MAX).await?;
    manifest::parse(&body).map_err(|e| {
        tracing::error!(manifest = %meta.name, error = %e, "unable to load SLO manifest");
        SwiftError::Internal(format!("unable to load SLO manifest {}: {e}", meta.name))
    })
}

/// Swift's `get_valid_part_num`: the 1-based `part-number`, if asked for.
fn part_number(ctx: &Ctx) -> Result<Option<usize>, SwiftError> {
    let Some(p) = param(&ctx.params, "part-number") else {
        return Ok(None);
    };
    let n = p
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            SwiftError::BadRequest("Part number must be an integer greater than 0".into())
        })?;
    if ctx.header("range").and_then(range::parse_range).is_some() {
        return Err(SwiftError::BadRequest(
            "Range requests are not supported with part number queries".into(),
        ));
    }
    Ok(Some(n))
}

/// The half-open bytes of part `n` (1-based) in the concatenation.
fn part_bytes(segments: &[Segment], n: usize) -> Option<(u64, u64)> {
    let part = segments.get(n - 1)?;
    let start: u64 = segments[..n - 1].iter().map(Segment::length).sum();
    Some((start, start + part.length()))
}

/// Swift's 416 for a part number past the last part.
fn part_unsatisfiable(mut h: HeaderMap, total: u64, is_head: bool) -> Response<Body> {
    set(&mut h, "content-range", &format!("bytes */{total}"));
    let body = if is_head {
        String::new()
    } else {
        "The requested part number is not satisfiable".to_owned()
    };
    let ctype = h
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/plain")
        .to_owned();
    with_body(StatusCode::RANGE_NOT_SATISFIABLE, h, &ctype, body, false)
}

/// GET or HEAD of the SLO whose manifest object is `meta`.
pub async fn get_or_head(
    sh: &Shared,
    ctx: &Ctx,
    obj: &ObjectPath,
    meta: ObjectMeta,
    reps: Replicas,
    opened: Option<(GetStream, usize)>,
) -> Result<Response<Body>, SwiftError> {
    let part = part_number(ctx)?;
    let attrs = Attrs::required(&meta)?;
    let mut h = object_headers(&meta);
    set(&mut h, "etag", &format!("\"{}\"", attrs.etag));
    set(&mut h, "x-manifest-etag", &meta.etag);
    let lm = last_modified_secs(meta.meta_ts);
    let cond_etag = ctx
        .etag_is_at
        .and_then(|h| meta.header(h))
        .unwrap_or(&attrs.etag);
    if let Some(status) = evaluate(&ctx.headers, cond_etag, lm).refusal() {
        return Ok(empty(status, h));
    }
    let total = attrs.size;
    if ctx.is_head() && part.is_none() {
        h.insert(CONTENT_LENGTH, HeaderValue::from(total));
        return Ok(response(StatusCode::OK, h, Body::empty()));
    }
    let segments = Arc::new(load(reps, opened, &meta).await?);
    let (status, spans) = match part {
        Some(n) => {
            set(&mut h, "x-parts-count", &segments.len().to_string());
            let Some(p) = part_bytes(&segments, n) else {
                return Ok(part_unsatisfiable(h, total, ctx.is_head()));
            };
            (StatusCode::PARTIAL_CONTENT, vec![p])
        }
        None => match large_object::requested(ctx, total, true) {
            Requested::Whole => (StatusCode::OK, vec![(0, total)]),
            Requested::Unsatisfiable => {
                return Ok(large_object::unsatisfiable(&h, total, ctx.is_head()))
            }
            Requested::Ranges(r) => (StatusCode::PARTIAL_CONTENT, r),
        },
    };
    let emits = match spans[..] {
        [one] => {
            if status == StatusCode::PARTIAL_CONTENT && one.1 > one.0 {
                large_object::set_content_range(&mut h, one, total);
            }
            h.insert(CONTENT_LENGTH, HeaderValue::from(one.1 - one.0));
            span(one).into_iter().collect()
        }
        _ => multipart(&mut h, &meta.content_type, &spans, total),
    };
    if ctx.is_head() {
        return Ok(response(status, h, Body::empty()));
    }
    let body = walk::spawn(sh, ctx, &obj.account, segments, emits).await?;
    Ok(response(status, h, body))
}

/// The walk of `[start, end)`, nothing when it is empty.
fn span((start, end): (u64, u64)) -> Option<Emit> {
    (end > start).then(|| Emit::Span {
        first: start,
        last: end - 1,
    })
}

/// A `multipart/byteranges` body over `ranges`, as swob lays it out; sets
/// its Content-Type and Content-Length.
fn multipart(
    h: &mut HeaderMap,
    content_type: &str,
    ranges: &[(u64, u64)],
    total: u64,
) -> Vec<Emit> {
    let boundary = hex::encode(rand::random::<[u8; 16]>());
    let mut emits = Vec::with_capacity(ranges.len() * 3 + 1);
    for &r in ranges {
        let head = range::part_header(&boundary, content_type, r, total);
        emits.push(Emit::Literal(Bytes::from(head)));
        emits.extend(span(r));
        emits.push(Emit::Literal(Bytes::from_static(b"\r\n")));
    }
    emits.push(Emit::Literal(Bytes::from(range::closing(&boundary))));
    let len = range::multipart_length(&boundary, content_type, ranges, total);
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    set(
        h,
        "content-type",
        &format!("multipart/byteranges;boundary={boundary}"),
    );
    emits
}

/// `multipart-manifest=get&format=raw`: the manifest in the PUT input
/// format, with the object's content type and the ETag of that body.
pub async fn get_raw(
    ctx: &Ctx,
    meta: ObjectMeta,
    reps: Replicas,
    opened: Option<(GetStream, usize)>,
) -> Result<Response<Body>, SwiftError> {
    let segments = load(reps, opened, &meta).await?;
    let raw = manifest::to_raw_json(&segments);
    let etag = hex::encode(Md5::digest(raw.as_bytes()));
    let mut h = object_headers(&meta);
    set(&mut h, "etag", &etag);
    if let Some(status) = evaluate(&ctx.headers, &etag, last_modified_secs(meta.meta_ts)).refusal()
    {
        return Ok(empty(status, h));
    }
    Ok(with_body(
        StatusCode::OK,
        h,
        &meta.content_type,
        raw,
        ctx.is_head(),
    ))
}

/// The source of a COPY of the SLO `src` (`meta`): the concatenation, or
/// the `part-number` or single Range asked for; the body and its length.
pub async fn copy_source(
    sh: &Shared,
    ctx: &Ctx,
    src: &ObjectPath,
    meta: &ObjectMeta,
    reps: Replicas,
) -> Result<(Body, u64), SwiftError> {
    let part = part_number(ctx)?;
    let total = Attrs::required(meta)?.size;
    let segments = Arc::new(load(reps, None, meta).await?);
    let (start, end) = match part {
        Some(n) => part_bytes(&segments, n).ok_or(SwiftError::RangeNotSatisfiable)?,
        None => copy_range(ctx, total)?,
    };
    if end - start > sh.cfg.constraints.max_file_size {
        return Err(SwiftError::TooLarge);
    }
    let emits = span((start, end)).into_iter().collect();
    let body = walk::spawn(sh, ctx, &src.account, segments, emits).await?;
    Ok((body, end - start))
}
