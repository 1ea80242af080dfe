//! The service endpoint (`GET /`): ListBuckets, the requester's containers
//! that are valid bucket names (so Swift-only containers such as the
//! multipart `<bucket>+segments` stay out of sight). Listing them is the
//! account owner's, as a Swift GET of the account is: a user without the
//! account's admin rights is refused (AccessDenied).

use super::addressing::valid_bucket_name;
use super::error::{S3Error, S3ErrorCode};
use super::xml;
use super::S3Req;
use crate::server::{container, Shared};
use axum::body::Body;
use cairn_meta_api::{ContainerListItem, ListQuery};
use http::{HeaderMap, Method, Response};

/// Containers fetched per metadata call.
const PAGE: usize = 10_000;

pub async fn handle(sh: &Shared, r: &S3Req) -> Result<Response<Body>, S3Error> {
    if r.method != Method::GET {
        return Err(S3Error::new(S3ErrorCode::MethodNotAllowed));
    }
    let account = r.account()?;
    container::require_reader(&r.swift_ctx(Method::GET, HeaderMap::new()), &account)
        .map_err(|e| S3Error::from_swift(e, S3ErrorCode::AccessDenied))?;
    let mut buckets = Vec::new();
    let mut query = ListQuery {
        limit: PAGE,
        ..ListQuery::default()
    };
    loop {
        let page = match sh.meta.list_containers(&account, &query).await {
            Ok(p) => p,
            Err(cairn_meta_api::MetaError::AccountNotFound) => Vec::new(),
            Err(e) => return Err(S3Error::from_swift(e.into(), S3ErrorCode::NoSuchBucket)),
        };
        let full = page.len() == PAGE;
        for item in page {
            if let ContainerListItem::Container {
                name,
                last_modified,
                ..
            } = item
            {
                query.marker = Some(name.clone());
                if valid_bucket_name(&name) {
                    buckets.push(xml::BucketEntry {
                        name,
                        creation_date: last_modified,
                    });
                }
            }
        }
        if !full {
            break;
        }
    }
    let doc = xml::ListAllMyBucketsResult {
        owner: super::bucket::owner(r),
        buckets,
    };
    Ok(xml::ok(doc.to_xml()))
}
