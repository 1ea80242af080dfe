//! Object GET and HEAD: metadata headers, expiry, conditional requests,
//! ranges (single and multipart), and the body streamed with failover.

use super::reader::{self, Piece, Replicas, Version};
use super::respond::{empty, last_modified_secs, response, set};
use super::{slo, Ctx, ObjectPath, Shared};
use crate::conditional::{evaluate, http_date};
use crate::constraints::check_names;
use crate::errors::SwiftError;
use crate::range::{self, RangePlan};
use axum::body::Body;
use bytes::Bytes;
use cairn_nodeapi::ObjectMeta;
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, HeaderValue, Response, StatusCode};

/// Whether the object's `X-Delete-At` has passed.
pub fn expired(m: &ObjectMeta, now_secs: u64) -> bool {
    m.header("x-delete-at")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|at| at <= now_secs)
}

/// The headers describing a stored object, system metadata included (the
/// front end strips it before a Swift client sees it; S3 reads its own).
pub fn object_headers(m: &ObjectMeta) -> HeaderMap {
    let mut h = HeaderMap::new();
    set(&mut h, "content-type", &m.content_type);
    set(&mut h, "etag", &m.etag);
    set(
        &mut h,
        "last-modified",
        &http_date(last_modified_secs(m.meta_ts)),
    );
    set(&mut h, "x-timestamp", &m.meta_ts.to_string());
    set(&mut h, "accept-ranges", "bytes");
    for (k, v) in &m.headers {
        set(&mut h, k, v);
    }
    h
}

pub async fn get_or_head(
    sh: &Shared,
    ctx: &Ctx,
    obj: &ObjectPath,
) -> Result<Response<Body>, SwiftError> {
    check_names(
        &sh.cfg.constraints,
        &obj.account,
        Some(&obj.container),
        Some(&obj.object),
    )?;
    sh.authorize_in_container(ctx, &obj.account, &obj.container, true, "x-container-read")
        .await?;
    let loc = sh
        .placement
        .locate(&obj.account, &obj.container, &obj.object);
    let mut reps = Replicas::new(sh, &loc);
    // GET without X-Newest opens the body at once (one round trip); HEAD and
    // X-Newest first learn which copy to serve.
    let (meta, opened) = if ctx.is_head() || ctx.newest() {
        let m = reader::head(&mut reps, ctx.newest()).await?;
        (m, None)
    } else {
        let (s, idx) = reader::open(&reps, None).await?;
        (s.meta.clone(), Some((s, idx)))
    };
    if expired(&meta, ctx.now.secs()) {
        return Err(SwiftError::NotFound);
    }
    let slo_view = slo::is_manifest(&meta).then(|| slo::View::of(ctx));
    match slo_view {
        Some(slo::View::Concatenation) => {
            return slo::get_or_head(sh, ctx, obj, meta, reps, opened).await
        }
        Some(slo::View::Raw) => return slo::get_raw(ctx, meta, reps, opened).await,
        Some(slo::View::Stored) | None => {}
    }
    if meta.header("x-object-manifest").is_some()
        && crate::path::param(&ctx.params, "multipart-manifest") != Some("get")
    {
        drop(opened);
        return super::dlo::get_or_head(sh, ctx, obj, &meta).await;
    }
    let mut h = object_headers(&meta);
    if slo_view.is_some() {
        set(&mut h, "content-type", slo::MANIFEST_CONTENT_TYPE);
    }
    // Swift answers a failed condition with the object's headers (ETag,
    // Last-Modified, Accept-Ranges…) and an empty body.
    let cond_etag = ctx
        .etag_is_at
        .and_then(|h| meta.header(h))
        .unwrap_or(&meta.etag);
    if let Some(status) =
        evaluate(&ctx.headers, cond_etag, last_modified_secs(meta.meta_ts)).refusal()
    {
        return Ok(empty(status, h));
    }
    let len = meta.content_length;
    if ctx.is_head() {
        h.insert(CONTENT_LENGTH, HeaderValue::from(len));
        return Ok(response(StatusCode::OK, h, Body::empty()));
    }
    let version = Version::of(&meta);
    let specs = ctx.header("range").and_then(range::parse_range);
    let plan = specs
        .map(|s| range::plan(&s, len))
        .unwrap_or(RangePlan::Whole);
    match plan {
        RangePlan::Whole => {
            h.insert(CONTENT_LENGTH, HeaderValue::from(len));
            let opened = match opened {
                Some(o) => o,
                None => reader::open(&reps, Some(&version)).await?,
            };
            let body = reader::spawn_body(reps, version, Some(opened), vec![Piece::Range(0, len)]);
            Ok(response(StatusCode::OK, h, body))
        }
        RangePlan::Unsatisfiable => {
            let e = SwiftError::RangeNotSatisfiable;
            let mut r = super::respond::error_response(&e, false);
            for (k, v) in h.iter() {
                if k != "content-type" {
                    r.headers_mut().insert(k.clone(), v.clone());
                }
            }
            set(r.headers_mut(), "content-range", &format!("bytes */{len}"));
            Ok(r)
        }
        RangePlan::Ranges(ranges) if ranges.len() == 1 => {
            let (s, e) = ranges[0];
            h.insert(CONTENT_LENGTH, HeaderValue::from(e - s));
            set(
                &mut h,
                "content-range",
                &format!("bytes {s}-{}/{len}", e - 1),
            );
            let body = reader::spawn_body(reps, version, opened, vec![Piece::Range(s, e)]);
            Ok(response(StatusCode::PARTIAL_CONTENT, h, body))
        }
        RangePlan::Ranges(ranges) => {
            let boundary = hex::encode(rand::random::<[u8; 16]>());
            let total = range::multipart_length(&boundary, &meta.content_type, &ranges, len);
            let mut pieces = Vec::with_capacity(ranges.len() * 3 + 1);
            for &r in &ranges {
                let head = range::part_header(&boundary, &meta.content_type, r, len);
                pieces.push(Piece::Literal(Bytes::from(head)));
                pieces.push(Piece::Range(r.0, r.1));
                pieces.push(Piece::Literal(Bytes::from_static(b"\r\n")));
            }
            pieces.push(Piece::Literal(Bytes::from(range::closing(&boundary))));
            h.insert(CONTENT_LENGTH, HeaderValue::from(total));
            set(
                &mut h,
                "content-type",
                &format!("multipart/byteranges;boundary={boundary}"),
            );
            let body = reader::spawn_body(reps, version, opened, pieces);
            Ok(response(StatusCode::PARTIAL_CONTENT, h, body))
        }
    }
}
