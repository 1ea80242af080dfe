//! Object requests: GetObject, HeadObject, PutObject, DeleteObject and
//! DeleteObjects, served by the Swift handlers, plus dispatch of the
//! multipart-upload and copy operations that share their paths.

use super::body::{content_md5_hex, prepare, read_small, require_digest, require_length};
use super::body::{ChecksumOf, Prepared};
use super::bucket::no_such_bucket;
use super::error::{S3Error, S3ErrorCode};
use super::translate::without_aws_chunked;
use super::translate::S3_ETAG_SYSMETA;
use super::translate::{apply_overrides, s3_object_response, swift_request_headers};
use super::xml::quoted_etag;
use super::{copy, multipart, xml, S3Req};
use crate::errors::SwiftError;
use crate::server::reader::{self, Replicas};
use crate::server::respond::{empty, header_text, set};
use crate::server::{object_put, object_read, object_write, ObjectPath, Shared};
use axum::body::Body;
use cairn_meta_api::{ListQuery, ObjectListItem};
use cairn_nodeapi::ObjectMeta;
use futures::StreamExt;
use http::{HeaderMap, Method, Response, StatusCode};

/// S3's longest key, in bytes.
const KEY_BYTES_MAX: usize = 1024;
/// What S3 stores as the type of an object sent without one.
const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";
/// Deletions of one DeleteObjects run at once.
const DELETE_CONCURRENCY: usize = 16;

pub async fn handle(
    sh: &Shared,
    r: &S3Req,
    bucket: &str,
    key: &str,
    body: Body,
) -> Result<Response<Body>, S3Error> {
    if key.len() > KEY_BYTES_MAX {
        return Err(S3Error::new(S3ErrorCode::KeyTooLongError));
    }
    let account = r.account()?;
    sh.container_info(&account, bucket)
        .await
        .map_err(|e| no_such_bucket(e, bucket))?;
    let obj = ObjectPath {
        account,
        container: bucket.to_owned(),
        object: key.to_owned(),
    };
    let upload = r.has_param("uploadId");
    if matches!(r.method, Method::PUT | Method::POST) {
        refuse_encryption(r)?;
    }
    match r.method.as_str() {
        "GET" if upload => multipart::list_parts(sh, r, &obj).await,
        "GET" | "HEAD" if r.has_param("acl") => object_acl(sh, r, &obj).await,
        "GET" | "HEAD" => get_or_head(sh, r, &obj).await,
        "PUT" if upload && r.headers.contains_key("x-amz-copy-source") => {
            multipart::upload_part_copy(sh, r, &obj).await
        }
        "PUT" if upload => multipart::upload_part(sh, r, &obj, body).await,
        "PUT" if r.has_param("acl") || r.has_param("tagging") => {
            Err(S3Error::new(S3ErrorCode::NotImplemented))
        }
        "PUT" if r.headers.contains_key("x-amz-copy-source") => {
            copy::copy_object(sh, r, &obj).await
        }
        "PUT" => put(sh, r, &obj, body).await,
        "POST" if r.has_param("uploads") => multipart::create(sh, r, &obj).await,
        "POST" if upload => multipart::complete(sh, r, &obj, body).await,
        "DELETE" if upload => multipart::abort(sh, r, &obj).await,
        "DELETE" => delete(sh, r, &obj).await,
        _ => Err(S3Error::new(S3ErrorCode::MethodNotAllowed)),
    }
}

/// Maps a Swift error about an object (a 404 means the key is missing).
pub fn no_such_key(e: SwiftError, key: &str) -> S3Error {
    let err = S3Error::from_swift(e, S3ErrorCode::NoSuchKey);
    if err.code == S3ErrorCode::NoSuchKey {
        err.with("Key", key)
    } else {
        err
    }
}

async fn get_or_head(sh: &Shared, r: &S3Req, obj: &ObjectPath) -> Result<Response<Body>, S3Error> {
    let part = requested_part(r)?;
    let mut ctx = r.swift_ctx(r.method.clone(), swift_request_headers(&r.headers));
    // A multipart object's conditions compare with its S3 ETag.
    ctx.etag_is_at = Some(S3_ETAG_SYSMETA);
    if let Some(n) = part {
        ctx.params.push(("part-number".to_owned(), n.to_string()));
    }
    let resp = object_read::get_or_head(sh, &ctx, obj)
        .await
        .map_err(|e| no_such_key(e, &obj.object))?;
    match resp.status() {
        StatusCode::PRECONDITION_FAILED => {
            Err(S3Error::new(S3ErrorCode::PreconditionFailed).with("Condition", condition_named(r)))
        }
        StatusCode::RANGE_NOT_SATISFIABLE if part.is_some() => {
            Err(S3Error::new(S3ErrorCode::InvalidPartNumber))
        }
        StatusCode::RANGE_NOT_SATISFIABLE => Err(S3Error::new(S3ErrorCode::InvalidRange)),
        StatusCode::NOT_MODIFIED => {
            let mut resp = s3_object_response(resp);
            resp.headers_mut().remove(http::header::CONTENT_LENGTH);
            Ok(resp)
        }
        _ => {
            let mut resp = s3_object_response(resp);
            // Swift serves parts of large objects only; an object in one
            // piece is its own part 1.
            let multipart = resp.headers().contains_key(MP_PARTS_COUNT);
            if let (Some(n), false) = (part, multipart) {
                whole_as_part(&mut resp, n)?;
            }
            let status = resp.status();
            apply_overrides(resp.headers_mut(), &r.params, status);
            Ok(resp)
        }
    }
}

/// The response header naming how many parts a multipart object has.
const MP_PARTS_COUNT: &str = "x-amz-mp-parts-count";

/// GetObject's and HeadObject's `partNumber`, 1..=10000; S3 refuses it
/// together with a Range.
fn requested_part(r: &S3Req) -> Result<Option<u32>, S3Error> {
    if !r.has_param("partNumber") {
        return Ok(None);
    }
    if r.headers.contains_key(http::header::RANGE) {
        return Err(S3Error::new(S3ErrorCode::InvalidRequest)
            .with_message("Cannot specify both Range header and partNumber query parameter"));
    }
    multipart::part_number(r).map(Some)
}

/// Part `n` of an object in one piece: part 1 is the whole object, as a
/// 206 with its range; no other part is there.
fn whole_as_part(resp: &mut Response<Body>, n: u32) -> Result<(), S3Error> {
    if n != 1 {
        return Err(S3Error::new(S3ErrorCode::InvalidPartNumber));
    }
    *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    let len = resp
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if len > 0 {
        let range = format!("bytes 0-{}/{len}", len - 1);
        set(resp.headers_mut(), "content-range", &range);
    }
    Ok(())
}

/// Server-side encryption: Cairn stores objects unencrypted, so a write
/// asking for it is refused rather than silently stored in the clear, as
/// s3api refuses it without an encryption layer.
pub fn refuse_encryption(r: &S3Req) -> Result<(), S3Error> {
    match r.header("x-amz-server-side-encryption") {
        None => Ok(()),
        Some(v @ ("AES256" | "aws:kms")) => Err(S3Error::new(S3ErrorCode::NotImplemented)
            .with_message(format!("Server-side encryption ({v}) is not supported."))),
        Some(v) => Err(S3Error::invalid_argument(
            "x-amz-server-side-encryption",
            v,
            "The encryption method specified is not supported",
        )),
    }
}

/// The condition header S3 names in a PreconditionFailed error.
fn condition_named(r: &S3Req) -> &'static str {
    if r.headers.contains_key("if-match") {
        "If-Match"
    } else {
        "If-Unmodified-Since"
    }
}

/// The canned private ACL: the owner has full control.
async fn object_acl(sh: &Shared, r: &S3Req, obj: &ObjectPath) -> Result<Response<Body>, S3Error> {
    stored_meta(sh, obj)
        .await
        .map_err(|e| no_such_key(e, &obj.object))?;
    Ok(xml::ok(xml::access_control_policy(&super::bucket::owner(
        r,
    ))))
}

/// The Swift headers of an object write: content, metadata, conditions,
/// the decoded length and the Content-MD5 as the ETag to check. The
/// `aws-chunked` coding of a decoded body is not the object's.
fn write_headers(r: &S3Req, p: &Prepared) -> Result<HeaderMap, S3Error> {
    let mut h = swift_request_headers(&r.headers);
    if p.aws_chunked {
        without_aws_chunked(&mut h);
    }
    match p.len {
        Some(l) => set(&mut h, "content-length", &l.to_string()),
        None => set(&mut h, "transfer-encoding", "chunked"),
    }
    if let Some(md5) = content_md5_hex(r)? {
        set(&mut h, "etag", &md5);
    }
    if !h.contains_key("content-type") {
        set(&mut h, "content-type", DEFAULT_CONTENT_TYPE);
    }
    Ok(h)
}

/// Stores `body` at `obj` through Swift's PUT; returns the stored ETag.
pub async fn store(
    sh: &Shared,
    r: &S3Req,
    obj: &ObjectPath,
    body: Body,
    extra: HeaderMap,
    checksum_of: ChecksumOf,
) -> Result<String, S3Error> {
    let p = prepare(body, r, checksum_of)?;
    let mut headers = write_headers(r, &p)?;
    let md5 = headers.get(http::header::ETAG).map(header_text);
    headers.extend(extra);
    let ctx = r.swift_ctx(Method::PUT, headers);
    let resp = object_put::put(sh, &ctx, obj, p.body)
        .await
        .map_err(|e| match e {
            SwiftError::ClientDisconnect | SwiftError::RequestTimeout => {
                p.failure.or(S3Error::from_swift(e, S3ErrorCode::NoSuchKey))
            }
            SwiftError::Unprocessable => {
                S3Error::new(S3ErrorCode::BadDigest).with("ExpectedDigest", md5.unwrap_or_default())
            }
            SwiftError::BadRequest(m) if m.contains("etadata") => {
                S3Error::new(S3ErrorCode::MetadataTooLarge).with_message(m)
            }
            e => p.failure.or(no_such_key(e, &obj.object)),
        })?;
    Ok(resp
        .headers()
        .get(http::header::ETAG)
        .map(header_text)
        .unwrap_or_default())
}

async fn put(
    sh: &Shared,
    r: &S3Req,
    obj: &ObjectPath,
    body: Body,
) -> Result<Response<Body>, S3Error> {
    require_length(r)?;
    let etag = store(sh, r, obj, body, HeaderMap::new(), ChecksumOf::Body).await?;
    multipart::reclaim_replaced_parts(sh, r, obj)
        .await
        .map_err(|e| S3Error::from_swift(e, S3ErrorCode::InternalError))?;
    let mut h = HeaderMap::new();
    set(&mut h, "etag", &quoted_etag(&etag));
    for name in [
        "x-amz-checksum-crc32",
        "x-amz-checksum-crc32c",
        "x-amz-checksum-sha1",
        "x-amz-checksum-sha256",
    ] {
        if let Some(v) = r.header(name) {
            set(&mut h, name, v);
        }
    }
    Ok(empty(StatusCode::OK, h))
}

/// An object's stored metadata (any replica's newest), or NotFound.
pub async fn stored_meta(sh: &Shared, obj: &ObjectPath) -> Result<ObjectMeta, SwiftError> {
    let loc = sh
        .placement
        .locate(&obj.account, &obj.container, &obj.object);
    let mut reps = Replicas::new(sh, &loc);
    reader::head(&mut reps, false).await
}

async fn delete(sh: &Shared, r: &S3Req, obj: &ObjectPath) -> Result<Response<Body>, S3Error> {
    delete_key(sh, r, obj)
        .await
        .map_err(|e| no_such_key(e, &obj.object))?;
    Ok(empty(StatusCode::NO_CONTENT, HeaderMap::new()))
}

/// Deletes a key (a missing one is not an error in S3) and, for an object
/// made by a multipart upload, its parts.
async fn delete_key(sh: &Shared, r: &S3Req, obj: &ObjectPath) -> Result<(), SwiftError> {
    delete_plain(sh, r, &obj.account, &obj.container, &obj.object).await?;
    multipart::reclaim_replaced_parts(sh, r, obj).await
}

/// Deletes one object through Swift; a missing object is fine.
pub async fn delete_plain(
    sh: &Shared,
    r: &S3Req,
    account: &str,
    container: &str,
    object: &str,
) -> Result<(), SwiftError> {
    let ctx = r.swift_ctx(Method::DELETE, HeaderMap::new());
    let obj = ObjectPath {
        account: account.to_owned(),
        container: container.to_owned(),
        object: object.to_owned(),
    };
    match object_write::delete(sh, &ctx, &obj).await {
        Ok(_) | Err(SwiftError::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes every object of `container` whose name starts with `prefix`.
pub async fn delete_prefix(
    sh: &Shared,
    r: &S3Req,
    account: &str,
    container: &str,
    prefix: &str,
) -> Result<(), SwiftError> {
    loop {
        let query = ListQuery {
            prefix: Some(prefix.to_owned()),
            limit: 1000,
            ..ListQuery::default()
        };
        let page = match sh.meta.list_objects(account, container, &query).await {
            Ok(p) => p,
            Err(cairn_meta_api::MetaError::ContainerNotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if page.is_empty() {
            return Ok(());
        }
        for item in page {
            if let ObjectListItem::Object(o) = item {
                delete_plain(sh, r, account, container, &o.name).await?;
            }
        }
    }
}

/// DeleteObjects: up to 1000 keys; each answered as deleted or with its
/// error (quiet mode lists only errors).
pub async fn delete_objects(
    sh: &Shared,
    r: &S3Req,
    bucket: &str,
    body: Body,
) -> Result<Response<Body>, S3Error> {
    let account = r.account()?;
    sh.container_info(&account, bucket)
        .await
        .map_err(|e| no_such_bucket(e, bucket))?;
    require_digest(r)?;
    let doc = read_small(body, xml::DELETE_BODY_BYTES_MAX, r, ChecksumOf::Body).await?;
    let req = xml::parse_delete(&doc)?;
    let outcomes: Vec<(xml::ObjectIdentifier, Result<(), S3Error>)> =
        futures::stream::iter(req.objects)
            .map(|o| {
                let obj = ObjectPath {
                    account: account.clone(),
                    container: bucket.to_owned(),
                    object: o.key.clone(),
                };
                async move {
                    let outcome = if o.key.len() > KEY_BYTES_MAX {
                        Err(S3Error::new(S3ErrorCode::KeyTooLongError))
                    } else {
                        delete_key(sh, r, &obj)
                            .await
                            .map_err(|e| no_such_key(e, &o.key))
                    };
                    (o, outcome)
                }
            })
            .buffered(DELETE_CONCURRENCY)
            .collect()
            .await;
    let mut result = xml::DeleteResult {
        quiet: req.quiet,
        deleted: Vec::new(),
        errors: Vec::new(),
    };
    for (o, outcome) in outcomes {
        match outcome {
            Ok(()) => result.deleted.push(xml::DeletedEntry {
                key: o.key,
                version_id: o.version_id,
            }),
            Err(e) => result.errors.push(xml::DeleteErrorEntry {
                key: o.key,
                version_id: o.version_id,
                code: e.code,
                message: e.message,
            }),
        }
    }
    Ok(xml::ok(result.to_xml()))
}
