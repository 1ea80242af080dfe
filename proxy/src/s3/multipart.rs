//! Multipart uploads, kept as Swift's s3api keeps them: in the bucket's
//! segments container `<bucket>+segments`, an upload is a marker object
//! `<key>/<upload id>` (holding the final object's metadata) and its parts
//! are `<key>/<upload id>/<part number, 5 digits>`. Completing an upload
//! writes a Static Large Object manifest over the chosen parts, with the S3
//! ETag (`md5(concatenated part md5s)-<count>`) and the upload id as
//! sysmeta; either API then reads the concatenation.
//!
//! An unfinished upload expires: its marker and parts carry `X-Delete-At`
//! (ProxyConfig::s3_upload_ttl after the upload began), so the expirer
//! reclaims abandoned uploads; completing one lifts the expiry of the parts
//! it keeps.
//!
//! Completing an upload again with the same parts answers as the first
//! completion did (S3 lets a client retry a lost answer).
//!
//! Names stay unambiguous: an upload id is 32 hex digits and a part number
//! 5 digits, so a marker's last path component never looks like a part's.

use super::body::{read_small, require_length, ChecksumOf};
use super::bucket::segments_container;
use super::copy::{copy_to, parse_source, source_range};
use super::error::{S3Error, S3ErrorCode};
use super::object::{delete_plain, delete_prefix, no_such_key, store, stored_meta};
use super::translate::{swift_request_headers, S3_ETAG_SYSMETA, S3_UPLOAD_SYSMETA};
use super::xml::quoted_etag;
use super::{xml, S3Req};
use crate::errors::SwiftError;
use crate::server::respond::{empty, set};
use crate::server::slo::{self, SegmentRef};
use crate::server::{object_put, object_write, ObjectPath, Shared};
use axum::body::Body;
use cairn_meta_api::{ContainerPut, ListQuery, ObjectEntry, ObjectListItem};
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, Response, StatusCode};
use md5::{Digest, Md5};
use std::collections::HashMap;

/// Parts of an upload, and the largest part number.
pub const PARTS_MAX: u32 = 10_000;
/// Every part but the last must be at least this big (S3's 5 MiB).
pub const PART_BYTES_MIN: u64 = 5 << 20;
/// Largest part (S3's 5 GiB).
pub const PART_BYTES_MAX: u64 = 5 << 30;
/// Parts whose expiry is lifted at once when an upload completes.
const PART_POSTS_AT_ONCE: usize = 16;
/// Default and largest page of ListParts / ListMultipartUploads.
const PAGE_MAX: usize = 1000;

/// The marker object's name.
fn marker_name(key: &str, upload_id: &str) -> String {
    format!("{key}/{upload_id}")
}

/// The common prefix of an upload's part names.
pub fn parts_prefix(key: &str, upload_id: &str) -> String {
    format!("{key}/{upload_id}/")
}

fn part_name(key: &str, upload_id: &str, part: u32) -> String {
    format!("{key}/{upload_id}/{part:05}")
}

fn is_upload_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The upload id of the request, shaped like one of ours.
fn upload_id(r: &S3Req) -> Result<&str, S3Error> {
    r.param("uploadId")
        .filter(|u| is_upload_id(u))
        .ok_or_else(|| S3Error::new(S3ErrorCode::NoSuchUpload))
}

fn segments_obj(obj: &ObjectPath, name: String) -> ObjectPath {
    ObjectPath {
        account: obj.account.clone(),
        container: segments_container(&obj.container),
        object: name,
    }
}

/// The upload's marker metadata, or NoSuchUpload.
async fn marker(
    sh: &Shared,
    obj: &ObjectPath,
    upload: &str,
) -> Result<cairn_nodeapi::ObjectMeta, S3Error> {
    let m = segments_obj(obj, marker_name(&obj.object, upload));
    match stored_meta(sh, &m).await {
        Ok(meta) => Ok(meta),
        Err(SwiftError::NotFound) => {
            Err(S3Error::new(S3ErrorCode::NoSuchUpload).with("UploadId", upload))
        }
        Err(e) => Err(S3Error::from_swift(e, S3ErrorCode::NoSuchUpload)),
    }
}

/// Deletes the parts that earlier uploads to `obj`'s key left behind and
/// nothing uses any more: the parts of a completed upload whose object was
/// then overwritten (by a PUT, a copy, another upload) or deleted. Parts of
/// uploads still in progress (their marker exists) and of the upload the
/// key's object now is are kept.
///
/// Order matters against a concurrent CompleteMultipartUpload: it writes its
/// manifest before deleting its marker, so once a marker is seen gone, the
/// object read afterwards shows that manifest if it is the newest, and its
/// parts are kept.
pub async fn reclaim_replaced_parts(
    sh: &Shared,
    r: &S3Req,
    obj: &ObjectPath,
) -> Result<(), SwiftError> {
    let segments = segments_container(&obj.container);
    let prefix = format!("{}/", obj.object);
    let mut parts: HashMap<String, Vec<String>> = HashMap::new();
    let mut query = ListQuery {
        prefix: Some(prefix.clone()),
        limit: PAGE_MAX,
        ..ListQuery::default()
    };
    loop {
        let page = match sh.meta.list_objects(&obj.account, &segments, &query).await {
            Ok(page) => page,
            Err(cairn_meta_api::MetaError::ContainerNotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let full = page.len() == PAGE_MAX;
        for item in page {
            let ObjectListItem::Object(o) = item else {
                continue;
            };
            if let Some((upload, _)) = o.name[prefix.len()..].split_once('/').filter(|(u, n)| {
                is_upload_id(u) && n.len() == 5 && n.bytes().all(|b| b.is_ascii_digit())
            }) {
                parts
                    .entry(upload.to_owned())
                    .or_default()
                    .push(o.name.clone());
            }
            query.marker = Some(o.name);
        }
        if !full {
            break;
        }
    }
    let mut finished = Vec::new();
    for (upload, names) in parts {
        if marker(sh, obj, &upload)
            .await
            .is_err_and(|e| e.code == S3ErrorCode::NoSuchUpload)
        {
            finished.push((upload, names));
        }
    }
    if finished.is_empty() {
        return Ok(());
    }
    let current = match stored_meta(sh, obj).await {
        Ok(m) => m.header(S3_UPLOAD_SYSMETA).map(str::to_owned),
        Err(SwiftError::NotFound) => None,
        Err(e) => return Err(e),
    };
    for (upload, names) in finished {
        if current.as_deref() == Some(upload.as_str()) {
            continue;
        }
        for name in names {
            delete_plain(sh, r, &obj.account, &segments, &name).await?;
        }
    }
    Ok(())
}

/// The upload's expiry, for its parts (as the header that sets it).
fn expiry_of(marker: &cairn_nodeapi::ObjectMeta) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(at) = marker.header("x-delete-at") {
        set(&mut h, "x-delete-at", at);
    }
    h
}

/// The part number of the request, 1..=10000.
pub fn part_number(r: &S3Req) -> Result<u32, S3Error> {
    let raw = r.param("partNumber").unwrap_or("");
    raw.parse::<u32>()
        .ok()
        .filter(|n| (1..=PARTS_MAX).contains(n))
        .ok_or_else(|| {
            S3Error::new(S3ErrorCode::InvalidArgument)
                .with_message("Part number must be an integer between 1 and 10000, inclusive")
                .with("ArgumentName", "partNumber")
                .with("ArgumentValue", raw)
        })
}

/// CreateMultipartUpload: the marker keeps the final object's metadata.
pub async fn create(sh: &Shared, r: &S3Req, obj: &ObjectPath) -> Result<Response<Body>, S3Error> {
    // Writing to the bucket is what starting an upload needs.
    let ctx = r.swift_ctx(http::Method::PUT, HeaderMap::new());
    sh.authorize_in_container(
        &ctx,
        &obj.account,
        &obj.container,
        true,
        "x-container-write",
    )
    .await
    .map_err(|e| super::bucket::no_such_bucket(e, &obj.container))?;
    let segments = segments_container(&obj.container);
    if sh.container_info(&obj.account, &segments).await.is_err() {
        let put = sh
            .meta
            .put_container(&obj.account, &segments, Default::default(), r.now)
            .await
            .map_err(|e| S3Error::from_swift(e.into(), S3ErrorCode::InternalError))?;
        if put == ContainerPut::Created {
            sh.containers.invalidate(&obj.account, &segments);
        }
    }
    let upload = hex::encode(rand::random::<[u8; 16]>());
    let marker = segments_obj(obj, marker_name(&obj.object, &upload));
    let mut expiry = HeaderMap::new();
    let at = r.now.secs() + sh.cfg.s3_upload_ttl.as_secs();
    set(&mut expiry, "x-delete-at", &at.to_string());
    store(sh, r, &marker, Body::empty(), expiry, ChecksumOf::Other).await?;
    let doc = xml::InitiateMultipartUploadResult {
        bucket: obj.container.clone(),
        key: obj.object.clone(),
        upload_id: upload,
    };
    Ok(xml::ok(doc.to_xml()))
}

/// UploadPart: the body becomes part `partNumber` of the upload.
pub async fn upload_part(
    sh: &Shared,
    r: &S3Req,
    obj: &ObjectPath,
    body: Body,
) -> Result<Response<Body>, S3Error> {
    let n = part_number(r)?;
    let upload = upload_id(r)?;
    require_length(r)?;
    let expiry = expiry_of(&marker(sh, obj, upload).await?);
    if let Some(len) = r
        .header("x-amz-decoded-content-length")
        .or_else(|| r.header("content-length"))
        .and_then(|l| l.parse::<u64>().ok())
    {
        if len > PART_BYTES_MAX {
            return Err(S3Error::new(S3ErrorCode::EntityTooLarge));
        }
    }
    let part = segments_obj(obj, part_name(&obj.object, upload, n));
    let etag = store(sh, r, &part, body, expiry, ChecksumOf::Body).await?;
    let mut h = HeaderMap::new();
    set(&mut h, "etag", &quoted_etag(&etag));
    Ok(empty(StatusCode::OK, h))
}

/// UploadPartCopy: a part copied from an object (or a byte range of it).
pub async fn upload_part_copy(
    sh: &Shared,
    r: &S3Req,
    obj: &ObjectPath,
) -> Result<Response<Body>, S3Error> {
    let n = part_number(r)?;
    let upload = upload_id(r)?;
    let src = parse_source(r)?;
    let mut headers = expiry_of(&marker(sh, obj, upload).await?);
    if let Some(range) = source_range(r)? {
        set(&mut headers, "range", &range);
    }
    let part = segments_obj(obj, part_name(&obj.object, upload, n));
    let copied = copy_to(sh, r, &src, &part, headers).await?;
    Ok(xml::ok(copied.part_xml()))
}

/// Every stored part of an upload, by part number.
async fn stored_parts(
    sh: &Shared,
    obj: &ObjectPath,
    upload: &str,
) -> Result<HashMap<u32, ObjectEntry>, S3Error> {
    let prefix = parts_prefix(&obj.object, upload);
    let segments = segments_container(&obj.container);
    let mut out = HashMap::new();
    let mut query = ListQuery {
        prefix: Some(prefix.clone()),
        limit: PAGE_MAX * 10,
        ..ListQuery::default()
    };
    loop {
        let page = sh
            .meta
            .list_objects(&obj.account, &segments, &query)
            .await
            .map_err(|e| S3Error::from_swift(e.into(), S3ErrorCode::NoSuchUpload))?;
        let full = page.len() == query.limit;
        for item in page {
            if let ObjectListItem::Object(o) = item {
                query.marker = Some(o.name.clone());
                if let Ok(n) = o.name[prefix.len()..].parse::<u32>() {
                    out.insert(n, o);
                }
            }
        }
        if !full {
            return Ok(out);
        }
    }
}

/// CompleteMultipartUpload: checks the chosen parts and writes the manifest.
pub async fn complete(
    sh: &Shared,
    r: &S3Req,
    obj: &ObjectPath,
    body: Body,
) -> Result<Response<Body>, S3Error> {
    let upload = upload_id(r)?.to_owned();
    let marker_meta = match marker(sh, obj, &upload).await {
        Err(gone) if gone.code == S3ErrorCode::NoSuchUpload => {
            return completed_already(sh, r, obj, &upload, body, gone).await;
        }
        found => found?,
    };
    let chosen = chosen_parts(body, r, &upload).await?;
    let ctx = r.swift_ctx(http::Method::PUT, swift_request_headers(&r.headers));
    object_put::if_none_match(sh, &ctx, obj)
        .await
        .map_err(|e| no_such_key(e, &obj.object))?;
    let stored = stored_parts(sh, obj, &upload).await?;
    let invalid_part = |c: &xml::CompletedPart| {
        S3Error::new(S3ErrorCode::InvalidPart)
            .with("UploadId", &upload)
            .with("PartNumber", c.part_number.to_string())
            .with("ETag", &c.etag)
    };
    let segments_name = segments_container(&obj.container);
    let mut segments = Vec::with_capacity(chosen.len());
    for (i, c) in chosen.iter().enumerate() {
        let part = stored.get(&c.part_number).ok_or_else(|| invalid_part(c))?;
        if !part.etag.eq_ignore_ascii_case(&c.etag) {
            return Err(invalid_part(c));
        }
        let last = i + 1 == chosen.len();
        if !last && part.size < PART_BYTES_MIN {
            return Err(S3Error::new(S3ErrorCode::EntityTooSmall)
                .with("ProposedSize", part.size.to_string())
                .with("MinSizeAllowed", PART_BYTES_MIN.to_string())
                .with("PartNumber", c.part_number.to_string())
                .with("ETag", &part.etag));
        }
        segments.push(SegmentRef {
            container: segments_name.clone(),
            object: part.name.clone(),
            etag: part.etag.clone(),
            size: part.size,
        });
    }
    let s3_etag = multipart_etag(&chosen);
    // The final object keeps the metadata given when the upload began.
    let mut extra: Vec<(String, String)> = marker_meta
        .headers
        .iter()
        .filter(|(k, _)| !k.starts_with("x-object-sysmeta-") && k != "x-delete-at")
        .cloned()
        .collect();
    extra.push((S3_ETAG_SYSMETA.into(), s3_etag.clone()));
    extra.push((S3_UPLOAD_SYSMETA.into(), upload.clone()));
    slo::put_manifest(
        sh,
        &ctx,
        obj,
        segments,
        extra,
        marker_meta.content_type.clone(),
    )
    .await
    .map_err(|e| no_such_key(e, &obj.object))?;
    keep_parts(sh, r, obj, &chosen, &stored).await?;
    // The parts not chosen, then the marker, go.
    let used: std::collections::HashSet<u32> = chosen.iter().map(|c| c.part_number).collect();
    for (n, part) in &stored {
        if !used.contains(n) {
            delete_plain(sh, r, &obj.account, &segments_name, &part.name)
                .await
                .map_err(|e| S3Error::from_swift(e, S3ErrorCode::InternalError))?;
        }
    }
    delete_plain(
        sh,
        r,
        &obj.account,
        &segments_name,
        &marker_name(&obj.object, &upload),
    )
    .await
    .map_err(|e| S3Error::from_swift(e, S3ErrorCode::InternalError))?;
    // An upload completed earlier over this key leaves its parts behind.
    reclaim_replaced_parts(sh, r, obj)
        .await
        .map_err(|e| S3Error::from_swift(e, S3ErrorCode::InternalError))?;
    Ok(completed(obj, s3_etag))
}

/// The parts a CompleteMultipartUpload body chooses, in ascending order.
async fn chosen_parts(
    body: Body,
    r: &S3Req,
    upload: &str,
) -> Result<Vec<xml::CompletedPart>, S3Error> {
    // Its checksum headers describe the assembled object, not this document.
    let doc = read_small(body, xml::COMPLETE_BODY_BYTES_MAX, r, ChecksumOf::Other).await?;
    let chosen = xml::parse_complete_multipart_upload(&doc).map_err(|e| match e.code {
        S3ErrorCode::InvalidPart => e.with("UploadId", upload),
        _ => e,
    })?;
    xml::check_order(&chosen)?;
    Ok(chosen)
}

/// S3's ETag of a multipart object: the md5 of the parts' md5s, `-` their count.
fn multipart_etag(chosen: &[xml::CompletedPart]) -> String {
    let mut md5s = Md5::new();
    for c in chosen {
        // The parser accepts only ETags that are an md5 in hex.
        if let Ok(md5) = hex::decode(&c.etag) {
            md5s.update(md5);
        }
    }
    format!("{}-{}", hex::encode(md5s.finalize()), chosen.len())
}

/// A completed upload completed again: with the same parts S3 answers as
/// the first time (a client retrying a lost answer); otherwise, or once the
/// object is gone or replaced, the upload is `gone`.
async fn completed_already(
    sh: &Shared,
    r: &S3Req,
    obj: &ObjectPath,
    upload: &str,
    body: Body,
    gone: S3Error,
) -> Result<Response<Body>, S3Error> {
    let chosen = chosen_parts(body, r, upload).await?;
    let Ok(meta) = stored_meta(sh, obj).await else {
        return Err(gone);
    };
    let etag = multipart_etag(&chosen);
    let same = meta.header(S3_UPLOAD_SYSMETA) == Some(upload)
        && meta.header(S3_ETAG_SYSMETA) == Some(etag.as_str());
    if same {
        Ok(completed(obj, etag))
    } else {
        Err(gone)
    }
}

fn completed(obj: &ObjectPath, etag: String) -> Response<Body> {
    let doc = xml::CompleteMultipartUploadResult {
        location: format!("/{}/{}", obj.container, obj.object),
        bucket: obj.container.clone(),
        key: obj.object.clone(),
        etag,
    };
    xml::ok(doc.to_xml())
}

/// Lifts the upload's expiry from the parts the object is made of (a POST
/// without `X-Delete-At` replaces their metadata).
async fn keep_parts(
    sh: &Shared,
    r: &S3Req,
    obj: &ObjectPath,
    chosen: &[xml::CompletedPart],
    stored: &HashMap<u32, ObjectEntry>,
) -> Result<(), S3Error> {
    let ctx = &r.swift_ctx(http::Method::POST, HeaderMap::new());
    let mut posts = Vec::with_capacity(chosen.len());
    for part in chosen.iter().filter_map(|c| stored.get(&c.part_number)) {
        let seg = segments_obj(obj, part.name.clone());
        posts.push(async move { object_write::post(sh, ctx, &seg).await });
    }
    futures::stream::iter(posts)
        .buffer_unordered(PART_POSTS_AT_ONCE)
        .try_collect::<Vec<_>>()
        .await
        .map_err(|e| S3Error::from_swift(e, S3ErrorCode::InternalError))?;
    Ok(())
}

/// AbortMultipartUpload: the parts, then the marker.
pub async fn abort(sh: &Shared, r: &S3Req, obj: &ObjectPath) -> Result<Response<Body>, S3Error> {
    let upload = upload_id(r)?;
    marker(sh, obj, upload).await?;
    let segments = segments_container(&obj.container);
    let internal = |e| S3Error::from_swift(e, S3ErrorCode::InternalError);
    delete_prefix(
        sh,
        r,
        &obj.account,
        &segments,
        &parts_prefix(&obj.object, upload),
    )
    .await
    .map_err(internal)?;
    delete_plain(
        sh,
        r,
        &obj.account,
        &segments,
        &marker_name(&obj.object, upload),
    )
    .await
    .map_err(internal)?;
    Ok(empty(StatusCode::NO_CONTENT, HeaderMap::new()))
}

/// `encoding-type`: absent or `url`.
pub fn key_encoding(r: &S3Req) -> Result<xml::KeyEncoding, S3Error> {
    match r.param("encoding-type") {
        None => Ok(xml::KeyEncoding::Plain),
        Some("url") => Ok(xml::KeyEncoding::Url),
        Some(v) => Err(S3Error::invalid_argument(
            "encoding-type",
            v,
            "Invalid Encoding Method specified in Request",
        )),
    }
}

/// A `max-*` page size parameter: default and cap 1000.
fn page_size(r: &S3Req, name: &str) -> Result<usize, S3Error> {
    match r.param(name) {
        None => Ok(PAGE_MAX),
        Some(v) => v.parse::<usize>().map(|n| n.min(PAGE_MAX)).map_err(|_| {
            S3Error::new(S3ErrorCode::InvalidArgument)
                .with("ArgumentName", name)
                .with("ArgumentValue", v)
        }),
    }
}

/// ListParts.
pub async fn list_parts(
    sh: &Shared,
    r: &S3Req,
    obj: &ObjectPath,
) -> Result<Response<Body>, S3Error> {
    let upload = upload_id(r)?;
    marker(sh, obj, upload).await?;
    let max = page_size(r, "max-parts")?;
    let after: u32 = match r.param("part-number-marker") {
        None => 0,
        Some(v) => v.parse().map_err(|_| {
            S3Error::new(S3ErrorCode::InvalidArgument)
                .with("ArgumentName", "part-number-marker")
                .with("ArgumentValue", v)
        })?,
    };
    let prefix = parts_prefix(&obj.object, upload);
    let query = ListQuery {
        prefix: Some(prefix.clone()),
        marker: (after > 0).then(|| part_name(&obj.object, upload, after.min(PARTS_MAX))),
        limit: max + 1,
        ..ListQuery::default()
    };
    let rows = sh
        .meta
        .list_objects(&obj.account, &segments_container(&obj.container), &query)
        .await
        .map_err(|e| S3Error::from_swift(e.into(), S3ErrorCode::NoSuchUpload))?;
    let mut parts: Vec<xml::PartEntry> = rows
        .into_iter()
        .filter_map(|item| match item {
            ObjectListItem::Object(o) => {
                let n = o.name[prefix.len()..].parse::<u32>().ok()?;
                Some(xml::PartEntry {
                    part_number: n,
                    last_modified: o.ts,
                    etag: o.etag,
                    size: o.size,
                })
            }
            ObjectListItem::Subdir(_) => None,
        })
        .collect();
    let truncated = parts.len() > max;
    parts.truncate(max);
    let doc = xml::ListPartsResult {
        bucket: obj.container.clone(),
        key: obj.object.clone(),
        upload_id: upload.to_owned(),
        owner: super::bucket::owner(r),
        part_number_marker: after,
        max_parts: max as u32,
        encoding: key_encoding(r)?,
        is_truncated: truncated,
        parts,
    };
    Ok(xml::ok(doc.to_xml()))
}

/// ListMultipartUploads: the markers in the segments container, by key
/// then upload id, after `key-marker` / `upload-id-marker`.
pub async fn list_uploads(sh: &Shared, r: &S3Req, bucket: &str) -> Result<Response<Body>, S3Error> {
    let account = r.account()?;
    super::bucket::check_readable(sh, r, bucket).await?;
    let max = page_size(r, "max-uploads")?;
    let prefix = r.param("prefix").unwrap_or("");
    let key_marker = r.param("key-marker").unwrap_or("");
    let id_marker = r.param("upload-id-marker").unwrap_or("");
    let mut query = ListQuery {
        prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
        marker: (!key_marker.is_empty()).then(|| {
            if id_marker.is_empty() {
                // Every upload of key-marker itself is skipped.
                format!("{key_marker}/\u{10FFFF}")
            } else {
                marker_name(key_marker, id_marker)
            }
        }),
        limit: PAGE_MAX * 10,
        ..ListQuery::default()
    };
    let segments = segments_container(bucket);
    let mut uploads = Vec::new();
    let mut truncated = false;
    'pages: loop {
        let page = match sh.meta.list_objects(&account, &segments, &query).await {
            Ok(p) => p,
            Err(cairn_meta_api::MetaError::ContainerNotFound) => Vec::new(),
            Err(e) => return Err(S3Error::from_swift(e.into(), S3ErrorCode::InternalError)),
        };
        let full = page.len() == query.limit;
        for item in page {
            let ObjectListItem::Object(o) = item else {
                continue;
            };
            query.marker = Some(o.name.clone());
            let Some((key, id)) = o.name.rsplit_once('/') else {
                continue;
            };
            if !is_upload_id(id) {
                continue;
            }
            if uploads.len() == max {
                truncated = true;
                break 'pages;
            }
            uploads.push(xml::UploadEntry {
                key: key.to_owned(),
                upload_id: id.to_owned(),
                initiated: o.ts,
            });
        }
        if !full {
            break;
        }
    }
    let doc = xml::ListMultipartUploadsResult {
        bucket: bucket.to_owned(),
        key_marker: key_marker.to_owned(),
        upload_id_marker: id_marker.to_owned(),
        next_key_marker: uploads.last().map_or(String::new(), |u| u.key.clone()),
        next_upload_id_marker: uploads
            .last()
            .map_or(String::new(), |u| u.upload_id.clone()),
        delimiter: None,
        prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
        max_uploads: max as u32,
        encoding: key_encoding(r)?,
        is_truncated: truncated,
        owner: super::bucket::owner(r),
        uploads,
        common_prefixes: Vec::new(),
    };
    Ok(xml::ok(doc.to_xml()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unambiguous() {
        let id = "0123456789abcdef0123456789abcdef";
        assert!(is_upload_id(id));
        assert!(!is_upload_id("00001"));
        assert!(!is_upload_id(&id.to_uppercase()));
        let m = marker_name("a/b", id);
        let p = part_name("a/b", id, 7);
        assert_eq!(p, format!("a/b/{id}/00007"));
        assert!(p.starts_with(&parts_prefix("a/b", id)));
        let (k, u) = m.rsplit_once('/').unwrap();
        assert_eq!((k, u), ("a/b", id));
        assert!(!is_upload_id(p.rsplit_once('/').unwrap().1));
    }
}
