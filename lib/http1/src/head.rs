//! Parsing a request head (request line and header fields) off the wire.
//!
//! The request target is taken as the client sent it, bytes and all: raw
//! bytes outside ASCII (which `http::Uri` refuses) are percent-encoded, so
//! the application sees them, decodes them, and answers as Swift does
//! ("412 Invalid UTF8") instead of the HTTP layer refusing the request.
//! Percent-decoding gives back exactly the bytes that were sent.
//!
//! Body framing follows RFC 9112 §6.3: chunked must be the final transfer
//! coding; Transfer-Encoding overrides Content-Length (and the connection is
//! closed after such a request, as it may be a smuggling attempt); differing
//! Content-Lengths are refused.

use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri, Version};
use thiserror::Error;

/// How the request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub struct Head {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// The connection may carry another request after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue`: send "100 Continue" before reading the body.
    pub expect_continue: bool,
}

/// Why a head was refused; each maps to the status sent before closing.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeadError {
    #[error("malformed request head: {0}")]
    Malformed(&'static str),
    #[error("request head too large")]
    TooLarge,
    #[error("request target too long")]
    UriTooLong,
}

impl HeadError {
    /// The status answered for this error.
    pub fn status(&self) -> http::StatusCode {
        match self {
            HeadError::Malformed(_) => http::StatusCode::BAD_REQUEST,
            HeadError::TooLarge => http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            HeadError::UriTooLong => http::StatusCode::URI_TOO_LONG,
        }
    }
}

/// The most header fields any configuration may allow: the slots httparse
/// fills live on the stack, not on the heap for every request.
pub const MAX_HEADERS_CAP: usize = 256;

/// Limits on what a head may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most header fields in one request (at most [`MAX_HEADERS_CAP`]).
    pub max_headers: usize,
    /// Most bytes in the whole head.
    pub max_head_bytes: usize,
    /// Most bytes in the request target.
    pub max_uri_bytes: usize,
}

/// Parses a head from the start of `buf`. `Ok(None)` means more bytes are
/// needed; `Ok(Some((head, n)))` means the head took the first `n` bytes.
///
/// The request line is parsed here (httparse wants the target as UTF-8);
/// the header fields by httparse.
pub fn parse(buf: &[u8], limits: &Limits) -> Result<Option<(Head, usize)>, HeadError> {
    let Some(line_end) = memchr::memchr(b'\n', buf) else {
        return if buf.len() > limits.max_uri_bytes + 64 {
            Err(HeadError::UriTooLong)
        } else {
            Ok(None)
        };
    };
    let line = buf[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..line_end]);
    let (method, target, version) = request_line(line)?;
    if target.len() > limits.max_uri_bytes {
        return Err(HeadError::UriTooLong);
    }
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS_CAP];
    let slots = &mut slots[..limits.max_headers.min(MAX_HEADERS_CAP)];
    let (len, fields) = match httparse::parse_headers(&buf[line_end + 1..], slots) {
        Ok(httparse::Status::Complete((len, fields))) => (line_end + 1 + len, fields),
        Ok(httparse::Status::Partial) => {
            return if buf.len() > limits.max_head_bytes {
                Err(HeadError::TooLarge)
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed("header field")),
    };
    if len > limits.max_head_bytes {
        return Err(HeadError::TooLarge);
    }
    let mut head = Head {
        method,
        uri: target_uri(target)?,
        version,
        headers: HeaderMap::with_capacity(fields.len()),
        framing: Framing::Length(0),
        keep_alive: version == Version::HTTP_11,
        expect_continue: false,
    };
    fill_headers(&mut head, fields)?;
    Ok(Some((head, len)))
}

/// `METHOD SP target SP HTTP/1.x`. The target may hold any byte but
/// controls, spaces and DEL; raw bytes outside ASCII are the point.
fn request_line(line: &[u8]) -> Result<(Method, &[u8], Version), HeadError> {
    let mut parts = line.split(|b| *b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed("request line"));
    };
    let method = Method::from_bytes(method).map_err(|_| HeadError::Malformed("method"))?;
    if target.is_empty() || target.iter().any(|b| *b < 0x21 || *b == 0x7f) {
        return Err(HeadError::Malformed("request target"));
    }
    let version = match version {
        b"HTTP/1.1" => Version::HTTP_11,
        b"HTTP/1.0" => Version::HTTP_10,
        _ => return Err(HeadError::Malformed("version")),
    };
    Ok((method, target, version))
}

/// Copies the header fields in, working out framing, keep-alive and
/// `Expect` as they pass.
fn fill_headers(head: &mut Head, fields: &[httparse::Header<'_>]) -> Result<(), HeadError> {
    let mut length: Option<u64> = None;
    let mut chunked: Option<bool> = None;
    let mut close = false;
    let mut keep_alive_asked = false;
    for field in fields {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| HeadError::Malformed("header name"))?;
        let value = HeaderValue::from_bytes(field.value)
            .map_err(|_| HeadError::Malformed("header value"))?;
        match name {
            header::CONTENT_LENGTH => {
                let n = parse_length(field.value)?;
                if length.is_some_and(|prev| prev != n) {
                    return Err(HeadError::Malformed("differing Content-Length"));
                }
                length = Some(n);
            }
            header::TRANSFER_ENCODING => {
                if head.version == Version::HTTP_10 {
                    return Err(HeadError::Malformed("Transfer-Encoding in HTTP/1.0"));
                }
                // Only the last coding counts: chunked must be it.
                chunked = Some(last_token_is(field.value, b"chunked"));
            }
            header::CONNECTION => {
                close |= has_token(field.value, b"close");
                keep_alive_asked |= has_token(field.value, b"keep-alive");
            }
            header::EXPECT => {
                head.expect_continue = field.value.eq_ignore_ascii_case(b"100-continue");
            }
            _ => {}
        }
        head.headers.append(name, value);
    }
    head.framing = match (chunked, length) {
        (Some(false), _) => return Err(HeadError::Malformed("final coding is not chunked")),
        (Some(true), cl) => {
            if cl.is_some() {
                head.headers.remove(header::CONTENT_LENGTH);
                close = true;
            }
            Framing::Chunked
        }
        (None, cl) => Framing::Length(cl.unwrap_or(0)),
    };
    head.keep_alive = !close && (head.version == Version::HTTP_11 || keep_alive_asked);
    Ok(())
}

/// A Content-Length value: ASCII digits only (no sign, no spaces inside),
/// and no overflow.
fn parse_length(value: &[u8]) -> Result<u64, HeadError> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(HeadError::Malformed("Content-Length"));
    }
    Ok(value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Whether `token` is among the comma-separated tokens of a field.
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Whether the last comma-separated token of a field is `token`.
fn last_token_is(value: &[u8], token: &[u8]) -> bool {
    value
        .rsplit(|b| *b == b',')
        .next()
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// The target as a `Uri`, with bytes `Uri` would refuse percent-encoded.
fn target_uri(target: &[u8]) -> Result<Uri, HeadError> {
    let encoded: Vec<u8> = if target.iter().any(|b| needs_encoding(*b)) {
        let mut out = Vec::with_capacity(target.len() * 3);
        for &b in target {
            if needs_encoding(b) {
                out.extend_from_slice(&[b'%', hex_digit(b >> 4), hex_digit(b & 0xf)]);
            } else {
                out.push(b);
            }
        }
        out
    } else {
        target.to_vec()
    };
    Uri::from_maybe_shared(bytes::Bytes::from(encoded))
        .map_err(|_| HeadError::Malformed("request target"))
}

/// Bytes the client may send raw but `http::Uri` does not accept.
fn needs_encoding(b: u8) -> bool {
    b >= 0x80
        || matches!(
            b,
            b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
        )
}

fn hex_digit(n: u8) -> u8 {
    b"0123456789ABCDEF"[usize::from(n)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_headers: 8,
        max_head_bytes: 4096,
        max_uri_bytes: 1024,
    };

    fn parsed(raw: &[u8]) -> Head {
        let (head, len) = parse(raw, &LIMITS).unwrap().unwrap();
        assert_eq!(len, raw.len());
        head
    }

    #[test]
    fn raw_bytes_in_the_target_are_percent_encoded_and_decode_back() {
        let head = parsed(b"PUT /v1/a/\xe2\x98\x83\xff{x} HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(head.uri.path(), "/v1/a/%E2%98%83%FF%7Bx%7D");
        assert_eq!(head.framing, Framing::Length(0));
        assert!(head.keep_alive);
    }

    #[test]
    fn partial_heads_wait_and_oversized_ones_are_refused() {
        assert!(parse(b"GET / HTTP/1.1\r\nHost:", &LIMITS)
            .unwrap()
            .is_none());
        let long = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 5000]].concat();
        assert_eq!(parse(&long, &LIMITS).unwrap_err(), HeadError::TooLarge);
        let many: Vec<u8> = [b"GET / HTTP/1.1\r\n".as_slice()]
            .into_iter()
            .chain(std::iter::repeat_n(b"X: y\r\n".as_slice(), 9))
            .chain([b"\r\n".as_slice()])
            .flatten()
            .copied()
            .collect();
        assert_eq!(parse(&many, &LIMITS).unwrap_err(), HeadError::TooLarge);
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let h = parsed(b"PUT / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(5));
        let h = parsed(b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        assert!(h.keep_alive);
        let h =
            parsed(b"PUT / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        assert!(!h.keep_alive && h.headers.get("content-length").is_none());
        for bad in [
            &b"PUT / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"[..],
            b"PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            b"PUT / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad, &LIMITS), Err(HeadError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn keep_alive_and_expect() {
        assert!(!parsed(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(parsed(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!parsed(b"GET / HTTP/1.1\r\nConnection: te, close\r\n\r\n").keep_alive);
        assert!(parsed(b"PUT / HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n").expect_continue);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_or_fail_without_panicking(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse(&raw, &LIMITS);
        }
    }
}
