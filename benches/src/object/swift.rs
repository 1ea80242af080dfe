//! Swift API v1 requests: tempauth (v1.0) login, containers, objects,
//! listings (JSON) and Static Large Object manifests. Builds requests and
//! reads answers; sending is [`super::conn`]'s job.

use super::api::Listing;
use super::conn::{BodyMode, Endpoint, HttpClient};
use super::wire::{ReplyHeader, Request};
use crate::error::BenchError;
use bytes::Bytes;
use http::{HeaderValue, Method};
use std::fmt::{self, Write};

/// A logged-in Swift account: where its storage URL points and the token.
/// (`Host` is the connection's: the client writes it.)
#[derive(Debug, Clone)]
pub struct Swift {
    endpoint: Endpoint,
    token: HeaderValue,
}

/// One segment of a Static Large Object, as its manifest lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SloSegment {
    pub path: String,
    pub etag: String,
    pub size_bytes: u64,
}

impl Swift {
    /// An account reached with a token already issued.
    pub fn with_token(storage_url: &str, token: &str) -> Result<Swift, BenchError> {
        let endpoint = Endpoint::parse(storage_url)?;
        let token = HeaderValue::from_str(token)
            .map_err(|_| BenchError::invalid("token", "not a valid header value"))?;
        Ok(Swift { endpoint, token })
    }

    /// Logs in with tempauth v1.0 (`X-Auth-User`/`X-Auth-Key`), counting the
    /// request in `http` (which must be connected to the auth URL's host).
    pub async fn login(
        http: &mut HttpClient,
        auth_url: &str,
        user: &str,
        key: &str,
    ) -> Result<Swift, BenchError> {
        let auth = Endpoint::parse(auth_url)?;
        let header = |v: &str| {
            HeaderValue::from_str(v).map_err(|_| BenchError::invalid("credentials", "bad header"))
        };
        let path = match auth.base_path.as_str() {
            "" => "/".to_owned(),
            p => p.to_owned(),
        };
        let mut req = Request::new(Method::GET, path, Bytes::new());
        req.headers.insert(http::header::HOST, auth.host()?);
        req.headers.insert("x-auth-user", header(user)?);
        req.headers.insert("x-auth-key", header(key)?);
        let reply = http
            .call(req, BodyMode::Discard)
            .await
            .map_err(|e| BenchError::setup("tempauth login", http.explain(e)))?
            .success()
            .map_err(|e| BenchError::setup("tempauth login", e.key()))?;
        let url = reply.header(ReplyHeader::StorageUrl);
        let token = reply.header(ReplyHeader::AuthToken);
        match (url, token) {
            (Some(url), Some(token)) => Swift::with_token(url, token),
            _ => Err(BenchError::setup(
                "tempauth login",
                "no X-Storage-Url / X-Auth-Token in the answer",
            )),
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// A request for `path` under the storage URL, with the token.
    fn req(&self, method: Method, path: fmt::Arguments<'_>, body: Bytes) -> Request {
        let mut target = String::with_capacity(self.endpoint.base_path.len() + 64);
        target.push_str(&self.endpoint.base_path);
        // Writing into a String cannot fail.
        let _ = target.write_fmt(path);
        let mut req = Request::new(method, target, body);
        req.headers.insert("x-auth-token", self.token.clone());
        req
    }

    pub fn create_container(&self, container: &str) -> Request {
        self.req(Method::PUT, format_args!("/{container}"), Bytes::new())
    }

    pub fn delete_container(&self, container: &str) -> Request {
        self.req(Method::DELETE, format_args!("/{container}"), Bytes::new())
    }

    pub fn put(&self, container: &str, name: &str, body: Bytes) -> Request {
        let mut req = self.req(Method::PUT, format_args!("/{container}/{name}"), body);
        req.headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        req
    }

    pub fn get(&self, container: &str, name: &str) -> Request {
        self.req(
            Method::GET,
            format_args!("/{container}/{name}"),
            Bytes::new(),
        )
    }

    pub fn delete(&self, container: &str, name: &str) -> Request {
        self.req(
            Method::DELETE,
            format_args!("/{container}/{name}"),
            Bytes::new(),
        )
    }

    /// A JSON listing page of up to `limit` names after `marker`.
    pub fn list(&self, container: &str, marker: Option<&str>, limit: usize) -> Request {
        let marker = marker
            .map(|m| format!("&marker={}", super::api::query_encode(m)))
            .unwrap_or_default();
        self.req(
            Method::GET,
            format_args!("/{container}?format=json&limit={limit}{marker}"),
            Bytes::new(),
        )
    }

    /// The names of a JSON listing page; the last one is the next marker
    /// when the page is full.
    pub fn parse_listing(body: &[u8], limit: usize) -> Option<Listing> {
        #[derive(serde::Deserialize)]
        struct Entry {
            name: String,
        }
        let entries: Vec<Entry> = serde_json::from_slice(body).ok()?;
        let names: Vec<String> = entries.into_iter().map(|e| e.name).collect();
        let next = (names.len() >= limit)
            .then(|| names.last().cloned())
            .flatten();
        Some(Listing { names, next })
    }

    /// The manifest of a Static Large Object made of `segments`.
    pub fn put_manifest(&self, container: &str, name: &str, segments: &[SloSegment]) -> Request {
        // Serializing plain strings and numbers cannot fail.
        let body = serde_json::to_vec(segments).expect("a manifest serializes");
        self.req(
            Method::PUT,
            format_args!("/{container}/{name}?multipart-manifest=put"),
            Bytes::from(body),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_the_storage_path_and_token() {
        // An object PUT goes to base path + container + name with the token (the client adds Host).
        let s = Swift::with_token("http://127.0.0.1:8090/v1/AUTH_demo", "AUTH_tk1").unwrap();
        let req = s.put("c0", "w0001-000000001", Bytes::from_static(b"abc"));
        assert_eq!(req.method, Method::PUT);
        assert_eq!(req.target, "/v1/AUTH_demo/c0/w0001-000000001");
        assert_eq!(req.headers["x-auth-token"], "AUTH_tk1");
        assert_eq!(&req.body[..], b"abc");
        let list = s.list("c0", Some("a b"), 100);
        assert_eq!(
            list.target,
            "/v1/AUTH_demo/c0?format=json&limit=100&marker=a%20b"
        );
    }

    #[test]
    fn a_full_listing_page_names_its_next_marker() {
        // A page as long as the limit continues after its last name; a short one ends.
        let body = br#"[{"name":"a","bytes":1},{"name":"b","bytes":2}]"#;
        let full = Swift::parse_listing(body, 2).unwrap();
        assert_eq!(full.names, ["a", "b"]);
        assert_eq!(full.next.as_deref(), Some("b"));
        assert_eq!(Swift::parse_listing(body, 3).unwrap().next, None);
        assert!(Swift::parse_listing(b"<html>", 3).is_none());
    }
}
