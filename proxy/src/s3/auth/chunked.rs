//! The `aws-chunked` body of streaming uploads: `hex-size;chunk-signature=sig
//! CRLF data CRLF` chunks ending in a 0-size chunk, then the trailers
//! (a checksum and, when signed, `x-amz-trailer-signature`) up to a blank
//! line, or else an optional CRLF.
//!
//! [`ChunkDecoder`] is the sans-IO state machine: bytes in, verified data
//! out. Each chunk's signature chains from the previous one (the first from
//! the request's seed signature) and is checked, in constant time, before a
//! byte of that chunk is released. [`decode`] drives it over a body stream.
//! A hostile client cannot make it buffer more than one chunk
//! ([`CHUNK_BYTES_MAX`]) plus one line ([`CHUNK_LINE_BYTES_MAX`]) plus the
//! frame just received.
//!
//! What it tolerates and refuses is S3's, as Swift's s3api reproduces it:
//! spaces around the size and the signature, any extension on an unsigned
//! chunk, a missing CRLF at the very end, a later trailer value replacing
//! an earlier one, and anything after the trailers' blank line (read and
//! dropped); chunks but the last two smaller than [`CHUNK_BYTES_MIN`] are
//! refused, and so is a body whose chunks hold other than
//! `x-amz-decoded-content-length` bytes.

use super::canonical::{hmac_sha256, sha256_hex, EMPTY_SHA256_HEX};
use super::checksum::{ChecksumAlgorithm, ChecksumHasher};
use super::error::{from_body_error, AuthError, SignatureMismatch};
use super::signed::{Payload, Verified};
use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::HeaderMap;
use std::fmt::Display;
use std::pin::Pin;
use subtle::ConstantTimeEq;

/// Largest chunk accepted (its data is buffered whole until its signature is checked).
pub const CHUNK_BYTES_MAX: usize = 16 << 20;
/// Smallest chunk AWS accepts but for the last one with data and the final, empty one.
pub const CHUNK_BYTES_MIN: usize = 8192;
/// Longest chunk header or trailer line, CRLF excluded.
pub const CHUNK_LINE_BYTES_MAX: usize = 4096;
/// Largest trailer section (every line after the final chunk, CRLFs included).
pub const TRAILER_BYTES_MAX: usize = 4096;

const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";
const CHUNK_SIGNATURE: &str = "chunk-signature";

/// What chunk signatures chain from: the verified request's signing key,
/// scope, timestamp and signature, and what a mismatch answer shows.
#[derive(Clone, PartialEq, Eq)]
pub struct ChunkSigning {
    pub key: [u8; 32],
    pub scope: String,
    pub timestamp: String,
    pub seed: [u8; 32],
    pub access_key: String,
    /// The request's canonical request, for a SignatureDoesNotMatch answer.
    pub canonical_request: String,
}

impl std::fmt::Debug for ChunkSigning {
    // The signing key is a secret for the day: never in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkSigning")
            .field("scope", &self.scope)
            .field("timestamp", &self.timestamp)
            .field("seed", &hex::encode(self.seed))
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// How an `aws-chunked` body is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkMode {
    /// Chunk signatures to verify; `None` for
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`, whose chunks carry none.
    pub signing: Option<ChunkSigning>,
    /// The checksum trailer announced by `x-amz-trailer`, verified against
    /// the decoded data.
    pub trailer: Option<ChecksumAlgorithm>,
    /// Whether `x-amz-trailer-signature` must follow (and sign) the trailers.
    pub trailer_signature: bool,
}

impl ChunkMode {
    /// How a verified request's body is framed, given the checksum trailer
    /// its headers announce: `None` unless its payload is streaming. A
    /// trailer announced for a body that cannot have one is refused.
    pub fn for_request(
        verified: &Verified,
        trailer: Option<ChecksumAlgorithm>,
    ) -> Result<Option<ChunkMode>, AuthError> {
        let signed = |trailer_signature| -> Result<Option<ChunkMode>, AuthError> {
            let signing = verified
                .chunk_signing
                .clone()
                .ok_or(AuthError::StreamingNeedsSigV4)?;
            Ok(Some(ChunkMode {
                signing: Some(signing),
                trailer,
                trailer_signature,
            }))
        };
        match verified.payload {
            // A body never decoded (the claim fails at its end) has no trailers to refuse.
            Payload::Unmatchable { streaming: true } => Ok(None),
            Payload::Unsigned | Payload::Sha256(_) | Payload::Unmatchable { .. } => match trailer {
                Some(_) => Err(AuthError::MalformedTrailer),
                None => Ok(None),
            },
            Payload::StreamingSigned => signed(false),
            Payload::StreamingSignedTrailer => signed(true),
            Payload::StreamingUnsignedTrailer => Ok(Some(ChunkMode {
                signing: None,
                trailer,
                trailer_signature: false,
            })),
        }
    }

    fn expects_trailers(&self) -> bool {
        self.trailer.is_some() || self.trailer_signature
    }
}

/// `x-amz-decoded-content-length`: the object's size once decoded. A
/// streaming upload must send it (as a number, or S3 asks for a length).
pub fn decoded_content_length(headers: &HeaderMap) -> Result<u64, AuthError> {
    let text = headers
        .get("x-amz-decoded-content-length")
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthError::MissingDecodedContentLength)?;
    let n: i64 = text
        .trim()
        .parse()
        .map_err(|_| AuthError::MissingDecodedContentLength)?;
    u64::try_from(n).map_err(|_| AuthError::InvalidDecodedContentLength)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk line: `hex-size[;chunk-signature=sig]`.
    Header,
    /// Inside a chunk's data, `remaining` bytes to go; a signed chunk is
    /// released whole, once its signature is checked.
    Data { remaining: usize, signed: bool },
    /// Expecting the CRLF that closes a chunk's data.
    DataEnd,
    /// After the final chunk, trailers announced: lines up to a blank one.
    Trailers,
    /// After the final chunk, no trailers: a CRLF, or the body's end.
    FinalCrlf,
    /// Complete and checked; anything further is dropped.
    Done,
}

/// The trailers received so far.
#[derive(Debug, Default)]
struct Trailers {
    /// The checksum trailer: its name as sent and its value.
    checksum: Option<(String, Vec<u8>)>,
    signature: Option<String>,
    bytes: usize,
}

/// The sans-IO `aws-chunked` decoder: [`feed`](Self::feed) it the body's
/// bytes, take verified data from [`next_data`](Self::next_data) until it
/// answers `Ok(None)`, and call [`finish`](Self::finish) at the body's end.
pub struct ChunkDecoder {
    mode: ChunkMode,
    /// The signature the next chunk's (or the trailer's) chains from.
    previous: [u8; 32],
    /// The current chunk's signature as sent, and as bytes if it is 64 hex digits.
    provided: (String, Option<[u8; 32]>),
    hasher: Option<ChecksumHasher>,
    decoded_len: u64,
    decoded_bytes: u64,
    /// Chunks begun, counting from 1, and the size of the last one.
    chunks: u64,
    last_chunk_bytes: Option<usize>,
    buf: BytesMut,
    state: State,
    trailers: Trailers,
}

impl ChunkDecoder {
    /// A decoder for a body of `decoded_len` bytes once decoded.
    pub fn new(mode: ChunkMode, decoded_len: u64) -> ChunkDecoder {
        ChunkDecoder {
            previous: mode.signing.as_ref().map_or([0; 32], |s| s.seed),
            provided: (String::new(), None),
            hasher: mode.trailer.map(ChecksumHasher::new),
            mode,
            decoded_len,
            decoded_bytes: 0,
            chunks: 0,
            last_chunk_bytes: None,
            buf: BytesMut::new(),
            state: State::Header,
            trailers: Trailers::default(),
        }
    }

    /// Appends bytes received from the client (dropped once the body is
    /// complete). Feed only after `next_data` answered `Ok(None)`, so at most
    /// one chunk is ever buffered.
    pub fn feed(&mut self, input: &[u8]) {
        if self.state != State::Done {
            self.buf.extend_from_slice(input);
        }
    }

    /// The next run of verified data; `Ok(None)` when more input is needed
    /// (or the body is complete). After an error the decoder is unusable.
    pub fn next_data(&mut self) -> Result<Option<Bytes>, AuthError> {
        loop {
            match self.state {
                State::Header => {
                    let Some(line) = self.take_line(CHUNK_LINE_BYTES_MAX)? else {
                        return Ok(None);
                    };
                    self.start_chunk(&line)?;
                }
                State::Data { remaining, signed } => return self.take_data(remaining, signed),
                State::DataEnd => {
                    if self.buf.len() < 2 {
                        return Ok(None);
                    }
                    if self.buf[..2] != *b"\r\n" {
                        return Err(AuthError::IncompleteBody);
                    }
                    self.buf.advance(2);
                    self.state = State::Header;
                }
                State::Trailers => {
                    // A line and its CRLF must fit in what is left of the section.
                    let room = TRAILER_BYTES_MAX.saturating_sub(self.trailers.bytes + 2);
                    let Some(line) = self.take_line(room.min(CHUNK_LINE_BYTES_MAX))? else {
                        return Ok(None);
                    };
                    self.trailers.bytes += line.len() + 2;
                    if line.is_empty() {
                        self.finish_trailers()?;
                    } else {
                        self.trailer_line(&line)?;
                    }
                }
                State::FinalCrlf => match &self.buf[..] {
                    [] | [b'\r'] => return Ok(None),
                    [b'\r', b'\n', ..] => self.complete()?,
                    _ => return Err(AuthError::IncompleteBody),
                },
                State::Done => return Ok(None),
            }
        }
    }

    /// At the end of the body: `Ok` only if it was complete and every check
    /// passed. The trailers need not end with their blank line, nor a body
    /// without trailers with its last CRLF, as S3 accepts them.
    pub fn finish(&mut self) -> Result<(), AuthError> {
        match self.state {
            State::Done => Ok(()),
            State::FinalCrlf if self.buf.is_empty() => self.complete(),
            State::Trailers if self.buf.is_empty() => self.finish_trailers(),
            _ => Err(AuthError::IncompleteBody),
        }
    }

    /// A line ending in CRLF, without it; `None` until one has arrived. A
    /// line feed without its carriage return breaks the framing.
    fn take_line(&mut self, max: usize) -> Result<Option<BytesMut>, AuthError> {
        let window = &self.buf[..self.buf.len().min(max + 2)];
        match window.iter().position(|&b| b == b'\n') {
            Some(end) if end > 0 && window[end - 1] == b'\r' => {
                let line = self.buf.split_to(end - 1);
                self.buf.advance(2);
                Ok(Some(line))
            }
            Some(_) => Err(AuthError::IncompleteBody),
            None if window.len() == max + 2 => Err(AuthError::MalformedChunk(
                "line longer than 4 KiB, or trailers larger",
            )),
            None => Ok(None),
        }
    }

    fn start_chunk(&mut self, line: &[u8]) -> Result<(), AuthError> {
        self.chunks += 1;
        let (size_text, extension) = match line.iter().position(|&b| b == b';') {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        let size = parse_size(size_text)?;
        let too_small = self.last_chunk_bytes.filter(|&last| last < CHUNK_BYTES_MIN);
        if let (Some(last), true) = (too_small, size > 0) {
            return Err(AuthError::ChunkTooSmall {
                chunk: self.chunks,
                size: last as u64,
            });
        }
        self.last_chunk_bytes = Some(size);
        let announced = self.decoded_bytes + size as u64;
        if announced > self.decoded_len {
            return Err(AuthError::DecodedLengthMismatch {
                expected: self.decoded_len,
                provided: announced,
            });
        }
        let signed = self.mode.signing.is_some();
        if signed {
            self.read_chunk_signature(extension)?;
        }
        if size > 0 {
            self.state = State::Data {
                remaining: size,
                signed,
            };
            return Ok(());
        }
        if signed {
            self.check_chunk_signature(&[])?;
        }
        self.state = if self.mode.expects_trailers() {
            State::Trailers
        } else {
            State::FinalCrlf
        };
        Ok(())
    }

    /// `chunk-signature=<sig>`, spaces allowed around either part. Another
    /// extension in its place fails the signature; a second one after it,
    /// or no signature at all, breaks the framing.
    fn read_chunk_signature(&mut self, extension: Option<&[u8]>) -> Result<(), AuthError> {
        let Some(extension) = extension else {
            return Err(AuthError::IncompleteBody);
        };
        let (key, value) = match extension.iter().position(|&b| b == b'=') {
            Some(i) => (&extension[..i], &extension[i + 1..]),
            None => (extension, &[][..]),
        };
        if key.trim_ascii() != CHUNK_SIGNATURE.as_bytes() {
            self.provided = (String::from_utf8_lossy(extension).into_owned(), None);
            return Err(self.chunk_mismatch(&[]));
        }
        let value = value.trim_ascii();
        if value.is_empty() || value.contains(&b';') {
            return Err(AuthError::IncompleteBody);
        }
        let mut bytes = [0u8; 32];
        let parsed = hex::decode_to_slice(value, &mut bytes).ok().map(|()| bytes);
        self.provided = (String::from_utf8_lossy(value).into_owned(), parsed);
        Ok(())
    }

    /// Releases data: a signed chunk whole once verified, unsigned data as it comes.
    fn take_data(&mut self, remaining: usize, signed: bool) -> Result<Option<Bytes>, AuthError> {
        let available = self.buf.len().min(remaining);
        // A signed chunk waits until whole; the buffer grows as its bytes
        // arrive rather than up front, so a claimed size alone costs nothing.
        if available == 0 || (signed && available < remaining) {
            return Ok(None);
        }
        let data = self.buf.split_to(available).freeze();
        if signed {
            self.check_chunk_signature(&data)?;
        }
        self.state = match remaining - available {
            0 => State::DataEnd,
            left => State::Data {
                remaining: left,
                signed,
            },
        };
        self.decoded_bytes += data.len() as u64;
        if let Some(h) = &mut self.hasher {
            h.update(&data);
        }
        Ok(Some(data))
    }

    /// `AWS4-HMAC-SHA256-PAYLOAD \n time \n scope \n previous \n sha256("") \n sha256(data)`.
    fn check_chunk_signature(&mut self, data: &[u8]) -> Result<(), AuthError> {
        let sts = self.string_to_sign("AWS4-HMAC-SHA256-PAYLOAD", &chunk_hashes(data));
        self.check_signature(sts)
    }

    /// The string to sign of the next link of the chain.
    fn string_to_sign(&self, algorithm: &str, hashes: &str) -> String {
        let (timestamp, scope) = self
            .mode
            .signing
            .as_ref()
            .map_or(("", ""), |s| (s.timestamp.as_str(), s.scope.as_str()));
        format!(
            "{algorithm}\n{timestamp}\n{scope}\n{}\n{hashes}",
            hex::encode(self.previous)
        )
    }

    /// Checks the provided signature against `sts` and advances the chain.
    fn check_signature(&mut self, sts: String) -> Result<(), AuthError> {
        let Some(s) = &self.mode.signing else {
            return Err(AuthError::StreamingNeedsSigV4);
        };
        let expected = hmac_sha256(&s.key, sts.as_bytes());
        match self.provided.1 {
            Some(provided) if bool::from(expected.ct_eq(&provided)) => {
                self.previous = provided;
                Ok(())
            }
            _ => Err(self.mismatch(sts)),
        }
    }

    fn chunk_mismatch(&self, data: &[u8]) -> AuthError {
        self.mismatch(self.string_to_sign("AWS4-HMAC-SHA256-PAYLOAD", &chunk_hashes(data)))
    }

    fn mismatch(&self, string_to_sign: String) -> AuthError {
        let signing = self.mode.signing.as_ref();
        AuthError::ChunkSignatureDoesNotMatch(Box::new(SignatureMismatch {
            access_key: signing.map(|s| s.access_key.clone()).unwrap_or_default(),
            string_to_sign,
            signature_provided: self.provided.0.clone(),
            canonical_request: signing
                .map(|s| s.canonical_request.clone())
                .unwrap_or_default(),
        }))
    }

    /// `name:value`: only the announced trailers; a repeated one replaces
    /// the earlier value.
    fn trailer_line(&mut self, line: &[u8]) -> Result<(), AuthError> {
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => (&line[..i], line[i + 1..].trim_ascii()),
            None => (line, &[][..]),
        };
        let is = |want: &str| name.eq_ignore_ascii_case(want.as_bytes());
        if self.mode.trailer_signature && is(TRAILER_SIGNATURE) {
            self.trailers.signature = Some(String::from_utf8_lossy(value).into_owned());
            return Ok(());
        }
        match self.mode.trailer {
            Some(algorithm) if is(algorithm.header_name()) => {
                let name = String::from_utf8_lossy(name.trim_ascii()).into_owned();
                self.trailers.checksum = Some((name, value.to_vec()));
                Ok(())
            }
            _ => Err(AuthError::MalformedTrailer),
        }
    }

    /// The trailers are complete: each announced one present, the signature
    /// (if any) verified, then the length and the checksum checked.
    fn finish_trailers(&mut self) -> Result<(), AuthError> {
        if self.mode.trailer_signature {
            let Some(signature) = self.trailers.signature.take() else {
                return Err(AuthError::IncompleteBody);
            };
            if self.mode.trailer.is_some() && self.trailers.checksum.is_none() {
                return Err(AuthError::MalformedTrailer);
            }
            let mut bytes = [0u8; 32];
            let parsed = hex::decode_to_slice(signature.trim(), &mut bytes)
                .ok()
                .map(|()| bytes);
            self.provided = (signature, parsed);
            let sts = self.string_to_sign("AWS4-HMAC-SHA256-TRAILER", &self.canonical_trailers());
            self.check_signature(sts)?;
            if self.trailers.checksum.is_none() {
                // A signed trailer section that signs nothing is incomplete.
                return Err(AuthError::IncompleteBody);
            }
        } else if self.trailers.checksum.is_none() {
            return Err(AuthError::MalformedTrailer);
        }
        self.complete()
    }

    /// sha256 of `name:value\n` for the checksum trailer (`\n` when none).
    fn canonical_trailers(&self) -> String {
        match &self.trailers.checksum {
            Some((name, value)) => {
                let mut canonical = format!("{name}:").into_bytes();
                canonical.extend_from_slice(value);
                canonical.push(b'\n');
                sha256_hex(&canonical)
            }
            None => sha256_hex(b"\n"),
        }
    }

    /// The final chunk and its trailers are in: the length must be the
    /// announced one, and the checksum trailer (if any) the data's.
    fn complete(&mut self) -> Result<(), AuthError> {
        if self.decoded_bytes != self.decoded_len {
            return Err(AuthError::DecodedLengthMismatch {
                expected: self.decoded_len,
                provided: self.decoded_bytes,
            });
        }
        if let (Some(algorithm), Some((_, value))) = (self.mode.trailer, &self.trailers.checksum) {
            let want = algorithm
                .parse_value(value)
                .map_err(|_| AuthError::InvalidTrailerChecksum(algorithm.header_name()))?;
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
        self.buf.clear();
        Ok(())
    }
}

/// `sha256("") \n sha256(data)`: the hashes a chunk's string to sign ends with.
fn chunk_hashes(data: &[u8]) -> String {
    format!("{EMPTY_SHA256_HEX}\n{}", sha256_hex(data))
}

/// A chunk size: hex digits, spaces around allowed; anything else (a sign,
/// nothing) breaks the framing.
fn parse_size(text: &[u8]) -> Result<usize, AuthError> {
    let digits = text.trim_ascii();
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(AuthError::IncompleteBody);
    }
    // At most 8 hex digits: fits a u32, so the fold cannot overflow.
    let size = digits.iter().fold(0usize, |n, &d| n * 16 + hex_value(d));
    if size > CHUNK_BYTES_MAX {
        return Err(AuthError::MalformedChunk("chunk larger than 16 MiB"));
    }
    Ok(size)
}

fn hex_value(digit: u8) -> usize {
    usize::from(match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    })
}

/// Decodes an `aws-chunked` body, yielding each chunk's data once verified.
/// The stream ends with an error, never cleanly, if anything is wrong:
/// a signature, the framing, the decoded length, the trailer's checksum
/// (`BadDigest`). Bytes after the complete body are read and dropped. An
/// error of `body` itself ends it as
/// [`AuthError::ClientDisconnect`] (an `AuthError` passes through as it is).
pub fn decode<S, E>(
    body: S,
    mode: ChunkMode,
    decoded_len: u64,
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
                // Past the end (never read, as S3 never reads it) the body
                // is still drained, so that the connection can carry the
                // next request.
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
