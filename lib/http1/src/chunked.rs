//! The chunked transfer coding of request bodies (RFC 9112 §7.1), decoded
//! without I/O: the decoder takes what it can from a buffer and says when it
//! needs more. It consumes only whole pieces (a whole size line, a whole
//! CRLF), so its state is valid between any two calls; a body dropped half
//! read can still be drained to the end of its message.
//!
//! Chunk extensions are skipped; trailer fields are read and dropped.

use bytes::{Bytes, BytesMut};
use thiserror::Error;

/// Longest chunk-size line (size, extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;
/// Most bytes of trailer fields accepted after the last chunk.
const MAX_TRAILERS: usize = 64 * 1024;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ChunkError {
    #[error("invalid chunk size line")]
    BadSize,
    #[error("chunk data not followed by CRLF")]
    MissingCrlf,
    #[error("chunk size or trailer line too long")]
    LineTooLong,
    #[error("trailer fields too large")]
    TrailersTooLarge,
}

/// What one decoding step produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Body bytes.
    Data(Bytes),
    /// The buffer holds no complete piece; read more.
    NeedMore,
    /// The body ended (last chunk and trailers consumed).
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers { seen: usize },
    Done,
}

/// Decoder state of one chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder { state: State::Size }
    }
}

impl Decoder {
    /// Whether the whole body has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Takes the next piece from the front of `buf`.
    pub fn step(&mut self, buf: &mut BytesMut) -> Result<Step, ChunkError> {
        loop {
            match self.state {
                State::Done => return Ok(Step::Done),
                State::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::NeedMore);
                    };
                    let size = parse_size(&line)?;
                    self.state = if size == 0 {
                        State::Trailers { seen: 0 }
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let data = buf.split_to(n).freeze();
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    return Ok(Step::Data(data));
                }
                State::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(ChunkError::MissingCrlf);
                    }
                    let _ = buf.split_to(2);
                    self.state = State::Size;
                }
                State::Trailers { seen } => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::NeedMore);
                    };
                    if line.is_empty() {
                        self.state = State::Done;
                    } else {
                        let seen = seen + line.len();
                        if seen > MAX_TRAILERS {
                            return Err(ChunkError::TrailersTooLarge);
                        }
                        self.state = State::Trailers { seen };
                    }
                }
            }
        }
    }
}

/// Removes one CRLF-terminated line from the front of `buf`, without its
/// CRLF; `None` if no whole line is there yet.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, ChunkError> {
    match memchr::memchr(b'\n', buf) {
        Some(i) if i > MAX_LINE => Err(ChunkError::LineTooLong),
        Some(i) => {
            let mut line = buf.split_to(i + 1);
            line.truncate(i);
            if line.last() != Some(&b'\r') {
                return Err(ChunkError::BadSize);
            }
            line.truncate(i - 1);
            Ok(Some(line))
        }
        None if buf.len() > MAX_LINE => Err(ChunkError::LineTooLong),
        None => Ok(None),
    }
}

/// The hex size at the start of a chunk-size line; extensions after `;`
/// (and whitespace before them) are ignored.
fn parse_size(line: &[u8]) -> Result<u64, ChunkError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = &line[digits..];
    if digits == 0
        || digits > 16
        || !(rest.is_empty() || matches!(rest.trim_ascii_start().first(), Some(b';')))
    {
        return Err(ChunkError::BadSize);
    }
    Ok(line[..digits].iter().fold(0u64, |n, d| {
        // Hex digits were checked above; at most 16 of them fit in u64.
        n << 4 | u64::from((*d as char).to_digit(16).unwrap_or(0))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `wire` fed in pieces of the given sizes.
    fn decode(wire: &[u8], cuts: &[usize]) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut fed = 0;
        let mut cuts = cuts.iter().copied().cycle();
        loop {
            match decoder.step(&mut buf)? {
                Step::Data(d) => body.extend_from_slice(&d),
                Step::Done => return Ok((body, fed - buf.len())),
                Step::NeedMore => {
                    assert!(fed < wire.len(), "decoder wants more than the message");
                    let n = cuts.next().unwrap_or(1).max(1).min(wire.len() - fed);
                    buf.extend_from_slice(&wire[fed..fed + n]);
                    fed += n;
                }
            }
        }
    }

    #[test]
    fn extensions_and_trailers_are_skipped() {
        let wire = b"5;name=value\r\nhello\r\n6 ; x\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\nNEXT";
        let (body, used) = decode(wire, &[7]).unwrap();
        assert_eq!(body, b"hello world");
        assert_eq!(&wire[used..], b"NEXT");
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert_eq!(decode(b"zz\r\n", &[64]), Err(ChunkError::BadSize));
        assert_eq!(decode(b"5\r\nhelloXX", &[64]), Err(ChunkError::MissingCrlf));
        assert_eq!(decode(b"5\nhello", &[64]), Err(ChunkError::BadSize));
        assert_eq!(
            decode(b"11111111111111111\r\n", &[64]),
            Err(ChunkError::BadSize)
        );
        let long = [&[b'1'; 1][..], &[b' '; MAX_LINE + 10]].concat();
        assert_eq!(decode(&long, &[64]), Err(ChunkError::LineTooLong));
    }

    fn encode(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut wire = Vec::new();
        for c in chunks.iter().filter(|c| !c.is_empty()) {
            wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            wire.extend_from_slice(c);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        wire
    }

    proptest! {
        #[test]
        fn any_split_decodes_to_the_same_body(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..8),
            cuts in proptest::collection::vec(1usize..50, 1..8),
        ) {
            let wire = encode(&chunks);
            let (body, used) = decode(&wire, &cuts).unwrap();
            prop_assert_eq!(body, chunks.concat());
            prop_assert_eq!(used, wire.len());
        }

        #[test]
        fn arbitrary_bytes_never_panic(wire in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut decoder = Decoder::default();
            let mut buf = BytesMut::from(&wire[..]);
            while let Ok(Step::Data(_)) = decoder.step(&mut buf) {}
        }
    }
}
