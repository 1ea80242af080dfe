//! Bucket requests: CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation, the canned ACL and versioning answers, and dispatch of
//! listings (objects and their versions), multipart-upload listings and
//! DeleteObjects.

use super::addressing::valid_bucket_name;
use super::body::{read_small, ChecksumOf};
use super::error::{S3Error, S3ErrorCode};
use super::{listing, multipart, object, xml, S3Req};
use crate::errors::SwiftError;
use crate::server::container;
use crate::server::respond::{empty, set};
use crate::server::Shared;
use axum::body::Body;
use cairn_meta_api::{ListQuery, ObjectListItem};
use http::{HeaderMap, Method, Response, StatusCode};

/// Sub-resources S3 knows but Cairn does not keep: what a GET of each answers.
const UNSET_CONFIGS: [(&str, S3ErrorCode); 6] = [
    ("cors", S3ErrorCode::NoSuchCORSConfiguration),
    ("lifecycle", S3ErrorCode::NoSuchLifecycleConfiguration),
    (
        "object-lock",
        S3ErrorCode::ObjectLockConfigurationNotFoundError,
    ),
    ("policy", S3ErrorCode::NoSuchBucketPolicy),
    ("tagging", S3ErrorCode::NoSuchTagSet),
    ("website", S3ErrorCode::NoSuchWebsiteConfiguration),
];

/// Sub-resources refused outright (`versions` too, but for a GET: the
/// version listing).
const UNSUPPORTED: [&str; 11] = [
    "logging",
    "notification",
    "replication",
    "encryption",
    "ownershipControls",
    "publicAccessBlock",
    "requestPayment",
    "accelerate",
    "analytics",
    "inventory",
    "metrics",
];

/// The owner S3 reports: the requester's account.
pub fn owner(r: &S3Req) -> xml::Owner {
    let name =
        r.id.as_ref()
            .map(|i| format!("{}:{}", i.account, i.user))
            .unwrap_or_default();
    xml::Owner {
        id: name.clone(),
        display_name: name,
    }
}

/// The segments container of a bucket's multipart uploads.
pub fn segments_container(bucket: &str) -> String {
    format!("{bucket}+segments")
}

pub async fn handle(
    sh: &Shared,
    r: &S3Req,
    bucket: &str,
    body: Body,
) -> Result<Response<Body>, S3Error> {
    let refused = UNSUPPORTED.iter().copied().find(|s| r.has_param(s));
    let versions_not_listed = r.has_param("versions") && r.method != Method::GET;
    if let Some(sub) = refused.or(versions_not_listed.then_some("versions")) {
        return Err(S3Error::new(S3ErrorCode::NotImplemented)
            .with_message(format!("The {sub} sub-resource is not implemented.")));
    }
    match r.method.as_str() {
        "GET" => get(sh, r, bucket).await,
        "HEAD" => head(sh, r, bucket).await,
        "PUT" => put(sh, r, bucket, body).await,
        "DELETE" => delete(sh, r, bucket).await,
        "POST" if r.has_param("delete") => object::delete_objects(sh, r, bucket, body).await,
        _ => Err(S3Error::new(S3ErrorCode::MethodNotAllowed)),
    }
}

/// The bucket's record, authorizing a read of it (listing rights).
pub async fn check_readable(sh: &Shared, r: &S3Req, bucket: &str) -> Result<(), S3Error> {
    let account = r.account()?;
    let ctx = r.swift_ctx(Method::GET, HeaderMap::new());
    sh.authorize_in_container(&ctx, &account, bucket, false, "x-container-read")
        .await
        .map(|_| ())
        .map_err(|e| no_such_bucket(e, bucket))
}

/// Maps a Swift error about a bucket (a 404 means the bucket is missing).
pub fn no_such_bucket(e: SwiftError, bucket: &str) -> S3Error {
    let err = S3Error::from_swift(e, S3ErrorCode::NoSuchBucket);
    if err.code == S3ErrorCode::NoSuchBucket {
        err.with("BucketName", bucket)
    } else {
        err
    }
}

async fn get(sh: &Shared, r: &S3Req, bucket: &str) -> Result<Response<Body>, S3Error> {
    for (sub, code) in UNSET_CONFIGS {
        if r.has_param(sub) {
            check_readable(sh, r, bucket).await?;
            return Err(S3Error::new(code).with("BucketName", bucket));
        }
    }
    if r.has_param("location") {
        check_owner(sh, r, bucket).await?;
        return Ok(xml::ok(xml::location_constraint(&sh.cfg.s3_region)));
    }
    if r.has_param("acl") {
        check_owner(sh, r, bucket).await?;
        return Ok(xml::ok(xml::access_control_policy(&owner(r))));
    }
    if r.has_param("versioning") {
        check_owner(sh, r, bucket).await?;
        return Ok(xml::ok(xml::versioning_configuration()));
    }
    if r.has_param("uploads") {
        return multipart::list_uploads(sh, r, bucket).await;
    }
    if r.has_param("versions") {
        return listing::versions(sh, r, bucket).await;
    }
    if r.param("list-type") == Some("2") {
        listing::v2(sh, r, bucket).await
    } else {
        listing::v1(sh, r, bucket).await
    }
}

/// Bucket-level operations other than listing are the owner's.
async fn check_owner(sh: &Shared, r: &S3Req, bucket: &str) -> Result<(), S3Error> {
    let account = r.account()?;
    container::require_owner(&r.swift_ctx(Method::HEAD, HeaderMap::new()), &account)
        .map_err(|e| S3Error::from_swift(e, S3ErrorCode::AccessDenied))?;
    sh.container_info(&account, bucket)
        .await
        .map(|_| ())
        .map_err(|e| no_such_bucket(e, bucket))
}

async fn head(sh: &Shared, r: &S3Req, bucket: &str) -> Result<Response<Body>, S3Error> {
    check_readable(sh, r, bucket).await?;
    let mut h = HeaderMap::new();
    set(&mut h, "x-amz-bucket-region", &sh.cfg.s3_region);
    Ok(empty(StatusCode::OK, h))
}

async fn put(sh: &Shared, r: &S3Req, bucket: &str, body: Body) -> Result<Response<Body>, S3Error> {
    if r.has_param("acl") {
        check_owner(sh, r, bucket).await?;
        return put_acl(sh, r, bucket).await;
    }
    if r.has_param("versioning") || UNSET_CONFIGS.iter().any(|(s, _)| r.has_param(s)) {
        return Err(S3Error::new(S3ErrorCode::NotImplemented));
    }
    let account = r.account()?;
    if !valid_bucket_name(bucket) {
        return Err(S3Error::new(S3ErrorCode::InvalidBucketName).with("BucketName", bucket));
    }
    let config = read_small(body, xml::CREATE_BUCKET_BODY_BYTES_MAX, r, ChecksumOf::Body).await?;
    if !config.is_empty() {
        let wanted = xml::parse_create_bucket_configuration(&config)?;
        if let Some(loc) = wanted.filter(|l| !l.is_empty()) {
            if loc != sh.cfg.s3_region && !(loc == "US" && sh.cfg.s3_region == "us-east-1") {
                return Err(S3Error::new(S3ErrorCode::InvalidLocationConstraint)
                    .with_message("The specified location-constraint is not valid.")
                    .with("LocationConstraint", &loc));
            }
        }
    }
    let mut headers = HeaderMap::new();
    if let Some(acl) = r.header("x-amz-acl") {
        set(&mut headers, "x-container-read", canned_read_acl(acl)?);
    }
    let ctx = r.swift_ctx(Method::PUT, headers);
    let resp = container::handle(sh, &ctx, &account, bucket)
        .await
        .map_err(|e| S3Error::from_swift(e, S3ErrorCode::NoSuchBucket))?;
    if resp.status() == StatusCode::ACCEPTED {
        return Err(S3Error::new(S3ErrorCode::BucketAlreadyOwnedByYou).with("BucketName", bucket));
    }
    let mut h = HeaderMap::new();
    set(&mut h, "location", &format!("/{bucket}"));
    Ok(empty(StatusCode::OK, h))
}

/// The Swift read ACL of a canned S3 ACL.
fn canned_read_acl(acl: &str) -> Result<&'static str, S3Error> {
    match acl {
        "private" | "bucket-owner-read" | "bucket-owner-full-control" => Ok(""),
        "public-read" | "public-read-write" => Ok(".r:*,.rlistings"),
        "authenticated-read" => Ok("*:*"),
        _ => Err(S3Error::new(S3ErrorCode::InvalidArgument)
            .with("ArgumentName", "x-amz-acl")
            .with("ArgumentValue", acl)),
    }
}

/// PutBucketAcl with a canned ACL (`x-amz-acl`); grant documents other than
/// the owner's full control are not supported.
async fn put_acl(sh: &Shared, r: &S3Req, bucket: &str) -> Result<Response<Body>, S3Error> {
    let Some(acl) = r.header("x-amz-acl") else {
        return Err(S3Error::new(S3ErrorCode::NotImplemented)
            .with_message("Only canned ACLs (x-amz-acl) are supported."));
    };
    let mut headers = HeaderMap::new();
    set(&mut headers, "x-container-read", canned_read_acl(acl)?);
    let account = r.account()?;
    let ctx = r.swift_ctx(Method::POST, headers);
    container::handle(sh, &ctx, &account, bucket)
        .await
        .map_err(|e| no_such_bucket(e, bucket))?;
    Ok(empty(StatusCode::OK, HeaderMap::new()))
}

async fn delete(sh: &Shared, r: &S3Req, bucket: &str) -> Result<Response<Body>, S3Error> {
    if UNSET_CONFIGS.iter().any(|(s, _)| r.has_param(s)) {
        check_owner(sh, r, bucket).await?;
        return Ok(empty(StatusCode::NO_CONTENT, HeaderMap::new()));
    }
    let account = r.account()?;
    check_owner(sh, r, bucket).await?;
    let info = sh
        .meta
        .container(&account, bucket)
        .await
        .map_err(|e| no_such_bucket(e.into(), bucket))?;
    if info.object_count > 0 {
        return Err(S3Error::new(S3ErrorCode::BucketNotEmpty).with("BucketName", bucket));
    }
    // The bucket holds no object, so every segment left is an unfinished
    // upload's (or an overwritten multipart object's): they go with it.
    clear_segments(sh, r, &account, bucket).await?;
    let ctx = r.swift_ctx(Method::DELETE, HeaderMap::new());
    container::handle(sh, &ctx, &account, bucket)
        .await
        .map_err(|e| match e {
            SwiftError::Conflict => {
                S3Error::new(S3ErrorCode::BucketNotEmpty).with("BucketName", bucket)
            }
            e => no_such_bucket(e, bucket),
        })?;
    Ok(empty(StatusCode::NO_CONTENT, HeaderMap::new()))
}

/// Deletes every object of the bucket's segments container, then the container.
async fn clear_segments(
    sh: &Shared,
    r: &S3Req,
    account: &str,
    bucket: &str,
) -> Result<(), S3Error> {
    let segments = segments_container(bucket);
    let internal = |e: SwiftError| S3Error::from_swift(e, S3ErrorCode::InternalError);
    loop {
        let query = ListQuery {
            limit: 1000,
            ..ListQuery::default()
        };
        let page = match sh.meta.list_objects(account, &segments, &query).await {
            Ok(p) => p,
            Err(cairn_meta_api::MetaError::ContainerNotFound) => return Ok(()),
            Err(e) => return Err(internal(e.into())),
        };
        if page.is_empty() {
            break;
        }
        for item in page {
            if let ObjectListItem::Object(o) = item {
                object::delete_plain(sh, r, account, &segments, &o.name)
                    .await
                    .map_err(internal)?;
            }
        }
    }
    match sh.meta.delete_container(account, &segments, r.now).await {
        Ok(()) | Err(cairn_meta_api::MetaError::ContainerNotFound) => {}
        Err(e) => return Err(internal(e.into())),
    }
    sh.containers.invalidate(account, &segments);
    Ok(())
}
