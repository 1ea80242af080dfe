//! The `aws-chunked` body of streaming uploads: `hex-size;chunk-signature=sig
//! CRLF data CRLF` chunks ending in a 0-size chunk, then optional trailers
//! (a checksum and, when signed, `x-amz-trailer-signature`) and a CRLF.
//!
//! [`ChunkDecoder`] is the sans-IO state machine: bytes in, verified data
//! out. Each chunk's signature chains from the previous one (the first from
//! the request's seed signature) and is checked, in constant time, before a
//! byte of that chunk is released. [`decode`] drives it over a body stream.
//! A hostile client cannot make it buffer more than one chunk
//! ([`CHUNK_BYTES_MAX`]) plus one line ([`CHUNK_LINE_BYTES_MAX`]) plus the
//! frame just received.

use super::canonical::{hmac_sha256, sha256_hex, EMPTY_SHA256_HEX};
use super::checksum::{ChecksumAlgorithm, ChecksumHasher};
use super::error::{from_body_error, AuthError};
use super::signed::{Payload, Verified};
use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::HeaderMap;
use std::fmt::Display;
use std::pin::Pin;
use subtle::ConstantTimeEq;

/// Largest chunk accepted (its data is buffered whole until its signature is checked).
pub const CHUNK_BYTES_MAX: usize = 16 << 20;
/// Longest chunk header or trailer line, CRLF excluded.
pub const CHUNK_LINE_BYTES_MAX: usize = 4096;
/// Largest trailer section (every line after the final chunk, CRLFs included).
pub const TRAILER_BYTES_MAX: usize = 4096;

const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

/// What chunk signatures chain from: the verified request's signing key,
/// scope, timestamp and signature.
#[derive(Clone, PartialEq, Eq)]
pub struct ChunkSigning {
    pub key: [u8; 32],
    pub scope: String,
    pub timestamp: String,
    pub seed: [u8; 32],
}

impl std::fmt::Debug for ChunkSigning {
    // The signing key is a secret for the day: never in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkSigning")
            .field("scope", &self.scope)
            .field("timestamp", &self.timestamp)
            .field("seed", &hex::encode(self.seed))
            .finish_non_exhaustive()
    }
}

/// How an `aws-chunked` body is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkMode {
    /// Chunk (and trailer) signatures to verify; `None` for
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`, whose chunks carry none.
    pub signing: Option<ChunkSigning>,
    /// The checksum trailer announced by `x-amz-trailer`, verified against
    /// the decoded data; `None`: no trailer may follow the final chunk.
    pub trailer: Option<ChecksumAlgorithm>,
}

impl ChunkMode {
    /// How a verified request's body is framed: `None` unless its payload
    /// is streaming. Signed chunks need SigV4's signing material: a SigV2
    /// request announcing them is refused.
    pub fn for_request(
        verified: &Verified,
        headers: &HeaderMap,
    ) -> Result<Option<ChunkMode>, AuthError> {
        let trailer = trailer_header(headers)?;
        Ok(match verified.payload {
            Payload::Unsigned | Payload::Sha256(_) => None,
            Payload::StreamingSigned if trailer.is_some() => {
                return Err(AuthError::UnsupportedTrailer)
            }
            Payload::StreamingSigned | Payload::StreamingSignedTrailer => {
                let signing = verified
                    .chunk_signing
                    .clone()
                    .ok_or(AuthError::StreamingNeedsSigV4)?;
                Some(ChunkMode {
                    signing: Some(signing),
                    trailer,
                })
            }
            Payload::StreamingUnsignedTrailer => Some(ChunkMode {
                signing: None,
                trailer,
            }),
        })
    }
}

/// `x-amz-trailer`: the one checksum header the trailer will carry.
pub fn trailer_header(headers: &HeaderMap) -> Result<Option<ChecksumAlgorithm>, AuthError> {
    let mut values = headers.get_all("x-amz-trailer").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::UnsupportedTrailer);
    }
    let name = value.to_str().map_err(|_| AuthError::UnsupportedTrailer)?;
    ChecksumAlgorithm::from_header_name(name.trim())
        .map(Some)
        .ok_or(AuthError::UnsupportedTrailer)
}

/// `x-amz-decoded-content-length`: the object's size once decoded.
pub fn decoded_content_length(headers: &HeaderMap) -> Result<Option<u64>, AuthError> {
    let Some(value) = headers.get("x-amz-decoded-content-length") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| AuthError::InvalidDecodedContentLength)?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::InvalidDecodedContentLength);
    }
    text.parse()
        .map(Some)
        .map_err(|_| AuthError::InvalidDecodedContentLength)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk line: `hex-size[;chunk-signature=sig]`.
    Header,
    /// Inside a chunk's data, `remaining` bytes to go; a signed chunk is
    /// released whole, once its signature is checked.
    Data {
        remaining: usize,
        signature: Option<[u8; 32]>,
    },
    /// Expecting the CRLF that closes a chunk's data.
    DataEnd,
    /// After the final chunk: trailer lines up to a blank line.
    Trailer,
    /// Complete and checked; any further byte is an error.
    Done,
}

/// What the trailer section said so far.
#[derive(Debug, Default)]
struct Trailers {
    /// The announced checksum's value, as sent.
    value: Option<Vec<u8>>,
    signature: Option<[u8; 32]>,
    bytes: usize,
    blank_skipped: bool,
}

/// The sans-IO `aws-chunked` decoder: [`feed`](Self::feed) it the body's
/// bytes, take verified data from [`next_data`](Self::next_data) until it
/// answers `Ok(None)`, and call [`finish`](Self::finish) at the body's end.
pub struct ChunkDecoder {
    signing: Option<ChunkSigning>,
    /// The signature the next chunk's (or the trailer's) chains from.
    previous: [u8; 32],
    trailer: Option<ChecksumAlgorithm>,
    hasher: Option<ChecksumHasher>,
    decoded_len: Option<u64>,
    decoded_bytes: u64,
    buf: BytesMut,
    state: State,
    trailers: Trailers,
}

impl ChunkDecoder {
    /// A decoder for a body of `decoded_len` bytes once decoded, if known.
    pub fn new(mode: ChunkMode, decoded_len: Option<u64>) -> ChunkDecoder {
        ChunkDecoder {
            previous: mode.signing.as_ref().map_or([0; 32], |s| s.seed),
            hasher: mode.trailer.map(ChecksumHasher::new),
            signing: mode.signing,
            trailer: mode.trailer,
            decoded_len,
            decoded_bytes: 0,
            buf: BytesMut::new(),
            state: State::Header,
            trailers: Trailers::default(),
        }
    }

    /// Appends bytes received from the client. Feed only after `next_data`
    /// answered `Ok(None)`, so at most one chunk is ever buffered.
    pub fn feed(&mut self, input: &[u8]) {
        self.buf.extend_from_slice(input);
    }

    /// The next run of verified data; `Ok(None)` when more input is needed
    /// (or the body is complete). After an error the decoder is unusable.
    pub fn next_data(&mut self) -> Result<Option<Bytes>, AuthError> {
        loop {
            match self.state {
                State::Header => {
                    let Some(line) = self.take_line()? else {
                        return Ok(None);
                    };
                    self.start_chunk(&line)?;
                }
                State::Data {
                    remaining,
                    signature,
                } => return self.take_data(remaining, signature),
                State::DataEnd => {
                    if self.buf.len() < 2 {
                        return Ok(None);
                    }
                    if self.buf[..2] != *b"\r\n" {
                        return Err(AuthError::MalformedChunk("chunk data not followed by CRLF"));
                    }
                    self.buf.advance(2);
                    self.state = State::Header;
                }
                State::Trailer => {
                    let Some(line) = self.take_line()? else {
                        return Ok(None);
                    };
                    self.trailer_line(&line)?;
                }
                State::Done if self.buf.is_empty() => return Ok(None),
                State::Done => return Err(AuthError::MalformedChunk("data after the final chunk")),
            }
        }
    }

    /// At the end of the body: `Ok` only if it was complete and every check
    /// passed. A trailer section may lack its closing blank line, as some
    /// clients send it.
    pub fn finish(&mut self) -> Result<(), AuthError> {
        match self.state {
            State::Done if self.buf.is_empty() => Ok(()),
            State::Done => Err(AuthError::MalformedChunk("data after the final chunk")),
            State::Trailer if self.buf.is_empty() && self.trailers_complete() => {
                self.finish_trailers()
            }
            _ => Err(AuthError::IncompleteBody),
        }
    }

    /// A line ending in CRLF, without it; `None` until one has arrived.
    fn take_line(&mut self) -> Result<Option<BytesMut>, AuthError> {
        let window = &self.buf[..self.buf.len().min(CHUNK_LINE_BYTES_MAX + 2)];
        match window.windows(2).position(|w| w == b"\r\n") {
            Some(end) => {
                let line = self.buf.split_to(end);
                self.buf.advance(2);
                Ok(Some(line))
            }
            None if window.len() == CHUNK_LINE_BYTES_MAX + 2 => {
                Err(AuthError::MalformedChunk("line longer than 4 KiB"))
            }
            None => Ok(None),
        }
    }

    fn start_chunk(&mut self, line: &[u8]) -> Result<(), AuthError> {
        let (size, signature) = parse_chunk_line(line, self.signing.is_some())?;
        let decoded = self.decoded_bytes + size as u64;
        if self.decoded_len.is_some_and(|len| decoded > len) {
            return Err(AuthError::IncompleteBody);
        }
        if size > 0 {
            self.state = State::Data {
                remaining: size,
                signature,
            };
            return Ok(());
        }
        if let Some(signature) = signature {
            self.check_chunk_signature(&[], signature)?;
        }
        self.state = State::Trailer;
        Ok(())
    }

    /// Releases data: a signed chunk whole once verified, unsigned data as it comes.
    fn take_data(
        &mut self,
        remaining: usize,
        signature: Option<[u8; 32]>,
    ) -> Result<Option<Bytes>, AuthError> {
        let available = self.buf.len().min(remaining);
        // A signed chunk waits until whole; the buffer grows as its bytes
        // arrive rather than up front, so a claimed size alone costs nothing.
        if available == 0 || (signature.is_some() && available < remaining) {
            return Ok(None);
        }
        let data = self.buf.split_to(available).freeze();
        if let Some(signature) = signature {
            self.check_chunk_signature(&data, signature)?;
        }
        self.state = match remaining - available {
            0 => State::DataEnd,
            left => State::Data {
                remaining: left,
                signature,
            },
        };
        self.decoded_bytes += data.len() as u64;
        if let Some(h) = &mut self.hasher {
            h.update(&data);
        }
        Ok(Some(data))
    }

    /// `AWS4-HMAC-SHA256-PAYLOAD \n time \n scope \n previous \n sha256("") \n sha256(data)`.
    fn check_chunk_signature(&mut self, data: &[u8], provided: [u8; 32]) -> Result<(), AuthError> {
        let hashes = format!("{EMPTY_SHA256_HEX}\n{}", sha256_hex(data));
        self.check_signature("AWS4-HMAC-SHA256-PAYLOAD", &hashes, provided)
    }

    /// Checks one link of the signature chain and advances it.
    fn check_signature(
        &mut self,
        algorithm: &str,
        hashes: &str,
        provided: [u8; 32],
    ) -> Result<(), AuthError> {
        let Some(s) = &self.signing else {
            return Err(AuthError::MalformedChunk("signature in an unsigned body"));
        };
        let sts = format!(
            "{algorithm}\n{}\n{}\n{}\n{hashes}",
            s.timestamp,
            s.scope,
            hex::encode(self.previous)
        );
        let expected = hmac_sha256(&s.key, sts.as_bytes());
        if !bool::from(expected.ct_eq(&provided)) {
            return Err(AuthError::SignatureDoesNotMatch);
        }
        self.previous = provided;
        Ok(())
    }

    fn trailer_line(&mut self, line: &[u8]) -> Result<(), AuthError> {
        self.trailers.bytes += line.len() + 2;
        if self.trailers.bytes > TRAILER_BYTES_MAX {
            return Err(AuthError::MalformedChunk(
                "trailer section larger than 4 KiB",
            ));
        }
        let Some(algorithm) = self.trailer else {
            if line.is_empty() {
                return self.finish_trailers();
            }
            return Err(AuthError::MalformedChunk(
                "a trailer that x-amz-trailer did not announce",
            ));
        };
        if line.is_empty() {
            let nothing_yet = self.trailers.value.is_none() && self.trailers.signature.is_none();
            if nothing_yet && !self.trailers.blank_skipped {
                // Some clients send a blank line between the final chunk and the trailers.
                self.trailers.blank_skipped = true;
                return Ok(());
            }
            return self.finish_trailers();
        }
        let colon = line.iter().position(|&b| b == b':');
        let Some(colon) = colon else {
            return Err(AuthError::MalformedChunk("trailer line without ':'"));
        };
        let (name, value) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(TRAILER_SIGNATURE.as_bytes()) && self.signing.is_some() {
            let signature = parse_hex32(value).ok_or(AuthError::MalformedChunk(
                "x-amz-trailer-signature is not 64 hex digits",
            ))?;
            if self.trailers.signature.replace(signature).is_some() {
                return Err(AuthError::MalformedChunk("x-amz-trailer-signature twice"));
            }
            return Ok(());
        }
        if !name.eq_ignore_ascii_case(algorithm.header_name().as_bytes()) {
            return Err(AuthError::MalformedChunk(
                "a trailer that x-amz-trailer did not announce",
            ));
        }
        if self.trailers.value.is_some() || self.trailers.signature.is_some() {
            return Err(AuthError::MalformedChunk(
                "the trailer repeated, or after its signature",
            ));
        }
        self.trailers.value = Some(value.to_vec());
        Ok(())
    }

    /// Whether everything the trailer section must hold has arrived.
    fn trailers_complete(&self) -> bool {
        self.trailer.is_some()
            && self.trailers.value.is_some()
            && (self.signing.is_none() || self.trailers.signature.is_some())
    }

    /// The body is whole: check its length, the trailer's signature and its checksum.
    fn finish_trailers(&mut self) -> Result<(), AuthError> {
        if self
            .decoded_len
            .is_some_and(|len| len != self.decoded_bytes)
        {
            return Err(AuthError::IncompleteBody);
        }
        if let Some(algorithm) = self.trailer {
            if !self.trailers_complete() {
                return Err(AuthError::MalformedChunk(
                    "the trailer named by x-amz-trailer is missing",
                ));
            }
            let value = self.trailers.value.take().unwrap_or_default();
            if let Some(signature) = self.trailers.signature {
                let mut canonical = format!("{}:", algorithm.header_name()).into_bytes();
                canonical.extend_from_slice(&value);
                canonical.push(b'\n');
                self.check_signature(
                    "AWS4-HMAC-SHA256-TRAILER",
                    &sha256_hex(&canonical),
                    signature,
                )?;
            }
            let want = algorithm.parse_value(&value)?;
            let got = self
                .hasher
                .take()
                .map(ChecksumHasher::finish)
                .unwrap_or_default();
            if !bool::from(got.ct_eq(&want)) {
                return Err(AuthError::ChecksumMismatch(algorithm));
            }
        }
        self.state = State::Done;
        Ok(())
    }
}

/// `hex-size` then, exactly when `signed`, `;chunk-signature=<64 hex>`.
fn parse_chunk_line(line: &[u8], signed: bool) -> Result<(usize, Option<[u8; 32]>), AuthError> {
    let (size_hex, extension) = match line.iter().position(|&b| b == b';') {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    if size_hex.is_empty() || size_hex.len() > 8 || !size_hex.iter().all(u8::is_ascii_hexdigit) {
        return Err(AuthError::MalformedChunk("chunk size is not hexadecimal"));
    }
    // At most 8 hex digits: fits a u32, so the fold cannot overflow.
    let size = size_hex.iter().fold(0usize, |n, &d| n * 16 + hex_value(d));
    if size > CHUNK_BYTES_MAX {
        return Err(AuthError::MalformedChunk("chunk larger than 16 MiB"));
    }
    let signature = match (signed, extension) {
        (true, Some(ext)) => Some(
            ext.strip_prefix(b"chunk-signature=")
                .and_then(parse_hex32)
                .ok_or(AuthError::MalformedChunk(
                    "chunk-signature is not 64 hex digits",
                ))?,
        ),
        (true, None) => return Err(AuthError::MalformedChunk("chunk without chunk-signature")),
        (false, None) => None,
        (false, Some(_)) => {
            return Err(AuthError::MalformedChunk(
                "chunk extension in an unsigned body",
            ))
        }
    };
    Ok((size, signature))
}

fn hex_value(digit: u8) -> usize {
    usize::from(match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    })
}

fn parse_hex32(text: &[u8]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// Decodes an `aws-chunked` body, yielding each chunk's data once verified.
/// The stream ends with an error, never cleanly, if anything is wrong:
/// a signature, the framing, the decoded length (`IncompleteBody`), the
/// trailer's checksum (`BadDigest`). An error of `body` itself ends it as
/// [`AuthError::ClientDisconnect`] (an `AuthError` passes through as it is).
pub fn decode<S, E>(
    body: S,
    mode: ChunkMode,
    decoded_len: Option<u64>,
) -> impl Stream<Item = Result<Bytes, AuthError>>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Display + 'static,
{
    struct DecodeState<S> {
        body: Pin<Box<S>>,
        decoder: ChunkDecoder,
        done: bool,
    }
    let state = DecodeState {
        body: Box::pin(body),
        decoder: ChunkDecoder::new(mode, decoded_len),
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let failure = match st.decoder.next_data() {
                Ok(Some(data)) => return Some((Ok(data), st)),
                Ok(None) => match st.body.next().await {
                    Some(Ok(input)) => {
                        st.decoder.feed(&input);
                        continue;
                    }
                    Some(Err(e)) => from_body_error(e),
                    None => match st.decoder.finish() {
                        Ok(()) => return None,
                        Err(e) => e,
                    },
                },
                Err(e) => e,
            };
            st.done = true;
            return Some((Err(failure), st));
        }
    })
}

#[cfg(test)]
mod tests;
