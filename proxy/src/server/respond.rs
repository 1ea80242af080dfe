//! Response building: Swift's error bodies, header helpers, timestamps.

use crate::errors::SwiftError;
use axum::body::Body;
use cairn_base::Timestamp;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What Python's `quote` leaves alone (plus `/`).
pub const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// swob's `WWW-Authenticate` for a 401: the account named by the path
/// (`/v1/<account>…`) is the realm, else `unknown`.
pub fn www_authenticate(raw_path: &str) -> String {
    let decoded = crate::path::decode(raw_path).unwrap_or_default();
    let mut segs = decoded.split('/').skip(1);
    let realm = match (segs.next(), segs.next()) {
        (Some(v), Some(r)) if !v.is_empty() && !r.is_empty() && r != "v1.0" && r != "auth" => r,
        _ => "unknown",
    };
    format!("Swift realm=\"{}\"", utf8_percent_encode(realm, QUOTE))
}

/// Swift's answer for an error; HEAD answers carry no body.
pub fn error_response(e: &SwiftError, is_head: bool) -> Response<Body> {
    let (body, ctype) = e.body();
    let mut r = Response::new(if is_head {
        Body::empty()
    } else {
        Body::from(body.clone())
    });
    *r.status_mut() = e.http_status();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    r
}

/// A response with `status`, the given headers and body.
pub fn response(status: StatusCode, headers: HeaderMap, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

/// A bodiless response (`Content-Length: 0`).
pub fn empty(status: StatusCode, mut headers: HeaderMap) -> Response<Body> {
    if status != StatusCode::NO_CONTENT && status != StatusCode::NOT_MODIFIED {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(0));
    }
    response(status, headers, Body::empty())
}

/// A response with a text body (listings, /info); HEAD keeps the length only.
pub fn with_body(
    status: StatusCode,
    mut headers: HeaderMap,
    ctype: &str,
    body: String,
    is_head: bool,
) -> Response<Body> {
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    set(&mut headers, "content-type", ctype);
    response(
        status,
        headers,
        if is_head {
            Body::empty()
        } else {
            Body::from(body)
        },
    )
}

/// Sets a header, dropping values that are not valid in HTTP.
pub fn set(h: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_bytes(value.as_bytes()),
    ) {
        h.insert(n, v);
    }
}

/// Swift's Last-Modified: the timestamp rounded up to whole seconds.
pub fn last_modified_secs(ts: Timestamp) -> u64 {
    let whole = ts.secs();
    if Timestamp::from_secs(whole) == ts {
        whole
    } else {
        whole + 1
    }
}

/// A header value as text; metadata may carry UTF-8 bytes.
pub fn header_text(v: &HeaderValue) -> String {
    String::from_utf8_lossy(v.as_bytes()).into_owned()
}
