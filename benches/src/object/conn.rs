//! One keep-alive HTTP/1.1 connection per worker: hyper's client
//! connection with no pool, redialled after an error. Every request it
//! sends is counted by method and status class (or error kind), so a run's
//! requests can be reconciled with the server's own counts.

use crate::error::BenchError;
use crate::stats::{status_class, ErrorKind, RequestCounts};
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// Where requests go: `host:port` and the path every request starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub authority: String,
    /// `""` or a path without a trailing `/` (a Swift storage URL's `/v1/AUTH_x`).
    pub base_path: String,
}

impl Endpoint {
    /// Reads `http://host:port[/path]`; HTTPS is not supported (yet).
    pub fn parse(url: &str) -> Result<Endpoint, BenchError> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            BenchError::invalid(
                "endpoint URL",
                format!("{url:?}: only http:// is supported"),
            )
        })?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err(BenchError::invalid(
                "endpoint URL",
                format!("{url:?}: no host"),
            ));
        }
        let authority = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Endpoint {
            authority,
            base_path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// The `Host` header value.
    pub fn host(&self) -> Result<HeaderValue, BenchError> {
        HeaderValue::from_str(&self.authority)
            .map_err(|_| BenchError::invalid("endpoint URL", self.authority.clone()))
    }
}

/// A request's body: kept (for listings and upload ids) or only counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    Discard,
    Keep,
}

/// An answer: status, headers, body length (and body when kept).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body_len: u64,
    pub body: Bytes,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `Ok(self)` for a 2xx, the status as an error kind otherwise.
    pub fn success(self) -> Result<Reply, ErrorKind> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(ErrorKind::Status(self.status))
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A connection to one endpoint and the count of requests sent on it.
pub struct HttpClient {
    authority: String,
    timeout: Duration,
    sender: Option<SendRequest<Full<Bytes>>>,
    pub requests: RequestCounts,
}

impl HttpClient {
    pub fn new(authority: &str, timeout: Duration) -> HttpClient {
        HttpClient {
            authority: authority.to_owned(),
            timeout,
            sender: None,
            requests: RequestCounts::default(),
        }
    }

    /// Sends `req` and reads the whole answer within the timeout. A
    /// non-2xx answer is a `Reply` (the caller decides); a timeout or a
    /// broken connection is an error, and the next call redials.
    pub async fn call(
        &mut self,
        req: Request<Full<Bytes>>,
        mode: BodyMode,
    ) -> Result<Reply, ErrorKind> {
        let method = method_name(req.method());
        let result = match tokio::time::timeout(self.timeout, self.exchange(req, mode)).await {
            Ok(r) => r,
            Err(_) => Err(ErrorKind::Timeout),
        };
        match &result {
            Ok(reply) => self.requests.record(method, status_class(reply.status)),
            Err(kind) => {
                self.sender = None;
                self.requests.record(method, kind.request_class());
            }
        }
        result
    }

    async fn exchange(
        &mut self,
        req: Request<Full<Bytes>>,
        mode: BodyMode,
    ) -> Result<Reply, ErrorKind> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.sender = Some(connect(&self.authority).await?);
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err(ErrorKind::Connection);
        };
        sender.ready().await.map_err(|_| ErrorKind::Connection)?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|_| ErrorKind::Connection)?;
        let (parts, mut body) = resp.into_parts();
        let (mut body_len, mut kept) = (0u64, BytesMut::new());
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| ErrorKind::Connection)?;
            if let Ok(data) = frame.into_data() {
                body_len += data.len() as u64;
                if mode == BodyMode::Keep {
                    kept.extend_from_slice(&data);
                }
            }
        }
        Ok(Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body_len,
            body: kept.freeze(),
        })
    }
}

async fn connect(authority: &str) -> Result<SendRequest<Full<Bytes>>, ErrorKind> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|_| ErrorKind::Connection)?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| ErrorKind::Connection)?;
    // The connection's I/O runs beside the worker; it ends when the sender is dropped.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// The methods `cairn bench` sends, by name; the server counts the same way.
fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_split_into_authority_and_base_path() {
        // Port defaults to 80; a trailing slash is dropped; https is refused.
        let e = Endpoint::parse("http://127.0.0.1:8090/v1/AUTH_demo/").unwrap();
        assert_eq!(e.authority, "127.0.0.1:8090");
        assert_eq!(e.base_path, "/v1/AUTH_demo");
        let e = Endpoint::parse("http://localhost").unwrap();
        assert_eq!(
            (e.authority.as_str(), e.base_path.as_str()),
            ("localhost:80", "")
        );
        assert!(Endpoint::parse("https://s3.example.com").is_err());
        assert!(Endpoint::parse("http:///x").is_err());
    }
}
