//! Swift API v1 requests: tempauth (v1.0) login, containers, objects,
//! listings (JSON) and Static Large Object manifests. Builds requests and
//! reads answers; sending is [`super::conn`]'s job.

use super::api::{request, Listing};
use super::conn::{BodyMode, Endpoint, HttpClient};
use crate::error::BenchError;
use bytes::Bytes;
use http::{HeaderValue, Method, Request};
use http_body_util::Full;

/// A logged-in Swift account: where its storage URL points and the token.
#[derive(Debug, Clone)]
pub struct Swift {
    endpoint: Endpoint,
    host: HeaderValue,
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
        let host = endpoint.host()?;
        let token = HeaderValue::from_str(token)
            .map_err(|_| BenchError::invalid("token", "not a valid header value"))?;
        Ok(Swift {
            endpoint,
            host,
            token,
        })
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
        let mut req = request(Method::GET, &auth.base_path, Full::default());
        let h = req.headers_mut();
        h.insert(http::header::HOST, auth.host()?);
        h.insert("x-auth-user", header(user)?);
        h.insert("x-auth-key", header(key)?);
        let reply = http
            .call(req, BodyMode::Discard)
            .await
            .map_err(|e| BenchError::setup("tempauth login", e.key()))?
            .success()
            .map_err(|e| BenchError::setup("tempauth login", e.key()))?;
        let url = reply.header("x-storage-url");
        let token = reply.header("x-auth-token");
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

    fn req(&self, method: Method, path: &str, body: Full<Bytes>) -> Request<Full<Bytes>> {
        let mut req = request(method, &format!("{}{path}", self.endpoint.base_path), body);
        let h = req.headers_mut();
        h.insert(http::header::HOST, self.host.clone());
        h.insert("x-auth-token", self.token.clone());
        req
    }

    pub fn create_container(&self, container: &str) -> Request<Full<Bytes>> {
        self.req(Method::PUT, &format!("/{container}"), Full::default())
    }

    pub fn delete_container(&self, container: &str) -> Request<Full<Bytes>> {
        self.req(Method::DELETE, &format!("/{container}"), Full::default())
    }

    pub fn put(&self, container: &str, name: &str, body: Bytes) -> Request<Full<Bytes>> {
        let mut req = self.req(
            Method::PUT,
            &format!("/{container}/{name}"),
            Full::new(body),
        );
        req.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        req
    }

    pub fn get(&self, container: &str, name: &str) -> Request<Full<Bytes>> {
        self.req(
            Method::GET,
            &format!("/{container}/{name}"),
            Full::default(),
        )
    }

    pub fn delete(&self, container: &str, name: &str) -> Request<Full<Bytes>> {
        self.req(
            Method::DELETE,
            &format!("/{container}/{name}"),
            Full::default(),
        )
    }

    /// A JSON listing page of up to `limit` names after `marker`.
    pub fn list(
        &self,
        container: &str,
        marker: Option<&str>,
        limit: usize,
    ) -> Request<Full<Bytes>> {
        let mut path = format!("/{container}?format=json&limit={limit}");
        if let Some(m) = marker {
            path.push_str("&marker=");
            path.push_str(&super::api::query_encode(m));
        }
        self.req(Method::GET, &path, Full::default())
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
    pub fn put_manifest(
        &self,
        container: &str,
        name: &str,
        segments: &[SloSegment],
    ) -> Request<Full<Bytes>> {
        // Serializing plain strings and numbers cannot fail.
        let body = serde_json::to_vec(segments).expect("a manifest serializes");
        self.req(
            Method::PUT,
            &format!("/{container}/{name}?multipart-manifest=put"),
            Full::new(Bytes::from(body)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_the_storage_path_host_and_token() {
        // An object PUT goes to base path + container + name with the token and Host set.
        let s = Swift::with_token("http://127.0.0.1:8090/v1/AUTH_demo", "AUTH_tk1").unwrap();
        let req = s.put("c0", "w0001-000000001", Bytes::from_static(b"abc"));
        assert_eq!(req.method(), Method::PUT);
        assert_eq!(req.uri(), "/v1/AUTH_demo/c0/w0001-000000001");
        assert_eq!(req.headers()["host"], "127.0.0.1:8090");
        assert_eq!(req.headers()["x-auth-token"], "AUTH_tk1");
        let list = s.list("c0", Some("a b"), 100);
        assert_eq!(
            list.uri(),
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
