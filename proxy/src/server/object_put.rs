//! Object PUT (with a body, or server-side copy through X-Copy-From) and
//! COPY: constraints, metadata, the quorum write, then the listing commit.

use super::dlo;
use super::fanout::{write_object, BodyStream, WriteSpec, Written};
use super::object_read::expired;
use super::reader::{self, Piece, Replicas, Version};
use super::respond::QUOTE;
use super::respond::{empty, header_text, last_modified_secs, set};
use super::{is_true, slo, Ctx, ObjectPath, Shared};
use crate::conditional::http_date;
use crate::constraints::{check_metadata, check_names, delete_at, MetaTarget};
use crate::errors::SwiftError;
use crate::mime;
use crate::path::parse_copy_ref;
use axum::body::Body;
use cairn_base::Timestamp;
use cairn_meta_api::ObjectEntry;
use cairn_nodeapi::ObjectMeta;
use futures::StreamExt;
use http::{HeaderMap, Response, StatusCode};
use percent_encoding::utf8_percent_encode;

/// Headers persisted with an object besides user metadata.
/// (Swift's object server `allowed_headers`.)
pub(super) const KEPT_HEADERS: [&str; 7] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
    "x-object-manifest",
    "x-robots-tag",
];

/// The body length the client announced: `Some(len)`, or `None` for chunked.
pub(super) fn body_length(ctx: &Ctx, max: u64) -> Result<Option<u64>, SwiftError> {
    if let Some(te) = ctx.header("transfer-encoding") {
        if !te.eq_ignore_ascii_case("chunked") {
            return Err(SwiftError::NotImplemented);
        }
        return Ok(None);
    }
    let Some(cl) = ctx.headers.get("content-length") else {
        return Err(SwiftError::LengthRequired);
    };
    let len: u64 = cl
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| SwiftError::BadRequest("Invalid Content-Length".into()))?;
    if len > max {
        return Err(SwiftError::TooLarge);
    }
    Ok(Some(len))
}

/// The user metadata and kept headers of the request, lowercase.
pub(super) fn request_headers(ctx: &Ctx, delete_at_secs: Option<u64>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = ctx
        .headers
        .iter()
        .filter(|(n, _)| {
            n.as_str().starts_with("x-object-meta-") || KEPT_HEADERS.contains(&n.as_str())
        })
        .map(|(n, v)| (n.as_str().to_owned(), header_text(v)))
        .collect();
    if let Some(at) = delete_at_secs {
        out.push(("x-delete-at".into(), at.to_string()));
    }
    out
}

pub(super) fn content_type(ctx: &Ctx, object: &str) -> Option<String> {
    if is_true(ctx.header("x-detect-content-type")) {
        return Some(mime::guess(object).to_owned());
    }
    ctx.headers
        .get("content-type")
        .map(header_text)
        .filter(|c| !c.is_empty())
}

pub async fn put(
    sh: &Shared,
    ctx: &Ctx,
    obj: &ObjectPath,
    body: Body,
) -> Result<Response<Body>, SwiftError> {
    let c = &sh.cfg.constraints;
    check_names(c, &obj.account, Some(&obj.container), Some(&obj.object))?;
    dlo::validate_header(ctx.header("x-object-manifest"))?;
    if let Some(src) = ctx.headers.get("x-copy-from") {
        if ctx
            .header("content-length")
            .is_some_and(|l| l.trim() != "0")
        {
            return Err(SwiftError::BadRequest(
                "Copy requests require a zero byte body".into(),
            ));
        }
        let (container, object) = parse_copy_ref(&header_text(src)).ok_or_else(bad_copy_from)?;
        let account = copy_account(ctx, "x-copy-from-account", &obj.account)?;
        let src = ObjectPath {
            account,
            container,
            object,
        };
        return copy_object(sh, ctx, &src, obj).await;
    }
    sh.authorize_in_container(ctx, &obj.account, &obj.container, true, "x-container-write")
        .await?;
    let len = body_length(ctx, c.max_file_size)?;
    check_metadata(&ctx.headers, MetaTarget::Object, c)?;
    let at = delete_at(&ctx.headers, ctx.now.secs())?;
    let ts = ctx.timestamp()?;
    if_none_match(sh, ctx, obj).await?;
    let ctype =
        content_type(ctx, &obj.object).unwrap_or_else(|| mime::guess(&obj.object).to_owned());
    let meta = new_meta(obj, ts, ctype, request_headers(ctx, at));
    let stream: BodyStream = Box::pin(
        body.into_data_stream()
            .map(|r| r.map_err(|_| SwiftError::ClientDisconnect)),
    );
    let spec = WriteSpec {
        meta,
        expected_len: len,
        expected_etag: ctx.header("etag").map(str::to_owned),
        max_len: c.max_file_size,
    };
    match store(sh, obj, stream, spec).await? {
        Some(w) => Ok(created(&w.meta, HeaderMap::new())),
        None => Ok(empty(StatusCode::ACCEPTED, HeaderMap::new())),
    }
}

fn bad_copy_from() -> SwiftError {
    SwiftError::PreconditionFailed(Some(
        "X-Copy-From header must be of the form <container name>/<object name>".into(),
    ))
}

fn copy_account(ctx: &Ctx, header: &str, default: &str) -> Result<String, SwiftError> {
    match ctx.headers.get(header) {
        None => Ok(default.to_owned()),
        Some(v) => crate::path::decode(&header_text(v))
            .map(|s| s.into_owned())
            .filter(|s| !s.is_empty() && !s.contains('/'))
            .ok_or_else(|| SwiftError::PreconditionFailed(Some(format!("Bad {header} header")))),
    }
}

/// Swift's `If-None-Match: *` on PUT: refuse to overwrite. (S3's
/// CompleteMultipartUpload checks it too, before writing its manifest.)
pub(crate) async fn if_none_match(
    sh: &Shared,
    ctx: &Ctx,
    obj: &ObjectPath,
) -> Result<(), SwiftError> {
    let Some(v) = ctx.header("if-none-match") else {
        return Ok(());
    };
    if v.trim() != "*" {
        return Err(SwiftError::BadRequest(
            "Only If-None-Match: * is supported for PUT".into(),
        ));
    }
    let loc = sh
        .placement
        .locate(&obj.account, &obj.container, &obj.object);
    let mut reps = Replicas::new(sh, &loc);
    match reader::head(&mut reps, false).await {
        Ok(m) if !expired(&m, ctx.now.secs()) => Err(SwiftError::PreconditionFailed(None)),
        Ok(_) | Err(SwiftError::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
}

pub(super) fn new_meta(
    obj: &ObjectPath,
    ts: Timestamp,
    content_type: String,
    headers: Vec<(String, String)>,
) -> ObjectMeta {
    ObjectMeta {
        name: obj.full_name(),
        data_ts: ts,
        meta_ts: ts,
        content_length: 0,
        etag: String::new(),
        content_type,
        headers,
    }
}

/// The quorum write, then the listing commit (the point of visibility).
/// `None` when a quorum already held a newer version (Swift's 202).
pub(super) async fn store(
    sh: &Shared,
    obj: &ObjectPath,
    body: BodyStream,
    spec: WriteSpec,
) -> Result<Option<Written>, SwiftError> {
    let loc = sh
        .placement
        .locate(&obj.account, &obj.container, &obj.object);
    let written = write_object(sh, &loc, body, spec).await?;
    if written.acked.is_empty() {
        return Ok(None);
    }
    let entry = listing_entry(&obj.object, written.meta.data_ts, &written.meta);
    sh.meta
        .put_object_entry(&obj.account, &obj.container, entry)
        .await?;
    crate::expirer::note_write(sh, obj, &written.meta.headers, written.meta.data_ts).await;
    Ok(Some(written))
}

/// The listing row of an object stored with metadata `m`, stamped `ts`.
pub(super) fn listing_entry(object: &str, ts: Timestamp, m: &ObjectMeta) -> ObjectEntry {
    let (etag, content_type) = slo::listing_fields(m);
    ObjectEntry {
        name: object.to_owned(),
        ts,
        size: m.content_length,
        etag,
        content_type,
    }
}

pub(super) fn created(m: &ObjectMeta, mut h: HeaderMap) -> Response<Body> {
    set(&mut h, "etag", &m.etag);
    set(
        &mut h,
        "last-modified",
        &http_date(last_modified_secs(m.meta_ts)),
    );
    set(&mut h, "x-timestamp", &m.data_ts.to_string());
    empty(StatusCode::CREATED, h)
}

/// COPY: the request path is the source, `Destination` the target.
pub async fn copy(sh: &Shared, ctx: &Ctx, obj: &ObjectPath) -> Result<Response<Body>, SwiftError> {
    let dest = ctx.headers.get("destination").ok_or_else(|| {
        SwiftError::PreconditionFailed(Some("Destination header required".into()))
    })?;
    let (container, object) = parse_copy_ref(&header_text(dest)).ok_or_else(|| {
        SwiftError::PreconditionFailed(Some(
            "Destination header must be of the form <container name>/<object name>".into(),
        ))
    })?;
    let account = copy_account(ctx, "destination-account", &obj.account)?;
    let dst = ObjectPath {
        account,
        container,
        object,
    };
    check_names(
        &sh.cfg.constraints,
        &dst.account,
        Some(&dst.container),
        Some(&dst.object),
    )?;
    copy_object(sh, ctx, obj, &dst).await
}

/// Server-side copy: streams the source's replicas into a new quorum write.
/// Authorizes the source read, then the destination write.
async fn copy_object(
    sh: &Shared,
    ctx: &Ctx,
    src: &ObjectPath,
    dst: &ObjectPath,
) -> Result<Response<Body>, SwiftError> {
    let c = &sh.cfg.constraints;
    check_names(c, &src.account, Some(&src.container), Some(&src.object))?;
    sh.authorize_in_container(ctx, &src.account, &src.container, true, "x-container-read")
        .await?;
    check_metadata(&ctx.headers, MetaTarget::Object, c)?;
    let at = delete_at(&ctx.headers, ctx.now.secs())?;
    let ts = ctx.timestamp()?;
    let loc = sh
        .placement
        .locate(&src.account, &src.container, &src.object);
    let mut reps = Replicas::new(sh, &loc);
    let src_meta = reader::head(&mut reps, ctx.newest()).await?;
    if expired(&src_meta, ctx.now.secs()) {
        return Err(SwiftError::NotFound);
    }
    // As Swift's copy middleware, the source is read before the destination
    // is authorized: a missing source is a 404 whoever may write the target.
    sh.authorize_in_container(ctx, &dst.account, &dst.container, true, "x-container-write")
        .await?;
    // A manifest is copied as the concatenation of its segments, unless the
    // client asked for the manifest itself (`multipart-manifest=get`).
    let manifest_itself = crate::path::param(&ctx.params, "multipart-manifest") == Some("get");
    let as_dlo = src_meta.header("x-object-manifest").is_some() && !manifest_itself;
    let as_slo = slo::is_manifest(&src_meta);
    let mut headers: Vec<(String, String)> = if is_true(ctx.header("x-fresh-metadata")) {
        Vec::new()
    } else {
        src_meta
            .headers
            .iter()
            .filter(|(k, _)| k != "x-delete-at" && k != "x-object-manifest")
            .filter(|(k, _)| !slo::is_slo_header(k))
            .cloned()
            .collect()
    };
    if manifest_itself {
        if let Some(m) = src_meta.header("x-object-manifest") {
            headers.push(("x-object-manifest".into(), m.to_owned()));
        }
    }
    for (k, v) in request_headers(ctx, at) {
        headers.retain(|(hk, _)| *hk != k);
        headers.push((k, v));
    }
    let ctype = content_type(ctx, &dst.object).unwrap_or_else(|| src_meta.content_type.clone());
    if as_slo && manifest_itself {
        let object = slo::ManifestObject {
            headers,
            content_type: ctype,
            ts: ts.max(src_meta.data_ts.next()),
        };
        let from = copied_from_headers(src, dst, &src_meta);
        return slo::copy_manifest(sh, ctx, (reps, &src_meta), dst, object, from).await;
    }
    let (src_body, len, src_etag) = if as_slo {
        let (body, len) = slo::copy_source(sh, ctx, src, &src_meta, reps).await?;
        (body, len, None)
    } else if as_dlo {
        dlo_source(sh, ctx, src, &src_meta).await?
    } else {
        let version = Version::of(&src_meta);
        let (start, end) = copy_range(ctx, src_meta.content_length)?;
        let whole = (start, end) == (0, src_meta.content_length);
        let opened = reader::open(&reps, Some(&version)).await?;
        let body = reader::spawn_body(reps, version, Some(opened), vec![Piece::Range(start, end)]);
        let etag = whole.then(|| src_meta.etag.clone());
        (body, end - start, etag)
    };
    let stream: BodyStream = Box::pin(
        src_body
            .into_data_stream()
            .map(|r| r.map_err(|e| SwiftError::Unavailable(format!("copy source failed: {e}")))),
    );
    let spec = WriteSpec {
        meta: new_meta(dst, ts.max(src_meta.data_ts.next()), ctype, headers),
        expected_len: Some(len),
        expected_etag: src_etag,
        max_len: c.max_file_size,
    };
    let Some(written) = store(sh, dst, stream, spec).await? else {
        return Ok(empty(StatusCode::ACCEPTED, HeaderMap::new()));
    };
    Ok(created(
        &written.meta,
        copied_from_headers(src, dst, &src_meta),
    ))
}

/// The `X-Copied-From*` headers of a copy's answer.
fn copied_from_headers(src: &ObjectPath, dst: &ObjectPath, src_meta: &ObjectMeta) -> HeaderMap {
    let mut h = HeaderMap::new();
    let from = format!("{}/{}", src.container, src.object);
    set(
        &mut h,
        "x-copied-from",
        &utf8_percent_encode(&from, QUOTE).to_string(),
    );
    set(
        &mut h,
        "x-copied-from-last-modified",
        &http_date(last_modified_secs(src_meta.meta_ts)),
    );
    if src.account != dst.account {
        set(
            &mut h,
            "x-copied-from-account",
            &utf8_percent_encode(&src.account, QUOTE).to_string(),
        );
    }
    h
}

/// The concatenated segments of a manifest being copied: the body, its
/// length, and no expected ETag (the copy's is the md5 of the content).
async fn dlo_source(
    sh: &Shared,
    ctx: &Ctx,
    src: &ObjectPath,
    manifest: &ObjectMeta,
) -> Result<(Body, u64, Option<String>), SwiftError> {
    let m = dlo::Manifest::load(sh, ctx, &src.account, manifest).await?;
    if m.total > sh.cfg.constraints.max_file_size {
        return Err(SwiftError::TooLarge);
    }
    let body = dlo::spawn_body(sh, &src.account, &m, (0, m.total)).await?;
    Ok((body, m.total, None))
}

/// The part of the source a copy takes: a single satisfiable `Range` of the
/// request, else the whole object (several ranges are served whole here).
pub(super) fn copy_range(ctx: &Ctx, len: u64) -> Result<(u64, u64), SwiftError> {
    let Some(specs) = ctx.header("range").and_then(crate::range::parse_range) else {
        return Ok((0, len));
    };
    match crate::range::plan(&specs, len) {
        crate::range::RangePlan::Ranges(r) if r.len() == 1 => Ok(r[0]),
        crate::range::RangePlan::Unsatisfiable => Err(SwiftError::RangeNotSatisfiable),
        _ => Ok((0, len)),
    }
}
