//! One io_uring operation: the SQE it becomes, and what its completion means
//! (continue a short read or write, retry `EAGAIN`/`EINTR`, or finish).
//!
//! An `Op` owns everything the kernel may touch (its buffer, a clone of the
//! file) for as long as it is in flight.

use crate::{AlignedBuf, DiskFile};
use io_uring::{opcode, squeue, types};
use std::io;
use tokio::sync::oneshot;

/// What a finished operation hands back.
pub(crate) enum Done {
    Read(Vec<u8>),
    Written(WriteBuf),
    Unit,
}

/// The buffer of a write: a plain one, or one aligned for `O_DIRECT`.
pub(crate) enum WriteBuf {
    Heap(Vec<u8>),
    Aligned(AlignedBuf),
}

impl WriteBuf {
    fn as_slice(&self) -> &[u8] {
        match self {
            WriteBuf::Heap(v) => v,
            WriteBuf::Aligned(a) => a.as_slice(),
        }
    }
}

/// A caller's request to the ring thread.
pub(crate) struct Request {
    pub op: Op,
    pub done: oneshot::Sender<io::Result<Done>>,
}

pub(crate) enum Op {
    /// `buf.len()` bytes are filled; reads continue until `want` or EOF.
    Read {
        file: DiskFile,
        offset: u64,
        buf: Vec<u8>,
        want: usize,
    },
    /// `written` bytes of `buf` are on the file; continues until all are.
    Write {
        file: DiskFile,
        offset: u64,
        buf: WriteBuf,
        written: usize,
    },
    Fsync {
        file: DiskFile,
        datasync: bool,
    },
    Fallocate {
        file: DiskFile,
        offset: u64,
        len: u64,
        /// `fallocate(2)` mode bits: 0 reserves, `PUNCH_HOLE | KEEP_SIZE` frees.
        mode: i32,
    },
}

/// A single SQE moves at most this many bytes; longer buffers take several.
const SQE_BYTES_MAX: usize = 1 << 30;

/// What to do after a completion.
pub(crate) enum Next {
    /// Submit this operation's next SQE (short transfer or retryable error).
    Resubmit,
    Finish(io::Result<Done>),
}

impl Op {
    pub fn read(file: DiskFile, offset: u64, len: usize) -> Op {
        Op::Read {
            file,
            offset,
            buf: Vec::with_capacity(len),
            want: len,
        }
    }

    pub fn write(file: DiskFile, offset: u64, buf: WriteBuf) -> Op {
        Op::Write {
            file,
            offset,
            buf,
            written: 0,
        }
    }

    /// Whether the operation has nothing to submit (an empty read or write).
    pub fn is_trivially_done(&self) -> bool {
        match self {
            Op::Read { want, .. } => *want == 0,
            Op::Write { buf, .. } => buf.as_slice().is_empty(),
            _ => false,
        }
    }

    /// Finishes an operation that needs no kernel work.
    pub fn into_done(self) -> Done {
        match self {
            Op::Read { buf, .. } => Done::Read(buf),
            Op::Write { buf, .. } => Done::Written(buf),
            _ => Done::Unit,
        }
    }

    /// The SQE for the operation's next (or first) step.
    pub fn sqe(&mut self, user_data: u64) -> squeue::Entry {
        let entry = match self {
            Op::Read {
                file,
                offset,
                buf,
                want,
            } => {
                let filled = buf.len();
                let len = (*want - filled).min(SQE_BYTES_MAX) as u32;
                // SAFETY: `buf` has capacity `want >= filled + len`, so the
                // pointer to its spare capacity is valid for `len` bytes. The
                // Vec is owned by this Op, which stays in the driver's slab
                // (heap buffer never moved or freed) until the CQE arrives.
                let ptr = unsafe { buf.as_mut_ptr().add(filled) };
                opcode::Read::new(types::Fd(file.raw_fd()), ptr, len)
                    .offset(*offset + filled as u64)
                    .build()
            }
            Op::Write {
                file,
                offset,
                buf,
                written,
            } => {
                let buf = buf.as_slice();
                let len = (buf.len() - *written).min(SQE_BYTES_MAX) as u32;
                // SAFETY: `written < buf.len()`, so the pointer stays inside the
                // initialised buffer, which this Op owns until completion (an
                // `AlignedBuf`'s heap allocation, like a Vec's, never moves).
                let ptr = unsafe { buf.as_ptr().add(*written) };
                opcode::Write::new(types::Fd(file.raw_fd()), ptr, len)
                    .offset(*offset + *written as u64)
                    .build()
            }
            Op::Fsync { file, datasync } => {
                let flags = if *datasync {
                    types::FsyncFlags::DATASYNC
                } else {
                    types::FsyncFlags::empty()
                };
                opcode::Fsync::new(types::Fd(file.raw_fd()))
                    .flags(flags)
                    .build()
            }
            Op::Fallocate {
                file,
                offset,
                len,
                mode,
            } => opcode::Fallocate::new(types::Fd(file.raw_fd()), *len)
                .offset(*offset)
                .mode(*mode)
                .build(),
        };
        entry.user_data(user_data)
    }

    /// Interprets a CQE result for this operation.
    pub fn on_complete(&mut self, res: i32) -> Next {
        if res < 0 {
            let err = io::Error::from_raw_os_error(-res);
            // Reads and writes may be retried on EAGAIN/EINTR; an fsync or an
            // fallocate never is (a failed fsync must reach the caller).
            let retryable = matches!(-res, libc::EAGAIN | libc::EINTR);
            return match self {
                Op::Read { .. } | Op::Write { .. } if retryable => Next::Resubmit,
                _ => Next::Finish(Err(err)),
            };
        }
        let n = res as usize;
        match self {
            Op::Read { buf, want, .. } => {
                assert!(buf.len() + n <= *want, "kernel read past the buffer");
                // SAFETY: the kernel reported `n` bytes written into the spare
                // capacity starting at `buf.len()`, and `buf.len() + n <= want
                // <= capacity`, so those bytes are initialised.
                unsafe { buf.set_len(buf.len() + n) };
                if n == 0 || buf.len() == *want {
                    Next::Finish(Ok(Done::Read(std::mem::take(buf))))
                } else {
                    Next::Resubmit
                }
            }
            Op::Write { buf, written, .. } => {
                if n == 0 {
                    return Next::Finish(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "io_uring write wrote nothing",
                    )));
                }
                *written += n;
                if *written >= buf.as_slice().len() {
                    let buf = std::mem::replace(buf, WriteBuf::Heap(Vec::new()));
                    Next::Finish(Ok(Done::Written(buf)))
                } else {
                    Next::Resubmit
                }
            }
            Op::Fsync { .. } | Op::Fallocate { .. } => Next::Finish(Ok(Done::Unit)),
        }
    }
}
