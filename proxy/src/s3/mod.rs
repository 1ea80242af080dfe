//! The S3 API, on the same store as Swift: a bucket is a container in the
//! requester's account (`AUTH_<account>`), an object is the same object
//! either API reads. Like Swift's s3api middleware, each S3 request is
//! authenticated (SigV4), translated, and served by the Swift handlers
//! underneath; their answers are translated back into S3's headers and XML.
//!
//! Layout: [`addressing`] (which requests are S3's, bucket and key),
//! [`auth`] (SigV4, aws-chunked bodies, checksums), [`keyring`] (access keys),
//! [`body`] (the verified request body), [`error`] and [`xml`] (the wire
//! documents), then the operations: [`service`] (ListBuckets), [`bucket`],
//! [`listing`], [`object`], [`copy`], [`multipart`].

pub mod addressing;
pub mod auth;
mod body;
mod bucket;
mod copy;
pub mod error;
mod keyring;
mod listing;
mod multipart;
mod object;
mod service;
pub(crate) mod translate;
pub mod xml;

pub(crate) use keyring::Keyring;

use crate::auth::Identity;
use crate::path::{parse_query, RESELLER_PREFIX};
use crate::server::{Ctx, Shared};
use auth::Verified;
use axum::body::Body;
use cairn_base::Timestamp;
use error::{S3Error, S3ErrorCode};
use http::{HeaderMap, HeaderValue, Method, Request, Response};

/// One S3 request, authenticated and parsed.
pub(crate) struct S3Req {
    pub method: Method,
    pub headers: HeaderMap,
    /// The query, decoded.
    pub params: Vec<(String, String)>,
    pub now: Timestamp,
    pub id: Option<Identity>,
    /// What a streaming (aws-chunked) body is verified with.
    pub verified: Option<Verified>,
}

impl S3Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        crate::path::param(&self.params, name)
    }

    pub fn has_param(&self, name: &str) -> bool {
        self.params.iter().any(|(k, _)| k == name)
    }

    /// The Swift account S3 requests act on: the requester's own.
    pub fn account(&self) -> Result<String, S3Error> {
        match &self.id {
            Some(id) => Ok(format!("{RESELLER_PREFIX}{}", id.account)),
            None => Err(S3Error::new(S3ErrorCode::AccessDenied)),
        }
    }

    /// A Swift request context acting as this requester.
    pub fn swift_ctx(&self, method: Method, headers: HeaderMap) -> Ctx {
        Ctx {
            method,
            headers,
            params: Vec::new(),
            now: self.now,
            id: self.id.clone(),
            etag_is_at: None,
        }
    }
}

/// Serves one S3 request; every failure becomes S3's XML error.
pub(crate) async fn handle(
    sh: &Shared,
    req: Request<Body>,
    now: Timestamp,
    request_id: &str,
) -> Response<Body> {
    let is_head = req.method() == Method::HEAD;
    let has_body = has_body(req.headers());
    let mut resp = match serve(sh, req, now).await {
        Ok(r) => r,
        Err(e) => {
            if e.code == S3ErrorCode::InternalError || e.code == S3ErrorCode::ServiceUnavailable {
                tracing::warn!(request_id, error = %e, "S3 request failed");
            }
            let mut resp = e.into_response(request_id, is_head);
            if has_body {
                // The body may be unread: the connection cannot carry
                // another request, and the client must know before it tries.
                resp.headers_mut()
                    .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            }
            resp
        }
    };
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amz-request-id", v);
    }
    resp
}

/// Whether a request announces a body (of any length but zero).
fn has_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0");
    length || headers.contains_key(http::header::TRANSFER_ENCODING)
}

async fn serve(sh: &Shared, req: Request<Body>, now: Timestamp) -> Result<Response<Body>, S3Error> {
    let (parts, body) = req.into_parts();
    let target = addressing::target(&parts.uri, &parts.headers, sh.cfg.s3_domain.as_deref())
        .map_err(|_| S3Error::new(S3ErrorCode::InvalidURI))?;
    let params = parse_query(parts.uri.query().unwrap_or(""))
        .map_err(|_| S3Error::new(S3ErrorCode::InvalidURI))?;
    let domain = sh.cfg.s3_domain.as_deref();
    let (id, verified) = sh
        .s3_keys
        .authenticate(
            sh.cfg.keystone.as_ref(),
            &parts.method,
            &parts.uri,
            &parts.headers,
            addressing::virtual_bucket(&parts.headers, domain),
            now.secs(),
        )
        .await?;
    let r = S3Req {
        method: parts.method,
        headers: parts.headers,
        params,
        now,
        id,
        verified,
    };
    match (target.bucket, target.key) {
        (None, None) => service::handle(sh, &r).await,
        (Some(bucket), None) => bucket::handle(sh, &r, &bucket, body).await,
        (Some(bucket), Some(key)) => object::handle(sh, &r, &bucket, &key, body).await,
        (None, Some(_)) => Err(S3Error::new(S3ErrorCode::InvalidURI)),
    }
}
