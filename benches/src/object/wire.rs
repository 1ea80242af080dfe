//! The HTTP/1.1 client side of the wire, without I/O: a request as the
//! benchmark builds it, its head as bytes, and the reading of an answer
//! (head, then a body framed by length, by chunks, by the connection's end
//! or not at all). [`super::conn`] moves the bytes; everything here is a
//! pure function of what it is given, so it is tested byte by byte.
//!
//! It keeps allocation off the hot path: the head is written into the
//! caller's reused buffer, the answer's head is parsed in place, and only
//! the few answer headers a caller reads ([`ReplyHeader`]) are copied out.

use bytes::{Buf, Bytes, BytesMut};
use cairn_http1::chunked::{ChunkError, Decoder, Step};
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, Method};

/// Most header fields in an answer's head.
pub const HEADERS_MAX: usize = 64;
/// Most bytes in an answer's head.
pub const HEAD_BYTES_MAX: usize = 64 * 1024;

/// A request as `cairn bench` sends it. The client owns the framing: it
/// writes `Host` (unless the headers carry one, as a signed S3 request
/// does) and `Content-Length` from the body, and skips any framing header
/// the caller set.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// Path and query, percent-encoded.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    /// A request for `target`, which must be an origin-form path of visible
    /// ASCII (the request line could not carry anything else).
    pub fn new(method: Method, target: String, body: Bytes) -> Request {
        assert!(
            target.starts_with('/') && target.bytes().all(|b| b.is_ascii_graphic()),
            "request targets are built from URL-safe names: {target:?}"
        );
        Request {
            method,
            target,
            headers: HeaderMap::new(),
            body,
        }
    }

    /// Whether the head announces the body's length: always when there is
    /// a body, and for an empty one on methods whose requests carry one
    /// (a Swift PUT without a length is refused with 411).
    fn sends_length(&self) -> bool {
        !self.body.is_empty()
            || !matches!(
                self.method,
                Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
            )
    }
}

/// Writes `req`'s head into `out` (cleared first); `host` is the `Host`
/// value when the request carries none.
pub fn encode_head(req: &Request, host: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut has_host = false;
    for (name, value) in &req.headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue;
        }
        has_host |= name == HOST;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_host {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(host.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if req.sends_length() {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(out, req.body.len() as u64);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, without going through `fmt`.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Why an answer could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("answer head: {0}")]
    Head(httparse::Error),
    #[error("answer head longer than {HEAD_BYTES_MAX} bytes")]
    HeadTooLarge,
    #[error("Content-Length {0:?} is not a length (or disagrees with another)")]
    ContentLength(String),
    #[error("chunked body: {0}")]
    Chunked(#[from] ChunkError),
}

/// The answer headers callers read; only these are copied out of the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyHeader {
    ETag,
    AuthToken,
    StorageUrl,
}

impl ReplyHeader {
    const COUNT: usize = 3;

    fn index(self) -> usize {
        self as usize
    }

    /// The header's name in lower case.
    pub fn name(self) -> &'static str {
        match self {
            ReplyHeader::ETag => "etag",
            ReplyHeader::AuthToken => "x-auth-token",
            ReplyHeader::StorageUrl => "x-storage-url",
        }
    }
}

/// The values of the [`ReplyHeader`]s an answer carried (the first of each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeptHeaders([Option<String>; ReplyHeader::COUNT]);

impl KeptHeaders {
    pub fn get(&self, h: ReplyHeader) -> Option<&str> {
        self.0[h.index()].as_deref()
    }

    fn keep(&mut self, h: ReplyHeader, value: &[u8]) {
        let slot = &mut self.0[h.index()];
        if slot.is_none() {
            *slot = std::str::from_utf8(value).ok().map(str::to_owned);
        }
    }
}

/// How an answer's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// An answer's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub framing: Framing,
    /// The connection ends after this answer.
    pub close: bool,
    pub kept: KeptHeaders,
}

impl Head {
    /// A 1xx answer before the real one (`100 Continue`): skipped.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// What the header fields said about framing, as they were read.
#[derive(Default)]
struct Fields {
    length: Option<u64>,
    /// A Transfer-Encoding was present; `true` if its last coding is chunked.
    chunked: Option<bool>,
    close: bool,
    keep_alive: bool,
    kept: KeptHeaders,
}

impl Fields {
    fn read(&mut self, name: &str, value: &[u8]) -> Result<(), WireError> {
        // Dispatch on the length first: most fields are none of these.
        match name.len() {
            4 if name.eq_ignore_ascii_case(ReplyHeader::ETag.name()) => {
                self.kept.keep(ReplyHeader::ETag, value)
            }
            10 if name.eq_ignore_ascii_case("connection") => {
                for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    self.close |= token.eq_ignore_ascii_case(b"close");
                    self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            12 if name.eq_ignore_ascii_case(ReplyHeader::AuthToken.name()) => {
                self.kept.keep(ReplyHeader::AuthToken, value)
            }
            13 if name.eq_ignore_ascii_case(ReplyHeader::StorageUrl.name()) => {
                self.kept.keep(ReplyHeader::StorageUrl, value)
            }
            14 if name.eq_ignore_ascii_case("content-length") => {
                let n = parse_length(value)?;
                if self.length.is_some_and(|m| m != n) {
                    return Err(bad_length(value));
                }
                self.length = Some(n);
            }
            17 if name.eq_ignore_ascii_case("transfer-encoding") => {
                let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
                self.chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            }
            _ => {}
        }
        Ok(())
    }
}

fn bad_length(value: &[u8]) -> WireError {
    WireError::ContentLength(String::from_utf8_lossy(value).into_owned())
}

/// A Content-Length value: 1 to 19 decimal digits (no sign, no list).
fn parse_length(value: &[u8]) -> Result<u64, WireError> {
    let digits = value.trim_ascii();
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad_length(value));
    }
    Ok(digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Parses the answer head at the front of `buf`: `Ok(None)` while it is
/// incomplete, else the head and its length in bytes. `head_request`: the
/// request was a HEAD, so the answer has no body whatever it says.
pub fn parse_head(buf: &[u8], head_request: bool) -> Result<Option<(Head, usize)>, WireError> {
    let mut slots = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut resp = httparse::Response::new(&mut slots);
    let len = match resp.parse(buf).map_err(WireError::Head)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial if buf.len() > HEAD_BYTES_MAX => {
            return Err(WireError::HeadTooLarge)
        }
        httparse::Status::Partial => return Ok(None),
    };
    // A complete parse always sets the code and version.
    let status = resp.code.unwrap_or_default();
    let http10 = resp.version == Some(0);
    let mut fields = Fields::default();
    for h in resp.headers.iter() {
        fields.read(h.name, h.value)?;
    }
    let framing = if head_request || matches!(status, 100..=199 | 204 | 304) {
        Framing::Empty
    } else {
        match (fields.chunked, fields.length) {
            (Some(true), _) => Framing::Chunked,
            // A response coded some other way ends with the connection.
            (Some(false), _) | (None, None) => Framing::UntilClose,
            (None, Some(n)) => Framing::Length(n),
        }
    };
    let close = fields.close
        || (http10 && !fields.keep_alive)
        || status == 101
        || framing == Framing::UntilClose;
    let head = Head {
        status,
        framing,
        close,
        kept: fields.kept,
    };
    Ok(Some((head, len)))
}

/// Where body bytes go: counted always, kept only when asked.
#[derive(Debug, Default)]
pub struct BodySink {
    pub len: u64,
    kept: Option<Vec<u8>>,
}

impl BodySink {
    pub fn new(keep: bool) -> BodySink {
        BodySink {
            len: 0,
            kept: keep.then(Vec::new),
        }
    }

    fn take(&mut self, piece: &[u8]) {
        self.len += piece.len() as u64;
        if let Some(kept) = &mut self.kept {
            kept.extend_from_slice(piece);
        }
    }

    /// The kept bytes (empty when not kept).
    pub fn into_body(self) -> Bytes {
        self.kept.map(Bytes::from).unwrap_or_default()
    }
}

/// Reads one body out of the bytes that arrive.
#[derive(Debug)]
pub enum BodyReader {
    Length(u64),
    Chunked(Decoder),
    UntilClose,
    Done,
}

impl BodyReader {
    pub fn new(framing: Framing) -> BodyReader {
        match framing {
            Framing::Empty | Framing::Length(0) => BodyReader::Done,
            Framing::Length(n) => BodyReader::Length(n),
            Framing::Chunked => BodyReader::Chunked(Decoder::default()),
            Framing::UntilClose => BodyReader::UntilClose,
        }
    }

    /// Takes what body bytes `buf` holds into `sink`, leaving whatever
    /// follows the body; `Ok(true)` once the body is complete.
    pub fn step(&mut self, buf: &mut BytesMut, sink: &mut BodySink) -> Result<bool, WireError> {
        match self {
            BodyReader::Done => return Ok(true),
            BodyReader::Length(left) => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                sink.take(&buf[..n]);
                buf.advance(n);
                *left -= n as u64;
                if *left > 0 {
                    return Ok(false);
                }
            }
            BodyReader::Chunked(decoder) => loop {
                match decoder.step(buf)? {
                    Step::Data(piece) => sink.take(&piece),
                    Step::NeedMore => return Ok(false),
                    Step::Done => break,
                }
            },
            BodyReader::UntilClose => {
                sink.take(buf);
                buf.clear();
                return Ok(false);
            }
        }
        *self = BodyReader::Done;
        Ok(true)
    }

    /// Whether the connection's end completes the body (rather than cutting it short).
    pub fn ends_at_close(&self) -> bool {
        matches!(self, BodyReader::UntilClose | BodyReader::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn head_of(req: &Request) -> String {
        let mut out = Vec::new();
        encode_head(req, "127.0.0.1:8090", &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn heads_carry_host_length_and_the_callers_headers() {
        // Host comes from the client unless set; Content-Length from the body; framing headers set by a caller are dropped.
        let mut put = Request::new(Method::PUT, "/v1/a/c/o".into(), Bytes::from_static(b"abc"));
        put.headers
            .insert("x-auth-token", HeaderValue::from_static("tk"));
        put.headers
            .insert(CONTENT_LENGTH, HeaderValue::from_static("99"));
        assert_eq!(
            head_of(&put),
            "PUT /v1/a/c/o HTTP/1.1\r\nx-auth-token: tk\r\nHost: 127.0.0.1:8090\r\nContent-Length: 3\r\n\r\n"
        );
        let mut get = Request::new(Method::GET, "/b/k?x=1".into(), Bytes::new());
        get.headers.insert(HOST, HeaderValue::from_static("h:1"));
        assert_eq!(head_of(&get), "GET /b/k?x=1 HTTP/1.1\r\nhost: h:1\r\n\r\n");
        let empty_put = Request::new(Method::PUT, "/c".into(), Bytes::new());
        assert!(head_of(&empty_put).ends_with("Content-Length: 0\r\n\r\n"));
        let mut n = Vec::new();
        for v in [0, 7, 10, 4096, u64::MAX] {
            n.clear();
            push_decimal(&mut n, v);
            assert_eq!(n, v.to_string().as_bytes());
        }
    }

    #[test]
    #[should_panic(expected = "URL-safe")]
    fn a_target_that_would_break_the_request_line_is_refused() {
        // A space or CR in the target is a bug in the caller: the request line would be forged.
        let _ = Request::new(Method::GET, "/a b".into(), Bytes::new());
    }

    /// Moves the next `cut` bytes (at most) of `wire` into `buf`.
    fn feed(wire: &[u8], fed: &mut usize, cut: usize, buf: &mut BytesMut) {
        let n = cut.min(wire.len() - *fed);
        assert!(n > 0, "the reader wants more than the answer");
        buf.extend_from_slice(&wire[*fed..*fed + n]);
        *fed += n;
    }

    /// Reads one whole answer from `wire` fed in pieces of `cut` bytes:
    /// (head, body, the bytes left after it).
    fn read_answer(wire: &[u8], cut: usize, head_request: bool) -> (Head, BodySink, Vec<u8>) {
        let (mut buf, mut fed) = (BytesMut::new(), 0);
        let head = loop {
            match parse_head(&buf, head_request).unwrap() {
                Some((head, len)) => {
                    buf.advance(len);
                    break head;
                }
                None => feed(wire, &mut fed, cut, &mut buf),
            }
        };
        let mut body = BodyReader::new(head.framing);
        let mut sink = BodySink::new(true);
        while !body.step(&mut buf, &mut sink).unwrap() {
            if fed == wire.len() {
                // The connection ends here.
                assert!(body.ends_at_close(), "the body was cut short");
                break;
            }
            feed(wire, &mut fed, cut, &mut buf);
        }
        let rest = [&buf[..], &wire[fed..]].concat();
        (head, sink, rest)
    }

    #[test]
    fn length_and_chunked_bodies_read_the_same_at_every_split() {
        // Fed one byte at a time up to all at once, both framings give the body and leave the next answer alone.
        let by_length =
            b"HTTP/1.1 200 OK\r\nETag: \"e1\"\r\nContent-Length: 11\r\n\r\nhello worldNEXT";
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT";
        for wire in [&by_length[..], &chunked[..]] {
            for cut in 1..=wire.len() {
                let (head, sink, rest) = read_answer(wire, cut, false);
                assert_eq!((head.status, head.close), (200, false));
                assert_eq!(sink.len, 11);
                assert_eq!(sink.into_body(), &b"hello world"[..], "cut {cut}");
                assert_eq!(rest, b"NEXT", "cut {cut}");
            }
        }
        let (head, _, _) = read_answer(by_length, 4096, false);
        assert_eq!(head.kept.get(ReplyHeader::ETag), Some("\"e1\""));
        assert_eq!(head.kept.get(ReplyHeader::AuthToken), None);
    }

    fn head(text: &str, head_request: bool) -> Head {
        let (h, len) = parse_head(text.as_bytes(), head_request).unwrap().unwrap();
        assert_eq!(len, text.len());
        h
    }

    #[test]
    fn framing_follows_rfc_9112() {
        // No body for HEAD, 1xx, 204, 304; chunked wins over a length; no length means until close.
        let cl = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(head(cl, false).framing, Framing::Length(5));
        assert_eq!(head(cl, true).framing, Framing::Empty);
        let no_content = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(head(no_content, false).framing, Framing::Empty);
        let not_modified = "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n";
        assert_eq!(head(not_modified, false).framing, Framing::Empty);
        let both =
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(head(both, false).framing, Framing::Chunked);
        let gzip = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n";
        let h = head(gzip, false);
        assert_eq!((h.framing, h.close), (Framing::UntilClose, true));
        let interim = head("HTTP/1.1 100 Continue\r\n\r\n", false);
        assert!(interim.is_interim());
        assert_eq!(interim.framing, Framing::Empty);
        assert!(!head(cl, false).is_interim());
    }

    #[test]
    fn the_connection_ends_when_the_answer_says_so() {
        // Connection: close (any case, in a list), HTTP/1.0 without keep-alive and close-delimited bodies end it.
        let close = "HTTP/1.1 200 OK\r\nconnection: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n";
        assert!(head(close, false).close);
        let keep = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(!head(keep, false).close);
        let old = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(head(old, false).close);
        let old_kept = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        assert!(!head(old_kept, false).close);
        let (h, sink, rest) = read_answer(b"HTTP/1.1 200 OK\r\n\r\nall of it", 4, false);
        assert!(h.close);
        assert_eq!(
            (sink.into_body(), rest.len()),
            (Bytes::from_static(b"all of it"), 0)
        );
    }

    #[test]
    fn malformed_heads_are_errors() {
        // A bad or conflicting length, a bad status line, an oversized head and a bad chunk are refused.
        let bad = |text: &str| parse_head(text.as_bytes(), false).unwrap_err();
        assert!(matches!(
            bad("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            WireError::ContentLength(_)
        ));
        assert!(matches!(
            bad("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            WireError::ContentLength(_)
        ));
        assert!(matches!(bad("HTTX/1.1 200 OK\r\n\r\n"), WireError::Head(_)));
        let many = "x: y\r\n".repeat(HEADERS_MAX + 1);
        assert_eq!(
            bad(&format!("HTTP/1.1 200 OK\r\n{many}\r\n")),
            WireError::Head(httparse::Error::TooManyHeaders)
        );
        let endless = format!("HTTP/1.1 200 OK\r\nx: {}", "y".repeat(HEAD_BYTES_MAX));
        assert_eq!(bad(&endless), WireError::HeadTooLarge);
        // Equal duplicate lengths are one length.
        let twice = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n";
        assert_eq!(head(twice, false).framing, Framing::Length(3));
        let mut body = BodyReader::new(Framing::Chunked);
        let mut buf = BytesMut::from(&b"zz\r\n"[..]);
        assert!(matches!(
            body.step(&mut buf, &mut BodySink::new(false)),
            Err(WireError::Chunked(ChunkError::BadSize))
        ));
    }
}
