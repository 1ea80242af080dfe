//! S3 requests, path-style and SigV4-signed (bodies sent as
//! `UNSIGNED-PAYLOAD`, as the aws CLI does over plain HTTP): buckets,
//! objects, ListObjectsV2 pages and multipart uploads. Builds requests and
//! reads answers; sending is [`super::conn`]'s job.

use super::api::{query_encode, Listing};
use super::conn::Endpoint;
use super::wire::Request;
use crate::error::BenchError;
use bytes::Bytes;
use cairn_proxy::s3::auth::{AmzDate, SigV4Signer, EMPTY_SHA256_HEX, UNSIGNED_PAYLOAD};
use http::{HeaderValue, Method, Uri};
use std::time::{SystemTime, UNIX_EPOCH};

/// An S3 endpoint and the key requests are signed with.
#[derive(Debug, Clone)]
pub struct S3 {
    endpoint: Endpoint,
    host: HeaderValue,
    signer: SigV4Signer,
}

impl S3 {
    pub fn new(
        endpoint_url: &str,
        access_key: &str,
        secret: &str,
        region: &str,
    ) -> Result<S3, BenchError> {
        let endpoint = Endpoint::parse(endpoint_url)?;
        let host = endpoint.host()?;
        let signer = SigV4Signer::new(access_key, secret, region);
        // Sign once now, so a key that cannot be a header value fails here
        // and not in every request.
        let mut probe = http::HeaderMap::new();
        probe.insert(http::header::HOST, host.clone());
        signer
            .sign(
                &Method::GET,
                &"/".parse().expect("a valid path"),
                &mut probe,
                EMPTY_SHA256_HEX,
                &now(),
            )
            .map_err(|_| BenchError::invalid("S3 credentials", "not valid in a header"))?;
        Ok(S3 {
            endpoint,
            host,
            signer,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// A request for `path` under the endpoint, with Host (which is signed) and its signature.
    fn req(&mut self, method: Method, path: &str, body: Bytes, payload: &str) -> Request {
        let target = format!("{}{path}", self.endpoint.base_path);
        let uri: Uri = target
            .parse()
            .expect("request paths are built from URL-safe names");
        let mut req = Request::new(method, target, body);
        req.headers.insert(http::header::HOST, self.host.clone());
        // The key signed a probe request at construction: signing cannot fail.
        self.signer
            .sign(&req.method, &uri, &mut req.headers, payload, &now())
            .expect("credentials were checked when the client was built");
        req
    }

    pub fn create_bucket(&mut self, bucket: &str) -> Request {
        self.req(
            Method::PUT,
            &format!("/{bucket}"),
            Bytes::new(),
            EMPTY_SHA256_HEX,
        )
    }

    pub fn delete_bucket(&mut self, bucket: &str) -> Request {
        self.req(
            Method::DELETE,
            &format!("/{bucket}"),
            Bytes::new(),
            EMPTY_SHA256_HEX,
        )
    }

    pub fn put(&mut self, bucket: &str, key: &str, body: Bytes) -> Request {
        self.req(
            Method::PUT,
            &format!("/{bucket}/{key}"),
            body,
            UNSIGNED_PAYLOAD,
        )
    }

    pub fn get(&mut self, bucket: &str, key: &str) -> Request {
        self.req(
            Method::GET,
            &format!("/{bucket}/{key}"),
            Bytes::new(),
            EMPTY_SHA256_HEX,
        )
    }

    pub fn delete(&mut self, bucket: &str, key: &str) -> Request {
        self.req(
            Method::DELETE,
            &format!("/{bucket}/{key}"),
            Bytes::new(),
            EMPTY_SHA256_HEX,
        )
    }

    /// A ListObjectsV2 page of up to `limit` keys, continuing at `token`.
    pub fn list(&mut self, bucket: &str, token: Option<&str>, limit: usize) -> Request {
        let mut path = format!("/{bucket}?list-type=2&max-keys={limit}");
        if let Some(t) = token {
            path.push_str("&continuation-token=");
            path.push_str(&query_encode(t));
        }
        self.req(Method::GET, &path, Bytes::new(), EMPTY_SHA256_HEX)
    }

    /// The keys of a ListObjectsV2 page and its continuation token, if truncated.
    pub fn parse_listing(body: &[u8]) -> Option<Listing> {
        let text = std::str::from_utf8(body).ok()?;
        if !text.contains("<ListBucketResult") {
            return None;
        }
        let names = xml_texts(text, "Key");
        let truncated = xml_texts(text, "IsTruncated").first().map(String::as_str) == Some("true");
        let next = xml_texts(text, "NextContinuationToken").into_iter().next();
        Some(Listing {
            names,
            next: if truncated { next } else { None },
        })
    }

    /// CreateMultipartUpload.
    pub fn create_upload(&mut self, bucket: &str, key: &str) -> Request {
        self.req(
            Method::POST,
            &format!("/{bucket}/{key}?uploads"),
            Bytes::new(),
            EMPTY_SHA256_HEX,
        )
    }

    /// The upload id of a CreateMultipartUpload answer.
    pub fn parse_upload_id(body: &[u8]) -> Option<String> {
        let text = std::str::from_utf8(body).ok()?;
        xml_texts(text, "UploadId").into_iter().next()
    }

    /// UploadPart (parts are numbered from 1).
    pub fn upload_part(
        &mut self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part: usize,
        body: Bytes,
    ) -> Request {
        let path = format!(
            "/{bucket}/{key}?partNumber={part}&uploadId={}",
            query_encode(upload_id)
        );
        self.req(Method::PUT, &path, body, UNSIGNED_PAYLOAD)
    }

    /// CompleteMultipartUpload of parts 1..=n with these ETags (as S3 sent them).
    pub fn complete_upload(
        &mut self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Request {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (i, etag) in etags.iter().enumerate() {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                i + 1,
                crate::xml::escape(etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let path = format!("/{bucket}/{key}?uploadId={}", query_encode(upload_id));
        self.req(Method::POST, &path, Bytes::from(xml), UNSIGNED_PAYLOAD)
    }

    /// Whether an answer body is an S3 error document (CompleteMultipartUpload
    /// can fail after its 200 has been sent).
    pub fn is_error_document(body: &[u8]) -> bool {
        std::str::from_utf8(body).is_ok_and(|t| t.contains("<Error>"))
    }
}

/// The signing time: now.
/// The time requests are signed at, formatted once a second per thread.
fn now() -> AmzDate {
    thread_local! {
        static LAST: std::cell::RefCell<Option<AmzDate>> = const { std::cell::RefCell::new(None) };
    }
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some(at) if at.unix_secs == secs => at.clone(),
            _ => last.insert(AmzDate::from_unix_secs(secs)).clone(),
        }
    })
}

/// The text of every `<tag>…</tag>`, entities decoded.
fn xml_texts(text: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(crate::xml::unescape(&after[..end]));
        rest = &after[end + close.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> S3 {
        S3::new("http://127.0.0.1:8091", "AKID", "secret", "us-east-1").unwrap()
    }

    #[test]
    fn requests_are_path_style_and_signed() {
        // A PUT carries Host, an unsigned payload and a SigV4 Authorization for the key.
        let req = client().put("b0", "w0001-000000001", Bytes::from_static(b"abc"));
        assert_eq!(req.target, "/b0/w0001-000000001");
        let h = &req.headers;
        assert_eq!(h["host"], "127.0.0.1:8091");
        assert_eq!(h["x-amz-content-sha256"], UNSIGNED_PAYLOAD);
        let auth = h["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKID/"),
            "{auth}"
        );
        assert!(
            auth.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date"),
            "{auth}"
        );
    }

    #[test]
    fn list_pages_continue_only_when_truncated() {
        // Keys are read with entities decoded; the token counts only when IsTruncated is true.
        let page = b"<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a&amp;b</Key></Contents>\
<Contents><Key>c</Key></Contents><NextContinuationToken>tok</NextContinuationToken></ListBucketResult>";
        let l = S3::parse_listing(page).unwrap();
        assert_eq!(l.names, ["a&b", "c"]);
        assert_eq!(l.next.as_deref(), Some("tok"));
        let last = b"<ListBucketResult><IsTruncated>false</IsTruncated><NextContinuationToken>x</NextContinuationToken></ListBucketResult>";
        assert_eq!(S3::parse_listing(last).unwrap().next, None);
        assert!(S3::parse_listing(b"<Error/>").is_none());
    }

    #[test]
    fn multipart_documents_round_trip() {
        // The upload id is read from the answer; Complete lists parts in order with their ETags.
        let id = S3::parse_upload_id(b"<InitiateMultipartUploadResult><UploadId>u-1</UploadId></InitiateMultipartUploadResult>");
        assert_eq!(id.as_deref(), Some("u-1"));
        let req = client().complete_upload("b", "k", "u 1", &["\"e1\"".into(), "\"e2\"".into()]);
        assert_eq!(req.target, "/b/k?uploadId=u%201");
        assert!(S3::is_error_document(
            b"<?xml?><Error><Code>InvalidPart</Code></Error>"
        ));
    }
}
