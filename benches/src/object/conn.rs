//! One keep-alive HTTP/1.1 connection per worker, driven inline by the
//! worker's own task: a `TcpStream` (TCP_NODELAY), a reused head buffer and
//! a reused read buffer. [`super::wire`] turns requests into bytes and bytes
//! into answers; this file moves the bytes, bounds each exchange by the
//! timeout, redials after any failure and counts every request it sends by
//! method and status class (or error kind), so a run's requests can be
//! reconciled with the server's own counts.
//!
//! Why not hyper's client: its connection runs as a second task that the
//! worker reaches through channels, and every answer's headers become a
//! `HeaderMap`; here a request costs a `writev`, the reads of its answer
//! and no allocation beyond the few headers a caller reads (issue 7: the
//! load generator must cost less CPU per request than wrk).

use super::wire::{
    encode_head, parse_head, BodyReader, BodySink, Head, KeptHeaders, ReplyHeader, Request,
    WireError,
};
use crate::error::BenchError;
use crate::stats::{status_class, ErrorKind, RequestCounts};
use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, Method};
use std::io::{self, IoSlice};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The read buffer's size: one read takes a 4 KiB object with its head, or
/// 64 KiB of a large body.
const READ_BUF_BYTES: usize = 64 * 1024;
/// Below this much free room the read buffer is compacted (or grown) first.
const READ_SPARE_MIN: usize = 4 * 1024;

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
        // The path goes into request lines as it is.
        if !path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BenchError::invalid(
                "endpoint URL",
                format!("{url:?}: the path must be percent-encoded"),
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

/// An answer: status, the headers callers read, body length (and body when kept).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    headers: KeptHeaders,
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

    pub fn header(&self, h: ReplyHeader) -> Option<&str> {
        self.headers.get(h)
    }
}

/// Why one exchange failed, with what was being done; counted as an
/// [`ErrorKind`].
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("connecting to {authority}: {source}")]
    Connect {
        authority: String,
        source: io::Error,
    },
    #[error("sending the request: {0}")]
    Send(io::Error),
    #[error("reading the answer: {0}")]
    Receive(io::Error),
    #[error("the server closed the connection {0}")]
    Closed(&'static str),
    #[error("malformed answer: {0}")]
    Malformed(#[from] WireError),
    #[error("no whole answer within {0:?}")]
    Timeout(Duration),
}

impl ExchangeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ExchangeError::Connect { .. }
            | ExchangeError::Send(_)
            | ExchangeError::Receive(_)
            | ExchangeError::Closed(_) => ErrorKind::Connection,
            ExchangeError::Malformed(_) => ErrorKind::Protocol,
            ExchangeError::Timeout(_) => ErrorKind::Timeout,
        }
    }
}

/// A connection to one endpoint and the count of requests sent on it.
pub struct HttpClient {
    authority: String,
    timeout: Duration,
    /// `None` until the first request and after any failure.
    stream: Option<TcpStream>,
    /// The request head being written (reused).
    head: Vec<u8>,
    /// What has been read and not yet consumed (reused).
    buf: BytesMut,
    /// The last call's failure, if it failed.
    last_error: Option<ExchangeError>,
    pub requests: RequestCounts,
}

impl HttpClient {
    pub fn new(authority: &str, timeout: Duration) -> HttpClient {
        HttpClient {
            authority: authority.to_owned(),
            timeout,
            stream: None,
            head: Vec::new(),
            buf: BytesMut::new(),
            last_error: None,
            requests: RequestCounts::default(),
        }
    }

    /// Sends `req` and reads the whole answer within the timeout. A
    /// non-2xx answer is a `Reply` (the caller decides); a timeout, a
    /// broken connection or a malformed answer is an error, and the next
    /// call redials.
    pub async fn call(&mut self, req: Request, mode: BodyMode) -> Result<Reply, ErrorKind> {
        let method = method_name(&req.method);
        let result = match tokio::time::timeout(self.timeout, self.exchange(&req, mode)).await {
            Ok(r) => r,
            Err(_) => Err(ExchangeError::Timeout(self.timeout)),
        };
        match result {
            Ok(reply) => {
                self.requests.record(method, status_class(reply.status));
                self.last_error = None;
                Ok(reply)
            }
            Err(e) => {
                // Where the exchange stopped is unknown: start over on a new connection.
                self.stream = None;
                let kind = e.kind();
                self.requests.record(method, kind.request_class());
                self.last_error = Some(e);
                Err(kind)
            }
        }
    }

    /// `kind` with what went wrong, when it came from the last call's failure.
    pub fn explain(&self, kind: ErrorKind) -> String {
        match (&self.last_error, kind) {
            (Some(e), k) if k == e.kind() => format!("{}: {e}", k.key()),
            _ => kind.key(),
        }
    }

    async fn exchange(&mut self, req: &Request, mode: BodyMode) -> Result<Reply, ExchangeError> {
        let HttpClient {
            authority,
            stream,
            head,
            buf,
            ..
        } = self;
        if !stream.as_ref().is_some_and(|s| still_open(s, buf)) {
            *stream = None;
            buf.clear();
        }
        let s = match *stream {
            Some(ref mut s) => s,
            None => stream.insert(connect(authority).await?),
        };
        encode_head(req, authority, head);
        write_request(s, head, &req.body)
            .await
            .map_err(ExchangeError::Send)?;
        let (answer, sink, closed) = read_answer(s, buf, req.method == Method::HEAD, mode).await?;
        // Bytes after the answer were never asked for: the connection is not to be trusted.
        if answer.close || closed || !buf.is_empty() {
            *stream = None;
            buf.clear();
        }
        Ok(Reply {
            status: answer.status,
            headers: answer.kept,
            body_len: sink.len,
            body: sink.into_body(),
        })
    }
}

/// Reads one answer: its head (after any 1xx), then its body into a sink
/// that keeps it or only counts it. `true` with them: the server closed the
/// connection to end the body.
async fn read_answer(
    s: &mut TcpStream,
    buf: &mut BytesMut,
    head_request: bool,
    mode: BodyMode,
) -> Result<(Head, BodySink, bool), ExchangeError> {
    let answer = loop {
        if let Some((answer, len)) = parse_head(buf, head_request)? {
            buf.advance(len);
            if answer.is_interim() {
                continue;
            }
            break answer;
        }
        if read_more(s, buf).await? == 0 {
            return Err(ExchangeError::Closed("before the answer's head"));
        }
    };
    let mut body = BodyReader::new(answer.framing);
    let mut sink = BodySink::new(mode == BodyMode::Keep);
    while !body.step(buf, &mut sink)? {
        if read_more(s, buf).await? == 0 {
            if !body.ends_at_close() {
                return Err(ExchangeError::Closed("in the middle of the answer's body"));
            }
            return Ok((answer, sink, true));
        }
    }
    Ok((answer, sink, false))
}

async fn connect(authority: &str) -> Result<TcpStream, ExchangeError> {
    let failed = |source| ExchangeError::Connect {
        authority: authority.to_owned(),
        source,
    };
    let stream = TcpStream::connect(authority).await.map_err(failed)?;
    stream.set_nodelay(true).map_err(failed)?;
    Ok(stream)
}

/// Whether a kept-alive connection can take the next request: the server
/// has neither closed it nor sent anything unasked. This read costs no
/// extra system call: it finds the socket empty (`EAGAIN`) where the read
/// after the write would otherwise have, and once it has, the read after
/// the write waits for the answer instead of trying first.
fn still_open(stream: &TcpStream, buf: &mut BytesMut) -> bool {
    buf.is_empty()
        && matches!(stream.try_read_buf(buf), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Writes the head and the body: one `writev`, more only if the socket
/// takes part of them. The body is never copied.
async fn write_request(s: &mut TcpStream, head: &[u8], body: &[u8]) -> io::Result<()> {
    if body.is_empty() {
        return s.write_all(head).await;
    }
    let (mut head, mut body) = (head, body);
    while !(head.is_empty() && body.is_empty()) {
        let n = s
            .write_vectored(&[IoSlice::new(head), IoSlice::new(body)])
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_head = n.min(head.len());
        head = &head[from_head..];
        body = &body[n - from_head..];
    }
    Ok(())
}

/// Reads what has arrived into `buf`'s free room (0: the server closed).
/// An empty buffer goes back to its start, so it is never reallocated.
async fn read_more(s: &mut TcpStream, buf: &mut BytesMut) -> Result<usize, ExchangeError> {
    if buf.is_empty() || buf.capacity() - buf.len() < READ_SPARE_MIN {
        buf.reserve(READ_BUF_BYTES);
    }
    s.read_buf(buf).await.map_err(ExchangeError::Receive)
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
mod tests;
