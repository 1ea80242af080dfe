//! Server-side copies: CopyObject (metadata directive COPY or REPLACE,
//! `x-amz-copy-source-if-*` conditions) and the source side of
//! UploadPartCopy (with `x-amz-copy-source-range`), served by Swift's copy
//! (`X-Copy-From`), which streams the source's replicas into a new write.

use super::error::{S3Error, S3ErrorCode};
use super::object::{no_such_key, stored_meta};
use super::translate::swift_request_headers;
use super::{xml, S3Req};
use crate::conditional::evaluate;
use crate::errors::SwiftError;
use crate::server::object_read::expired;
use crate::server::respond::{header_text, last_modified_secs, set};
use crate::server::{object_put, ObjectPath, Shared};
use axum::body::Body;
use cairn_nodeapi::ObjectMeta;
use http::{HeaderMap, Method, Response};
use percent_encoding::utf8_percent_encode;

/// The object named by `x-amz-copy-source`.
pub struct Source {
    pub bucket: String,
    pub key: String,
}

/// Parses `x-amz-copy-source`: `[/]bucket/key[?versionId=…]`, URL-encoded.
/// Only the current version (`null`) exists.
pub fn parse_source(r: &S3Req) -> Result<Source, S3Error> {
    let raw = r.header("x-amz-copy-source").unwrap_or("");
    let bad = || {
        S3Error::new(S3ErrorCode::InvalidArgument)
            .with_message(
                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            )
            .with("ArgumentName", "x-amz-copy-source")
            .with("ArgumentValue", raw)
    };
    let (path, version) = match raw.split_once("?versionId=") {
        Some((p, v)) => (p, Some(v)),
        None => (raw, None),
    };
    if version.is_some_and(|v| v != "null") {
        return Err(S3Error::new(S3ErrorCode::NoSuchVersion));
    }
    let decoded = crate::path::decode(path).ok_or_else(bad)?;
    let s = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (bucket, key) = s.split_once('/').ok_or_else(bad)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(bad());
    }
    Ok(Source {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    })
}

/// Checks the `x-amz-copy-source-if-*` conditions against the source.
fn check_conditions(r: &S3Req, src: &ObjectMeta) -> Result<(), S3Error> {
    let mut cond = HeaderMap::new();
    for (s3, swift) in [
        ("x-amz-copy-source-if-match", "if-match"),
        ("x-amz-copy-source-if-none-match", "if-none-match"),
        ("x-amz-copy-source-if-modified-since", "if-modified-since"),
        (
            "x-amz-copy-source-if-unmodified-since",
            "if-unmodified-since",
        ),
    ] {
        if let Some(v) = r.headers.get(s3) {
            cond.insert(swift, v.clone());
        }
    }
    if cond.is_empty() {
        return Ok(());
    }
    let etag = src
        .header(super::translate::S3_ETAG_SYSMETA)
        .unwrap_or(&src.etag);
    match evaluate(&cond, etag, last_modified_secs(src.meta_ts)).refusal() {
        None => Ok(()),
        Some(_) => Err(S3Error::new(S3ErrorCode::PreconditionFailed)),
    }
}

/// What a copy produced: the new ETag and Last-Modified (for the XML).
pub type Copied = xml::CopyResult;

/// Copies the source (or `range` of it) to `dst` through Swift's copy, with
/// `headers` describing the new object. Checks the source's conditions.
pub async fn copy_to(
    sh: &Shared,
    r: &S3Req,
    src: &Source,
    dst: &ObjectPath,
    mut headers: HeaderMap,
) -> Result<Copied, S3Error> {
    let src_obj = ObjectPath {
        account: dst.account.clone(),
        container: src.bucket.clone(),
        object: src.key.clone(),
    };
    sh.container_info(&src_obj.account, &src_obj.container)
        .await
        .map_err(|e| super::bucket::no_such_bucket(e, &src.bucket))?;
    let meta = match stored_meta(sh, &src_obj).await {
        Ok(m) if !expired(&m, r.now.secs()) => m,
        Ok(_) => return Err(no_such_key(SwiftError::NotFound, &src.key)),
        Err(e) => return Err(no_such_key(e, &src.key)),
    };
    check_conditions(r, &meta)?;
    let from = format!("/{}/{}", src.bucket, src.key);
    set(
        &mut headers,
        "x-copy-from",
        &utf8_percent_encode(&from, crate::server::respond::QUOTE).to_string(),
    );
    set(&mut headers, "content-length", "0");
    let ctx = r.swift_ctx(Method::PUT, headers);
    let resp = object_put::put(sh, &ctx, dst, Body::empty())
        .await
        .map_err(|e| match e {
            SwiftError::RangeNotSatisfiable => S3Error::new(S3ErrorCode::InvalidRange),
            e => no_such_key(e, &src.key),
        })?;
    Ok(Copied {
        etag: resp
            .headers()
            .get(http::header::ETAG)
            .map(header_text)
            .unwrap_or_default(),
        last_modified: r.now,
    })
}

/// CopyObject.
pub async fn copy_object(
    sh: &Shared,
    r: &S3Req,
    dst: &ObjectPath,
) -> Result<Response<Body>, S3Error> {
    let src = parse_source(r)?;
    let replace = match r.header("x-amz-metadata-directive").unwrap_or("COPY") {
        "COPY" => false,
        "REPLACE" => true,
        other => {
            return Err(S3Error::new(S3ErrorCode::InvalidArgument)
                .with_message("Unknown metadata directive.")
                .with("ArgumentName", "x-amz-metadata-directive")
                .with("ArgumentValue", other))
        }
    };
    if !replace && src.bucket == dst.container && src.key == dst.object {
        return Err(S3Error::new(S3ErrorCode::InvalidRequest).with_message(
            "This copy request is illegal because it is trying to copy an object to itself \
             without changing the object's metadata, storage class, website redirect location \
             or encryption attributes.",
        ));
    }
    let headers = if replace {
        let mut h = swift_request_headers(&r.headers);
        for cond in [
            "if-match",
            "if-none-match",
            "if-modified-since",
            "if-unmodified-since",
            "range",
        ] {
            h.remove(cond);
        }
        set(&mut h, "x-fresh-metadata", "true");
        h
    } else {
        HeaderMap::new()
    };
    let copied = copy_to(sh, r, &src, dst, headers).await?;
    super::multipart::reclaim_replaced_parts(sh, r, dst)
        .await
        .map_err(|e| S3Error::from_swift(e, S3ErrorCode::InternalError))?;
    Ok(xml::ok(copied.object_xml()))
}

/// `x-amz-copy-source-range: bytes=first-last`, checked, as a Swift `Range`.
pub fn source_range(r: &S3Req) -> Result<Option<String>, S3Error> {
    let Some(v) = r.header("x-amz-copy-source-range") else {
        return Ok(None);
    };
    let bad = || {
        S3Error::new(S3ErrorCode::InvalidArgument)
            .with_message("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
            .with("ArgumentName", "x-amz-copy-source-range")
            .with("ArgumentValue", v)
    };
    let spec = v.strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if a > b {
        return Err(bad());
    }
    Ok(Some(format!("bytes={a}-{b}")))
}
