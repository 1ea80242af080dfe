//! Writing a response: status line, header fields as the application set
//! them, and the body framed by Content-Length or chunked coding.
//!
//! Header fields are written as given. In particular a `Content-Length: 0`
//! on a 204 stays (Swift sends it and its clients check it), where hyper
//! would drop it. A response without a length gets one when its body's
//! size is known, chunked coding otherwise (close-delimited for HTTP/1.0).
//! The head and a small first body piece leave in one write; the buffer is
//! flushed whenever the body has nothing ready, so a slow body never holds
//! back bytes already produced.

use bytes::Bytes;
use futures::FutureExt;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode, Version};
use http_body::Body;
use http_body_util::BodyExt;
use std::io;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};

/// How response header names are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderCase {
    /// `Content-Type`, as Swift's eventlet server writes them.
    Title,
    /// `content-type`, as S3 writes them.
    Lower,
}

/// What the response writer needs to know of its request.
pub struct RequestInfo {
    pub method: Method,
    pub version: Version,
    /// The connection may serve another request after this one.
    pub keep_alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFraming {
    None,
    Length(u64),
    Chunked,
    /// Ends when the connection closes (an HTTP/1.0 client, unknown length).
    Close,
}

/// Writes `resp` and returns whether the connection can carry another
/// request (its framing held and nobody asked to close).
pub async fn write<W, B>(
    out: &mut BufWriter<W>,
    resp: Response<B>,
    req: &RequestInfo,
    case: HeaderCase,
) -> io::Result<bool>
where
    W: AsyncWrite + Unpin,
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let (mut parts, body) = resp.into_parts();
    let framing = framing(&mut parts, &body, req);
    let mut keep_alive = req.keep_alive
        && framing != BodyFraming::Close
        && !parts
            .headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    if !keep_alive {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    } else if req.version == Version::HTTP_10 {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    if !parts.headers.contains_key(header::DATE) {
        if let Some(v) = date_now() {
            parts.headers.insert(header::DATE, v);
        }
    }
    write_head(out, parts.status, &parts.headers, case).await?;
    let complete = match framing {
        BodyFraming::None => true,
        BodyFraming::Length(n) => write_sized(out, body, Some(n)).await?,
        BodyFraming::Chunked => write_chunked(out, body).await?,
        BodyFraming::Close => {
            write_sized(out, body, None).await?;
            false
        }
    };
    out.flush().await?;
    keep_alive &= complete;
    Ok(keep_alive)
}

/// Decides the body's framing, adding the header that announces it.
fn framing<B: Body>(parts: &mut http::response::Parts, body: &B, req: &RequestInfo) -> BodyFraming {
    let no_body = req.method == Method::HEAD
        || parts.status.is_informational()
        || parts.status == StatusCode::NO_CONTENT
        || parts.status == StatusCode::NOT_MODIFIED;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if no_body {
        if declared.is_none() && req.method == Method::HEAD {
            if let Some(n) = body.size_hint().exact() {
                parts.headers.insert(header::CONTENT_LENGTH, n.into());
            }
        }
        return BodyFraming::None;
    }
    if parts.headers.contains_key(header::TRANSFER_ENCODING) {
        parts.headers.remove(header::CONTENT_LENGTH);
        return BodyFraming::Chunked;
    }
    if let Some(n) = declared.or(body.size_hint().exact()) {
        parts.headers.insert(header::CONTENT_LENGTH, n.into());
        return BodyFraming::Length(n);
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    if req.version == Version::HTTP_11 {
        parts.headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        BodyFraming::Chunked
    } else {
        BodyFraming::Close
    }
}

async fn write_head<W: AsyncWrite + Unpin>(
    out: &mut BufWriter<W>,
    status: StatusCode,
    headers: &http::HeaderMap,
    case: HeaderCase,
) -> io::Result<()> {
    let mut head = Vec::with_capacity(256 + headers.len() * 48);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        let start = head.len();
        head.extend_from_slice(name.as_str().as_bytes());
        if case == HeaderCase::Title {
            title_case(&mut head[start..]);
        }
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    out.write_all(&head).await
}

/// `content-type` → `Content-Type`, in place.
fn title_case(name: &mut [u8]) {
    let mut upper = true;
    for b in name {
        if upper {
            b.make_ascii_uppercase();
        }
        upper = *b == b'-';
    }
}

/// The next data piece of `body`; trailers are skipped. The buffer is
/// flushed first if nothing is ready yet.
async fn next_data<W, B>(out: &mut BufWriter<W>, body: &mut B) -> io::Result<Option<Bytes>>
where
    W: AsyncWrite + Unpin,
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    loop {
        let frame = match body.frame().now_or_never() {
            Some(frame) => frame,
            None => {
                out.flush().await?;
                body.frame().await
            }
        };
        match frame {
            None => return Ok(None),
            Some(Err(e)) => {
                tracing::debug!(error = %e, "response body failed; closing the connection");
                return Err(io::Error::other(e.to_string()));
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// Writes a body of `length` bytes (or, with `None`, until it ends: the
/// connection's close delimits it); false if it was not exactly that long
/// (the client cannot trust this connection's framing any more).
async fn write_sized<W, B>(out: &mut BufWriter<W>, body: B, length: Option<u64>) -> io::Result<bool>
where
    W: AsyncWrite + Unpin,
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut left = length.unwrap_or(u64::MAX);
    while let Some(data) = next_data(out, &mut body).await? {
        let take = usize::try_from(left).unwrap_or(usize::MAX).min(data.len());
        out.write_all(&data[..take]).await?;
        left -= take as u64;
        if take < data.len() {
            tracing::warn!("response body longer than its Content-Length; closing the connection");
            return Ok(false);
        }
    }
    if left > 0 && length.is_some() {
        tracing::warn!(
            left,
            "response body shorter than its Content-Length; closing the connection"
        );
        return Ok(false);
    }
    Ok(true)
}

async fn write_chunked<W, B>(out: &mut BufWriter<W>, body: B) -> io::Result<bool>
where
    W: AsyncWrite + Unpin,
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    while let Some(data) = next_data(out, &mut body).await? {
        if data.is_empty() {
            continue;
        }
        let mut line = [0u8; 18];
        out.write_all(chunk_size_line(data.len(), &mut line))
            .await?;
        out.write_all(&data).await?;
        out.write_all(b"\r\n").await?;
    }
    out.write_all(b"0\r\n\r\n").await?;
    Ok(true)
}

/// `<hex size>\r\n`, the line before a chunk, written into `buf`.
fn chunk_size_line(len: usize, buf: &mut [u8; 18]) -> &[u8] {
    buf[16..].copy_from_slice(b"\r\n");
    let (mut at, mut n) = (16, len);
    loop {
        at -= 1;
        buf[at] = b"0123456789ABCDEF"[n % 16];
        n /= 16;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// The `Date` header for now, formatted once a second per thread, not once
/// per response.
fn date_now() -> Option<HeaderValue> {
    thread_local! {
        static DATE: std::cell::RefCell<Option<(u64, HeaderValue)>> =
            const { std::cell::RefCell::new(None) };
    }
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|cached| {
        if cached.as_ref().is_none_or(|(at, _)| *at != secs) {
            let value = HeaderValue::from_str(&httpdate::fmt_http_date(now)).ok()?;
            *cached = Some((secs, value));
        }
        cached.as_ref().map(|(_, v)| v.clone())
    })
}

/// The whole answer to a request whose head could not be parsed; the
/// connection closes after it.
pub fn refusal(status: StatusCode) -> Vec<u8> {
    format!(
        "HTTP/1.1 {} {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or("Error")
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    async fn written<B>(resp: Response<B>, method: Method, version: Version) -> (String, bool)
    where
        B: Body<Data = Bytes>,
        B::Error: std::fmt::Display,
    {
        let mut out = BufWriter::new(Vec::new());
        let req = RequestInfo {
            method,
            version,
            keep_alive: true,
        };
        let keep = write(&mut out, resp, &req, HeaderCase::Title)
            .await
            .unwrap();
        let text = String::from_utf8(out.into_inner()).unwrap();
        // The Date varies; drop it.
        let text = text
            .lines()
            .filter(|l| !l.starts_with("Date:"))
            .collect::<Vec<_>>()
            .join("\n");
        (text, keep)
    }

    #[tokio::test]
    async fn a_204_keeps_the_length_it_was_given() {
        let resp = Response::builder()
            .status(204)
            .header("content-length", "0")
            .header("x-account-object-count", "3")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (text, keep) = written(resp, Method::GET, Version::HTTP_11).await;
        assert_eq!(
            text,
            "HTTP/1.1 204 No Content\nContent-Length: 0\nX-Account-Object-Count: 3\n"
        );
        assert!(keep);
    }

    #[tokio::test]
    async fn a_known_size_gets_a_length_an_unknown_one_chunks() {
        let resp = Response::new(Full::new(Bytes::from_static(b"hello")));
        let (text, _) = written(resp, Method::GET, Version::HTTP_11).await;
        assert_eq!(text, "HTTP/1.1 200 OK\nContent-Length: 5\n\nhello");

        let pieces = futures::stream::iter(
            [&b"ab"[..], b"", b"cde"]
                .map(|p| Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from_static(p)))),
        );
        let resp = Response::new(StreamBody::new(pieces));
        let (text, keep) = written(resp, Method::GET, Version::HTTP_11).await;
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nab\n3\ncde\n0\n"
        );
        assert!(keep);
    }

    #[test]
    fn chunk_size_lines_are_uppercase_hex() {
        let mut buf = [0u8; 18];
        for (len, want) in [
            (0, "0"),
            (10, "A"),
            (255, "FF"),
            (usize::MAX, "FFFFFFFFFFFFFFFF"),
        ] {
            assert_eq!(
                chunk_size_line(len, &mut buf),
                format!("{want}\r\n").as_bytes()
            );
        }
    }

    #[tokio::test]
    async fn http_1_0_without_a_length_closes() {
        let pieces = futures::stream::iter([Ok::<_, std::io::Error>(http_body::Frame::data(
            Bytes::from_static(b"abc"),
        ))]);
        let resp = Response::new(StreamBody::new(pieces));
        let (text, keep) = written(resp, Method::GET, Version::HTTP_10).await;
        assert_eq!(text, "HTTP/1.1 200 OK\nConnection: close\n\nabc");
        assert!(!keep);
    }

    #[tokio::test]
    async fn a_body_shorter_than_its_length_closes_the_connection() {
        let resp = Response::builder()
            .header("content-length", "10")
            .body(Full::new(Bytes::from_static(b"abc")))
            .unwrap();
        let (_, keep) = written(resp, Method::GET, Version::HTTP_11).await;
        assert!(!keep);
    }

    #[tokio::test]
    async fn head_answers_carry_no_body() {
        let resp = Response::new(Full::new(Bytes::from_static(b"hello")));
        let (text, _) = written(resp, Method::HEAD, Version::HTTP_11).await;
        assert_eq!(text, "HTTP/1.1 200 OK\nContent-Length: 5\n");
    }
}
