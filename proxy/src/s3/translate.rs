//! Header translation between the two APIs: an S3 request's headers become
//! the Swift headers the handlers underneath understand (only those: a
//! client cannot smuggle Swift-only headers such as `X-Object-Manifest`
//! through S3), and a Swift object response becomes S3's.

use super::xml::quoted_etag;
use crate::server::respond::{header_text, set};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

/// Sysmeta holding an S3 multipart object's ETag (`<md5 of md5s>-<parts>`).
pub const S3_ETAG_SYSMETA: &str = "x-object-sysmeta-s3api-etag";
/// Sysmeta naming the upload whose parts a multipart object is made of.
pub const S3_UPLOAD_SYSMETA: &str = "x-object-sysmeta-s3api-upload-id";

/// Request headers passed to Swift unchanged.
const PASSED: [&str; 11] = [
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "range",
];

/// Object headers S3 returns as stored.
const RETURNED: [&str; 10] = [
    "content-length",
    "content-type",
    "content-range",
    "content-disposition",
    "content-encoding",
    "content-language",
    "cache-control",
    "expires",
    "last-modified",
    "accept-ranges",
];

/// The Swift headers of an S3 object request: user metadata
/// (`x-amz-meta-*` → `x-object-meta-*`), the content headers and the
/// conditions.
pub fn swift_request_headers(s3: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in s3 {
        let n = name.as_str();
        if let Some(meta) = n.strip_prefix("x-amz-meta-") {
            if let Ok(sn) = HeaderName::try_from(format!("x-object-meta-{meta}")) {
                out.append(sn, value.clone());
            }
        } else if PASSED.contains(&n) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Drops `aws-chunked` from `Content-Encoding` (and the header, if nothing
/// else is left): it describes how a decoded body travelled, not the object.
pub fn without_aws_chunked(h: &mut HeaderMap) {
    let Some(value) = h.remove(http::header::CONTENT_ENCODING) else {
        return;
    };
    let text = header_text(&value);
    let kept: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    if !kept.is_empty() {
        set(h, "content-encoding", &kept.join(", "));
    }
}

/// Turns a Swift object GET/HEAD answer into S3's: content headers as
/// stored, user metadata as `x-amz-meta-*`, the S3 ETag (a multipart
/// upload's own when it has one), the parts count of a `part-number` read,
/// nothing else of Swift's.
pub fn s3_object_response(swift: Response<axum::body::Body>) -> Response<axum::body::Body> {
    let (mut parts, body) = swift.into_parts();
    let etag = parts
        .headers
        .remove(S3_ETAG_SYSMETA)
        .or_else(|| parts.headers.remove(http::header::ETAG));
    let mut h = HeaderMap::with_capacity(parts.headers.len());
    // Values move across; a header repeated in Swift's answer comes with
    // no name after its first value, under the name last seen.
    let mut kept: Option<HeaderName> = None;
    for (name, value) in parts.headers {
        if let Some(name) = name {
            kept = s3_name_of(name);
        }
        if let Some(n) = &kept {
            h.append(n.clone(), value);
        }
    }
    if let Some(e) = etag {
        set(&mut h, "etag", &quoted_etag(&header_text(&e)));
    }
    let mut r = Response::new(body);
    *r.status_mut() = parts.status;
    *r.headers_mut() = h;
    r
}

/// The S3 name of a header of Swift's object answer, if S3 returns it.
fn s3_name_of(name: HeaderName) -> Option<HeaderName> {
    let n = name.as_str();
    if let Some(meta) = n.strip_prefix("x-object-meta-") {
        HeaderName::try_from(format!("x-amz-meta-{meta}")).ok()
    } else if RETURNED.contains(&n) {
        Some(name)
    } else if n == "x-parts-count" {
        Some(HeaderName::from_static("x-amz-mp-parts-count"))
    } else {
        None
    }
}

/// Applies GET's `response-*` query overrides to a successful answer.
pub fn apply_overrides(h: &mut HeaderMap, params: &[(String, String)], status: StatusCode) {
    if !status.is_success() {
        return;
    }
    for (param, header) in [
        ("response-content-type", "content-type"),
        ("response-content-language", "content-language"),
        ("response-expires", "expires"),
        ("response-cache-control", "cache-control"),
        ("response-content-disposition", "content-disposition"),
        ("response-content-encoding", "content-encoding"),
    ] {
        if let Some(v) = crate::path::param(params, param) {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(header, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_headers_keep_only_what_s3_means() {
        // Metadata is renamed, content headers and conditions pass, Swift's own headers do not.
        let mut s3 = HeaderMap::new();
        s3.insert("x-amz-meta-color", HeaderValue::from_static("blue"));
        s3.insert("content-type", HeaderValue::from_static("text/plain"));
        s3.insert(
            "content-encoding",
            HeaderValue::from_static("aws-chunked,gzip"),
        );
        s3.insert("x-object-manifest", HeaderValue::from_static("c/p"));
        s3.insert(
            "x-amz-content-sha256",
            HeaderValue::from_static("UNSIGNED-PAYLOAD"),
        );
        s3.insert("if-none-match", HeaderValue::from_static("*"));
        let sw = swift_request_headers(&s3);
        assert_eq!(sw.get("x-object-meta-color").unwrap(), "blue");
        assert_eq!(sw.get("content-type").unwrap(), "text/plain");
        assert_eq!(sw.get("content-encoding").unwrap(), "aws-chunked,gzip");
        assert_eq!(sw.get("if-none-match").unwrap(), "*");
        assert!(sw.get("x-object-manifest").is_none());
        assert!(sw.get("x-amz-content-sha256").is_none());
    }

    #[test]
    fn a_decoded_body_loses_only_the_aws_chunked_coding() {
        // `foo, aws-chunked, bar` keeps `foo, bar`; `aws-chunked` alone leaves no header.
        let mut h = HeaderMap::new();
        h.insert(
            "content-encoding",
            HeaderValue::from_static("foo, aws-chunked, bar"),
        );
        without_aws_chunked(&mut h);
        assert_eq!(h["content-encoding"], "foo, bar");
        h.insert("content-encoding", HeaderValue::from_static("AWS-Chunked"));
        without_aws_chunked(&mut h);
        assert!(h.is_empty());
        without_aws_chunked(&mut h);
        assert!(h.is_empty());
    }

    #[test]
    fn object_response_speaks_s3() {
        let mut r = Response::new(axum::body::Body::empty());
        let h = r.headers_mut();
        h.insert("etag", HeaderValue::from_static("abc"));
        h.insert("x-object-meta-k", HeaderValue::from_static("v"));
        h.insert("x-timestamp", HeaderValue::from_static("1.0"));
        h.insert("content-length", HeaderValue::from_static("3"));
        h.insert("x-parts-count", HeaderValue::from_static("2"));
        let s3 = s3_object_response(r);
        assert_eq!(s3.headers().get("x-amz-mp-parts-count").unwrap(), "2");
        assert_eq!(s3.headers().get("etag").unwrap(), "\"abc\"");
        assert_eq!(s3.headers().get("x-amz-meta-k").unwrap(), "v");
        assert!(s3.headers().get("x-timestamp").is_none());
        assert_eq!(s3.headers().get("content-length").unwrap(), "3");

        let mut mpu = Response::new(axum::body::Body::empty());
        mpu.headers_mut()
            .insert("etag", HeaderValue::from_static("\"slo\""));
        mpu.headers_mut()
            .insert(S3_ETAG_SYSMETA, HeaderValue::from_static("d41d-2"));
        let s3 = s3_object_response(mpu);
        assert_eq!(s3.headers().get("etag").unwrap(), "\"d41d-2\"");
        assert!(s3.headers().get(S3_ETAG_SYSMETA).is_none());
    }
}
