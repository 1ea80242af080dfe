//! Transmission requests as pure logic: checking a request header against
//! the negotiated session into a [`Command`] (or the error to answer it
//! with), mapping device errors to NBD errors, and shaping read and block
//! status results into reply chunks.

use super::options::Session;
use super::proto::*;
use super::reply::Chunk;
use crate::device::{AllocRun, BlockError};
use bytes::Bytes;

/// Most descriptors in one block status chunk (the spec's SHOULD).
pub const STATUS_EXTENTS_MAX: usize = 1 << 20;

/// A request the device can carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `df`: answer with at most one content chunk.
    Read {
        offset: u64,
        len: u32,
        df: bool,
    },
    /// The request's `len` payload bytes follow its header.
    Write {
        offset: u64,
        len: u32,
        fua: bool,
    },
    Flush,
    Trim {
        offset: u64,
        len: u32,
        fua: bool,
    },
    WriteZeroes {
        offset: u64,
        len: u32,
        may_unmap: bool,
        fua: bool,
        /// Fail with `ENOTSUP` rather than zero slowly.
        fast: bool,
    },
    BlockStatus {
        offset: u64,
        len: u32,
        req_one: bool,
        context: u32,
    },
    Cache {
        offset: u64,
        len: u32,
    },
}

/// What a request header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Command(Command),
    /// `NBD_CMD_DISC`: finish what is in flight and close.
    Disconnect,
    /// Answer with `error`, after discarding `skip` payload bytes.
    Reject {
        error: u32,
        skip: u32,
        message: &'static str,
    },
}

/// Decodes what `h` asks for under `session`.
pub fn decode_command(h: &RequestHeader, session: &Session) -> Request {
    let (offset, len, fua) = (h.offset, h.len, h.flags & CMD_FLAG_FUA != 0);
    let allowed = match h.kind {
        CMD_READ if session.structured => CMD_FLAG_DF,
        CMD_WRITE_ZEROES => CMD_FLAG_NO_HOLE | CMD_FLAG_FAST_ZERO,
        CMD_BLOCK_STATUS => CMD_FLAG_REQ_ONE,
        CMD_DISC => return Request::Disconnect,
        _ => 0,
    } | CMD_FLAG_FUA;
    // A WRITE's payload follows whatever is wrong with it.
    let skip = if h.kind == CMD_WRITE { len } else { 0 };
    let reject = |error, message| Request::Reject {
        error,
        skip,
        message,
    };
    if h.flags & !allowed != 0 {
        return reject(EINVAL, "command flag not valid for this command");
    }
    let command = match h.kind {
        CMD_READ if len > PAYLOAD_BYTES_MAX => {
            // The spec's code for "too large, retry smaller" needs
            // structured replies; simple replies get the generic one.
            let error = if session.structured {
                EOVERFLOW
            } else {
                EINVAL
            };
            return reject(error, "read longer than the 32 MiB maximum payload");
        }
        CMD_READ => Command::Read {
            offset,
            len,
            df: h.flags & CMD_FLAG_DF != 0,
        },
        CMD_WRITE if len > PAYLOAD_BYTES_MAX => {
            return reject(EINVAL, "write longer than the 32 MiB maximum payload");
        }
        CMD_WRITE => Command::Write { offset, len, fua },
        CMD_FLUSH => Command::Flush,
        CMD_TRIM => Command::Trim { offset, len, fua },
        CMD_CACHE => Command::Cache { offset, len },
        CMD_WRITE_ZEROES => Command::WriteZeroes {
            offset,
            len,
            may_unmap: h.flags & CMD_FLAG_NO_HOLE == 0,
            fua,
            fast: h.flags & CMD_FLAG_FAST_ZERO != 0,
        },
        CMD_BLOCK_STATUS => {
            let Some(context) = session.allocation_context else {
                return reject(EINVAL, "no metadata context was negotiated");
            };
            if len == 0 {
                return reject(EINVAL, "block status of an empty range");
            }
            Command::BlockStatus {
                offset,
                len,
                req_one: h.flags & CMD_FLAG_REQ_ONE != 0,
                context,
            }
        }
        _ => return reject(EINVAL, "unknown command"),
    };
    Request::Command(command)
}

/// Bytes of memory the command holds while in flight (its payload or its
/// read buffer), for the connection's in-flight budget.
pub fn payload_bytes(c: &Command) -> u32 {
    match *c {
        Command::Read { len, .. } | Command::Write { len, .. } => len,
        _ => 0,
    }
}

/// The NBD error for a device error. Past-the-end writes get `ENOSPC`,
/// other past-the-end requests `EINVAL`, as the spec recommends.
pub fn errno(e: &BlockError, writes_data: bool) -> u32 {
    match e {
        BlockError::OutOfRange { .. } if writes_data => ENOSPC,
        BlockError::OutOfRange { .. } => EINVAL,
        BlockError::ReadOnly => EPERM,
        BlockError::NoSpace => ENOSPC,
        BlockError::Fenced(_) | BlockError::Io(_) | BlockError::NoSuchExport(_) => EIO,
    }
}

/// Whether `runs` say all of `len` bytes are unallocated (read as zeros).
pub fn all_hole(len: u32, runs: &[AllocRun]) -> bool {
    let covered: u64 = runs.iter().map(|r| r.len).sum();
    covered >= u64::from(len) && runs.iter().all(|r| !r.allocated)
}

/// The content chunks of a structured READ reply for `data` read at
/// `offset`: holes where `runs` say unallocated, data elsewhere (and where
/// the runs stop short). With `df`, one data chunk.
pub fn read_chunks(offset: u64, data: Bytes, runs: &[AllocRun], df: bool) -> Vec<Chunk> {
    if data.is_empty() {
        return vec![Chunk::None];
    }
    if df || runs.iter().all(|r| r.allocated) {
        return vec![Chunk::Data { offset, data }];
    }
    let total = data.len();
    let mut chunks = Vec::new();
    let mut at = 0usize;
    let mut data_from = 0usize;
    for run in runs {
        if at >= total {
            break;
        }
        let end = total.min(at.saturating_add(usize::try_from(run.len).unwrap_or(usize::MAX)));
        if !run.allocated && end > at {
            push_data(&mut chunks, offset, &data, data_from, at);
            chunks.push(Chunk::Hole {
                offset: offset + at as u64,
                // Bounded by the read length, a u32.
                len: (end - at) as u32,
            });
            data_from = end;
        }
        at = end;
    }
    push_data(&mut chunks, offset, &data, data_from, total);
    chunks
}

/// Pushes `data[from..to]` as a data chunk, if not empty.
fn push_data(chunks: &mut Vec<Chunk>, offset: u64, data: &Bytes, from: usize, to: usize) {
    if to > from {
        chunks.push(Chunk::Data {
            offset: offset + from as u64,
            data: data.slice(from..to),
        });
    }
}

/// The block status descriptors of `len` bytes from their allocation
/// runs: unallocated reads as zeros (`HOLE | ZERO`), allocated as 0.
/// Adjacent equal runs merge; the total never passes `len`; with
/// `req_one`, one descriptor. Runs that say nothing yield one "allocated"
/// descriptor for the whole range, always a safe answer.
pub fn status_extents(len: u32, runs: &[AllocRun], req_one: bool) -> Vec<(u32, u32)> {
    let mut extents: Vec<(u32, u32)> = Vec::new();
    let mut left = len;
    for run in runs {
        if left == 0 || (req_one && !extents.is_empty()) || extents.len() >= STATUS_EXTENTS_MAX {
            break;
        }
        let n = u32::try_from(run.len).unwrap_or(u32::MAX).min(left);
        if n == 0 {
            continue;
        }
        let status = if run.allocated {
            0
        } else {
            STATE_HOLE | STATE_ZERO
        };
        match extents.last_mut() {
            Some(last) if last.1 == status => last.0 += n,
            _ => extents.push((n, status)),
        }
        left -= n;
    }
    if extents.is_empty() {
        extents.push((len, 0));
    }
    extents
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u16, flags: u16, len: u32) -> RequestHeader {
        RequestHeader {
            flags,
            kind,
            cookie: 1,
            offset: 0,
            len,
        }
    }

    const STRUCTURED: Session = Session {
        structured: true,
        allocation_context: Some(1),
    };
    const SIMPLE: Session = Session {
        structured: false,
        allocation_context: None,
    };

    fn run(len: u64, allocated: bool) -> AllocRun {
        AllocRun { len, allocated }
    }

    #[test]
    fn flags_are_checked_per_command() {
        // Checks that each command accepts its own flags (and FUA) and
        // answers EINVAL to the others, skipping a WRITE's payload.
        assert_eq!(
            decode_command(&header(CMD_WRITE, CMD_FLAG_FUA, 4096), &SIMPLE),
            Request::Command(Command::Write {
                offset: 0,
                len: 4096,
                fua: true
            })
        );
        assert!(matches!(
            decode_command(&header(CMD_WRITE, CMD_FLAG_DF, 4096), &SIMPLE),
            Request::Reject {
                error: EINVAL,
                skip: 4096,
                ..
            }
        ));
        assert!(matches!(
            decode_command(&header(CMD_READ, CMD_FLAG_DF, 512), &SIMPLE),
            Request::Reject {
                error: EINVAL,
                skip: 0,
                ..
            }
        ));
        assert_eq!(
            decode_command(
                &header(CMD_READ, CMD_FLAG_DF | CMD_FLAG_FUA, 512),
                &STRUCTURED
            ),
            Request::Command(Command::Read {
                offset: 0,
                len: 512,
                df: true
            })
        );
        assert!(matches!(
            decode_command(&header(CMD_CACHE, CMD_FLAG_REQ_ONE, 512), &STRUCTURED),
            Request::Reject { error: EINVAL, .. }
        ));
        assert_eq!(
            decode_command(
                &header(CMD_WRITE_ZEROES, CMD_FLAG_NO_HOLE | CMD_FLAG_FAST_ZERO, 1),
                &SIMPLE
            ),
            Request::Command(Command::WriteZeroes {
                offset: 0,
                len: 1,
                may_unmap: false,
                fua: false,
                fast: true
            })
        );
        assert_eq!(
            decode_command(&header(CMD_DISC, 0xffff, 7), &SIMPLE),
            Request::Disconnect
        );
        assert!(matches!(
            decode_command(&header(99, 0, 0), &SIMPLE),
            Request::Reject { error: EINVAL, .. }
        ));
    }

    #[test]
    fn oversized_payloads_are_refused() {
        // Checks the 32 MiB payload cap on READ and WRITE, and that TRIM
        // may exceed it.
        let big = PAYLOAD_BYTES_MAX + 1;
        assert!(matches!(
            decode_command(&header(CMD_READ, 0, big), &SIMPLE),
            Request::Reject { error: EINVAL, .. }
        ));
        assert!(matches!(
            decode_command(&header(CMD_READ, 0, big), &STRUCTURED),
            Request::Reject {
                error: EOVERFLOW,
                ..
            }
        ));
        assert!(matches!(
            decode_command(&header(CMD_WRITE, 0, big), &SIMPLE),
            Request::Reject { error: EINVAL, skip, .. } if skip == big
        ));
        assert!(matches!(
            decode_command(&header(CMD_TRIM, 0, u32::MAX), &SIMPLE),
            Request::Command(Command::Trim { .. })
        ));
    }

    #[test]
    fn block_status_needs_a_context_and_a_length() {
        // Checks BLOCK_STATUS's preconditions.
        assert!(matches!(
            decode_command(&header(CMD_BLOCK_STATUS, 0, 512), &SIMPLE),
            Request::Reject { error: EINVAL, .. }
        ));
        assert!(matches!(
            decode_command(&header(CMD_BLOCK_STATUS, 0, 0), &STRUCTURED),
            Request::Reject { error: EINVAL, .. }
        ));
        assert_eq!(
            decode_command(&header(CMD_BLOCK_STATUS, CMD_FLAG_REQ_ONE, 9), &STRUCTURED),
            Request::Command(Command::BlockStatus {
                offset: 0,
                len: 9,
                req_one: true,
                context: 1
            })
        );
    }

    #[test]
    fn device_errors_map_to_nbd_errors() {
        // Checks the BlockError → errno table.
        let oor = BlockError::OutOfRange {
            offset: 0,
            len: 1,
            size: 0,
        };
        assert_eq!(errno(&oor, true), ENOSPC);
        assert_eq!(errno(&oor, false), EINVAL);
        assert_eq!(errno(&BlockError::ReadOnly, true), EPERM);
        assert_eq!(errno(&BlockError::NoSpace, true), ENOSPC);
        assert_eq!(errno(&BlockError::Fenced(3), true), EIO);
        assert_eq!(errno(&BlockError::Io("x".into()), false), EIO);
    }

    #[test]
    fn read_chunks_split_holes_from_data() {
        // Checks a mixed read: data, hole, data past the runs' end.
        let data = Bytes::from((0..12u8).collect::<Vec<_>>());
        let chunks = read_chunks(100, data.clone(), &[run(4, true), run(4, false)], false);
        assert_eq!(
            chunks,
            vec![
                Chunk::Data {
                    offset: 100,
                    data: data.slice(0..4)
                },
                Chunk::Hole {
                    offset: 104,
                    len: 4
                },
                Chunk::Data {
                    offset: 108,
                    data: data.slice(8..12)
                },
            ]
        );
        let df = read_chunks(100, data.clone(), &[run(4, true), run(4, false)], true);
        assert_eq!(df, vec![Chunk::Data { offset: 100, data }]);
        assert_eq!(read_chunks(0, Bytes::new(), &[], false), vec![Chunk::None]);
    }

    #[test]
    fn read_chunks_clamp_runs_longer_than_the_read() {
        // Checks that a device run reaching past the read cannot make a
        // chunk outside it.
        let data = Bytes::from(vec![1u8; 8]);
        let chunks = read_chunks(
            0,
            data.clone(),
            &[run(2, false), run(u64::MAX, false)],
            false,
        );
        assert_eq!(
            chunks,
            vec![
                Chunk::Hole { offset: 0, len: 2 },
                Chunk::Hole { offset: 2, len: 6 }
            ]
        );
        assert!(all_hole(8, &[run(2, false), run(6, false)]));
        assert!(!all_hole(8, &[run(2, false)]));
        assert!(!all_hole(8, &[run(2, false), run(6, true)]));
    }

    #[test]
    fn status_extents_merge_clamp_and_honour_req_one() {
        // Checks descriptor flags, merging, clamping to the request, REQ_ONE
        // and the fallback for an empty map.
        let runs = [
            run(4096, true),
            run(4096, false),
            run(4096, false),
            run(8192, true),
        ];
        assert_eq!(
            status_extents(20000, &runs, false),
            vec![(4096, 0), (8192, 3), (20000 - 12288, 0)]
        );
        assert_eq!(status_extents(20000, &runs, true), vec![(4096, 0)]);
        assert_eq!(status_extents(100, &runs, true), vec![(100, 0)]);
        assert_eq!(status_extents(77, &[], false), vec![(77, 0)]);
        assert_eq!(
            status_extents(5, &[run(0, false), run(9, false)], false),
            vec![(5, 3)]
        );
    }
}
