//! Transmission replies as values, and their encoding into an [`Outbox`]:
//! a queue of byte segments written with one vectored write, where headers
//! of consecutive replies share a segment and read data is never copied.

use super::options::floor_char_boundary;
use super::proto::*;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::IoSlice;

/// Read data at most this long is copied next to its header rather than
/// given its own segment: an iovec entry costs more than a short copy.
const INLINE_DATA_BYTES_MAX: usize = 512;

/// One reply, for the request with `cookie`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A simple reply; `data` only for a successful READ.
    Simple {
        cookie: u64,
        error: u32,
        data: Option<Bytes>,
    },
    /// A structured reply; the last chunk carries `NBD_REPLY_FLAG_DONE`.
    Structured { cookie: u64, chunks: Vec<Chunk> },
}

/// One structured reply chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// `NBD_REPLY_TYPE_NONE`: success with nothing to say.
    None,
    /// `NBD_REPLY_TYPE_OFFSET_DATA`; `data` is not empty.
    Data { offset: u64, data: Bytes },
    /// `NBD_REPLY_TYPE_OFFSET_HOLE`; `len` is not zero.
    Hole { offset: u64, len: u32 },
    /// `NBD_REPLY_TYPE_BLOCK_STATUS` for one context: (length, flags)
    /// descriptors, none of length zero.
    BlockStatus {
        context: u32,
        extents: Vec<(u32, u32)>,
    },
    /// `NBD_REPLY_TYPE_ERROR`; `error` is not zero.
    Error { error: u32, message: String },
}

impl Reply {
    /// A success with no payload.
    pub fn ok(cookie: u64) -> Reply {
        Reply::Simple {
            cookie,
            error: 0,
            data: None,
        }
    }

    /// An error: with structured replies, an error chunk carrying
    /// `message` for the human; otherwise a simple reply.
    pub fn error(cookie: u64, structured: bool, error: u32, message: String) -> Reply {
        if structured {
            Reply::Structured {
                cookie,
                chunks: vec![Chunk::Error { error, message }],
            }
        } else {
            Reply::Simple {
                cookie,
                error,
                data: None,
            }
        }
    }

    /// Appends the reply's bytes to `out`.
    pub fn encode(self, out: &mut Outbox) {
        match self {
            Reply::Simple {
                cookie,
                error,
                data,
            } => {
                put_simple_reply(&mut out.pending, cookie, error);
                if let Some(data) = data {
                    out.push_data(data);
                }
            }
            Reply::Structured { cookie, chunks } => {
                let last = chunks.len().saturating_sub(1);
                for (i, chunk) in chunks.into_iter().enumerate() {
                    let flags = if i == last { REPLY_FLAG_DONE } else { 0 };
                    chunk.encode(cookie, flags, out);
                }
            }
        }
    }
}

impl Chunk {
    fn encode(self, cookie: u64, flags: u16, out: &mut Outbox) {
        let h = &mut out.pending;
        match self {
            Chunk::None => put_chunk_header(h, flags, REPLY_TYPE_NONE, cookie, 0),
            Chunk::Data { offset, data } => {
                // READ lengths are capped at 32 MiB, so this fits.
                let len = (8 + data.len()) as u32;
                put_chunk_header(h, flags, REPLY_TYPE_OFFSET_DATA, cookie, len);
                h.put_u64(offset);
                out.push_data(data);
            }
            Chunk::Hole { offset, len } => {
                put_chunk_header(h, flags, REPLY_TYPE_OFFSET_HOLE, cookie, 12);
                h.put_u64(offset);
                h.put_u32(len);
            }
            Chunk::BlockStatus { context, extents } => {
                // At most `STATUS_EXTENTS_MAX` extents: about 8 MiB.
                let len = (4 + 8 * extents.len()) as u32;
                put_chunk_header(h, flags, REPLY_TYPE_BLOCK_STATUS, cookie, len);
                h.reserve(len as usize);
                h.put_u32(context);
                for (length, status) in extents {
                    h.put_u32(length);
                    h.put_u32(status);
                }
            }
            Chunk::Error { error, message } => {
                let msg = &message.as_bytes()[..floor_char_boundary(&message, STRING_BYTES_MAX)];
                put_chunk_header(h, flags, REPLY_TYPE_ERROR, cookie, 6 + msg.len() as u32);
                h.put_u32(error);
                h.put_u16(msg.len() as u16);
                h.put_slice(msg);
            }
        }
    }
}

/// Encoded replies waiting to be written: sealed segments, and the header
/// bytes still being gathered. As a [`Buf`] it yields the sealed segments,
/// several per `writev`.
#[derive(Debug, Default)]
pub struct Outbox {
    pending: BytesMut,
    sealed: VecDeque<Bytes>,
    sealed_bytes: usize,
}

impl Outbox {
    /// Makes everything encoded so far writable.
    pub fn seal(&mut self) {
        if !self.pending.is_empty() {
            let head = self.pending.split().freeze();
            self.push_sealed(head);
        }
    }

    fn push_data(&mut self, data: Bytes) {
        if data.len() <= INLINE_DATA_BYTES_MAX {
            self.pending.put_slice(&data);
        } else {
            self.seal();
            self.push_sealed(data);
        }
    }

    fn push_sealed(&mut self, b: Bytes) {
        self.sealed_bytes += b.len();
        self.sealed.push_back(b);
    }
}

impl Buf for Outbox {
    fn remaining(&self) -> usize {
        self.sealed_bytes
    }

    fn chunk(&self) -> &[u8] {
        self.sealed.front().map_or(&[], |b| b.as_ref())
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(
            cnt <= self.sealed_bytes,
            "advance past the end of the outbox"
        );
        self.sealed_bytes -= cnt;
        while cnt > 0 {
            let Some(front) = self.sealed.front_mut() else {
                break;
            };
            if cnt < front.len() {
                front.advance(cnt);
                break;
            }
            cnt -= front.len();
            self.sealed.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, b) in dst.iter_mut().zip(self.sealed.iter()) {
            *slot = IoSlice::new(b);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(replies: Vec<Reply>) -> Vec<u8> {
        let mut out = Outbox::default();
        for r in replies {
            r.encode(&mut out);
        }
        out.seal();
        let mut v = Vec::new();
        while out.has_remaining() {
            let c = out.chunk().to_vec();
            out.advance(c.len());
            v.extend(c);
        }
        v
    }

    #[test]
    fn simple_reply_with_data_is_header_then_data() {
        // Checks a READ's simple reply bytes, with data large enough to
        // get its own segment.
        let data = Bytes::from(vec![7u8; 4096]);
        let b = bytes_of(vec![Reply::Simple {
            cookie: 5,
            error: 0,
            data: Some(data),
        }]);
        assert_eq!(b.len(), 16 + 4096);
        assert_eq!(&b[..4], &SIMPLE_REPLY_MAGIC.to_be_bytes());
        assert_eq!(&b[8..16], &5u64.to_be_bytes());
        assert!(b[16..].iter().all(|&x| x == 7));
    }

    #[test]
    fn structured_chunks_have_done_only_on_the_last() {
        // Checks the chunk layouts of a hole + data read and the DONE flag.
        let b = bytes_of(vec![Reply::Structured {
            cookie: 1,
            chunks: vec![
                Chunk::Hole {
                    offset: 0,
                    len: 512,
                },
                Chunk::Data {
                    offset: 512,
                    data: Bytes::from_static(b"abc"),
                },
            ],
        }]);
        assert_eq!(b.len(), 20 + 12 + 20 + 8 + 3);
        assert_eq!(&b[4..6], &[0, 0]);
        assert_eq!(&b[6..8], &REPLY_TYPE_OFFSET_HOLE.to_be_bytes());
        assert_eq!(&b[28..32], &512u32.to_be_bytes());
        let second = &b[32..];
        assert_eq!(&second[4..6], &REPLY_FLAG_DONE.to_be_bytes());
        assert_eq!(&second[6..8], &REPLY_TYPE_OFFSET_DATA.to_be_bytes());
        assert_eq!(&second[16..20], &11u32.to_be_bytes());
        assert_eq!(&second[20..28], &512u64.to_be_bytes());
        assert_eq!(&second[28..], b"abc");
    }

    #[test]
    fn block_status_and_error_chunks() {
        // Checks the block status payload and an error chunk's message.
        let b = bytes_of(vec![
            Reply::Structured {
                cookie: 2,
                chunks: vec![Chunk::BlockStatus {
                    context: 1,
                    extents: vec![(4096, 0), (8192, 3)],
                }],
            },
            Reply::error(3, true, EINVAL, "bad".into()),
            Reply::error(4, false, EPERM, "ignored".into()),
        ]);
        assert_eq!(&b[16..20], &20u32.to_be_bytes());
        assert_eq!(
            &b[20..40],
            &[0, 0, 0, 1, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0, 0, 3]
        );
        let e = &b[40..];
        assert_eq!(&e[6..8], &REPLY_TYPE_ERROR.to_be_bytes());
        assert_eq!(&e[16..20], &9u32.to_be_bytes());
        assert_eq!(&e[20..29], b"\0\0\0\x16\0\x03bad");
        let s = &e[29..];
        assert_eq!(
            s,
            &[0x67, 0x44, 0x66, 0x98, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4]
        );
    }

    #[test]
    fn outbox_merges_headers_and_advances_across_segments() {
        // Checks that consecutive headers share one segment, that large
        // data is its own segment, and partial advances.
        let mut out = Outbox::default();
        Reply::ok(1).encode(&mut out);
        Reply::ok(2).encode(&mut out);
        Reply::Simple {
            cookie: 3,
            error: 0,
            data: Some(Bytes::from(vec![1u8; 1000])),
        }
        .encode(&mut out);
        Reply::ok(4).encode(&mut out);
        out.seal();
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(out.chunks_vectored(&mut slices), 3);
        assert_eq!(slices[0].len(), 48);
        assert_eq!(slices[1].len(), 1000);
        assert_eq!(slices[2].len(), 16);
        assert_eq!(out.remaining(), 1064);
        out.advance(50);
        assert_eq!(out.chunk().len(), 998);
        out.advance(998 + 10);
        assert_eq!(out.chunk().len(), 6);
        out.advance(6);
        assert!(!out.has_remaining());
    }
}
