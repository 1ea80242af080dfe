//! The server driven by the hand-written client: error codes, pipelining,
//! multi-conn, structured replies byte for byte, malformed input and
//! shutdown.

use super::*;
use crate::device::{AllocRun, BlockDevice, BlockError, DeviceIdentity};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

const MIB: u64 = 1 << 20;

#[tokio::test]
async fn simple_replies_errors_and_flushes() {
    // Checks, over simple replies: an unaligned write reads back, FLUSH
    // and FUA reach the device, past-the-end requests get EINVAL/ENOSPC
    // and the connection stays usable, unknown commands get EINVAL, and
    // DISC closes the connection.
    let dev = MemDevice::new("vol", MIB);
    let server = Running::with([dev.clone()]).await;
    let (mut c, size, flags) = RawClient::go(server.addr, "vol", SIMPLE).await;
    assert_eq!(size, MIB);
    for f in [
        FLAG_SEND_FLUSH,
        FLAG_SEND_FUA,
        FLAG_SEND_TRIM,
        FLAG_CAN_MULTI_CONN,
    ] {
        assert_ne!(flags & f, 0);
    }
    assert_eq!(flags & (FLAG_READ_ONLY | FLAG_SEND_DF), 0);

    c.write_request(0, 1, 1000, b"hello").await;
    assert_eq!(c.simple_reply().await, (0, 1));
    c.request(CMD_READ, 0, 2, 998, 9).await;
    assert_eq!(c.simple_reply().await, (0, 2));
    assert_eq!(c.read(9).await, b"\0\0hello\0\0");

    let flushes = dev.flushes.load(Ordering::SeqCst);
    c.request(CMD_FLUSH, 0, 3, 0, 0).await;
    assert_eq!(c.simple_reply().await, (0, 3));
    c.write_request(CMD_FLAG_FUA, 4, 0, b"x").await;
    assert_eq!(c.simple_reply().await, (0, 4));
    assert_eq!(dev.flushes.load(Ordering::SeqCst), flushes + 2);

    c.request(CMD_READ, 0, 5, MIB - 1, 2).await;
    assert_eq!(c.simple_reply().await, (EINVAL, 5));
    c.write_request(0, 6, MIB - 1, b"ab").await;
    assert_eq!(c.simple_reply().await, (ENOSPC, 6));
    c.request(CMD_WRITE_ZEROES, 0, 7, MIB, 1).await;
    assert_eq!(c.simple_reply().await, (ENOSPC, 7));
    c.request(CMD_TRIM, 0, 8, u64::MAX, 1).await;
    assert_eq!(c.simple_reply().await, (EINVAL, 8));
    c.request(42, 0, 9, 0, 0).await;
    assert_eq!(c.simple_reply().await, (EINVAL, 9));
    c.request(CMD_BLOCK_STATUS, 0, 10, 0, 512).await;
    assert_eq!(c.simple_reply().await, (EINVAL, 10));
    c.request(CMD_CACHE, 0, 11, 0, 4096).await;
    assert_eq!(c.simple_reply().await, (0, 11));

    // Still usable after the errors.
    c.request(CMD_READ, 0, 12, 1000, 5).await;
    assert_eq!(c.simple_reply().await, (0, 12));
    assert_eq!(c.read(5).await, b"hello");
    c.request(CMD_DISC, 0, 13, 0, 0).await;
    c.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn trim_and_write_zeroes_leave_zeros_and_honour_flags() {
    // Checks TRIM and WRITE_ZEROES (with and without NO_HOLE), and
    // FAST_ZERO: accepted when unmapping, ENOTSUP with NO_HOLE.
    let dev = MemDevice::new("vol", MIB);
    let server = Running::with([dev.clone()]).await;
    let (mut c, _, flags) = RawClient::go(server.addr, "vol", SIMPLE).await;
    assert_ne!(flags & FLAG_SEND_FAST_ZERO, 0);
    c.write_request(0, 1, 0, &[0x5a; 16384]).await;
    assert_eq!(c.simple_reply().await, (0, 1));
    c.request(CMD_TRIM, CMD_FLAG_FUA, 2, 0, 4096).await;
    assert_eq!(c.simple_reply().await, (0, 2));
    c.request(CMD_WRITE_ZEROES, CMD_FLAG_NO_HOLE, 3, 4096, 100)
        .await;
    assert_eq!(c.simple_reply().await, (0, 3));
    c.request(CMD_WRITE_ZEROES, CMD_FLAG_FAST_ZERO, 4, 8192, 4096)
        .await;
    assert_eq!(c.simple_reply().await, (0, 4));
    let flags = CMD_FLAG_FAST_ZERO | CMD_FLAG_NO_HOLE;
    c.request(CMD_WRITE_ZEROES, flags, 5, 12288, 4096).await;
    assert_eq!(c.simple_reply().await, (ENOTSUP, 5));
    let data = dev.read(0, 16384).await.unwrap();
    assert!(data[..4196].iter().all(|&b| b == 0));
    assert!(data[4196..8192].iter().all(|&b| b == 0x5a));
    assert!(data[8192..12288].iter().all(|&b| b == 0));
    assert!(
        data[12288..].iter().all(|&b| b == 0x5a),
        "ENOTSUP must not zero"
    );
    let runs = dev.allocation(8192, 4096).await.unwrap();
    assert!(!runs[0].allocated, "zeroing that may unmap deallocates");
    server.stop().await;
}

#[tokio::test]
async fn read_only_export_refuses_writes_with_eperm() {
    // Checks that a read-only export says so and answers every kind of
    // write with EPERM, while reads work.
    let server = Running::with([MemDevice::read_only("snap", MIB)]).await;
    let (mut c, _, flags) = RawClient::go(server.addr, "snap", SIMPLE).await;
    assert_ne!(flags & FLAG_READ_ONLY, 0);
    assert_eq!(flags & (FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES), 0);
    c.write_request(0, 1, 0, &[1; 512]).await;
    assert_eq!(c.simple_reply().await, (EPERM, 1));
    c.request(CMD_TRIM, 0, 2, 0, 512).await;
    assert_eq!(c.simple_reply().await, (EPERM, 2));
    c.request(CMD_WRITE_ZEROES, 0, 3, 0, 512).await;
    assert_eq!(c.simple_reply().await, (EPERM, 3));
    c.request(CMD_READ, 0, 4, 0, 512).await;
    assert_eq!(c.simple_reply().await, (0, 4));
    assert_eq!(c.read(512).await, vec![0; 512]);
    server.stop().await;
}

#[tokio::test]
async fn structured_reads_send_holes_and_block_status_extents() {
    // Checks structured replies byte for byte: a read over hole/data/hole
    // gives three chunks (DONE on the last), DF gives one data chunk,
    // block status gives HOLE|ZERO and allocated extents (one with
    // REQ_ONE), and errors come as error chunks.
    let dev = MemDevice::new("vol", 16384);
    dev.write(4096, Bytes::from(vec![7u8; 4096]), false)
        .await
        .unwrap();
    let server = Running::with([dev]).await;
    let (mut c, _, flags) = RawClient::go(server.addr, "vol", STRUCTURED).await;
    assert_ne!(flags & FLAG_SEND_DF, 0);

    c.request(CMD_READ, 0, 1, 0, 12288).await;
    let hole = c.chunk().await;
    assert_eq!(
        (hole.kind, hole.flags, hole.cookie),
        (REPLY_TYPE_OFFSET_HOLE, 0, 1)
    );
    assert_eq!(hole.payload, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0]);
    let data = c.chunk().await;
    assert_eq!((data.kind, data.flags), (REPLY_TYPE_OFFSET_DATA, 0));
    assert_eq!(data.payload[..8], 4096u64.to_be_bytes());
    assert!(data.payload[8..].iter().all(|&b| b == 7) && data.payload.len() == 8 + 4096);
    let last = c.chunk().await;
    assert_eq!(
        (last.kind, last.flags),
        (REPLY_TYPE_OFFSET_HOLE, REPLY_FLAG_DONE)
    );
    assert_eq!(last.payload[..8], 8192u64.to_be_bytes());

    c.request(CMD_READ, CMD_FLAG_DF, 2, 2048, 4096).await;
    let one = c.chunk().await;
    assert_eq!(
        (one.kind, one.flags),
        (REPLY_TYPE_OFFSET_DATA, REPLY_FLAG_DONE)
    );
    assert_eq!(one.payload.len(), 8 + 4096);
    assert!(one.payload[8..2048 + 8].iter().all(|&b| b == 0));
    assert!(one.payload[2048 + 8..].iter().all(|&b| b == 7));

    c.request(CMD_READ, 0, 3, 12288, 4096).await;
    let hole_only = c.chunk().await;
    assert_eq!(
        (hole_only.kind, hole_only.flags),
        (REPLY_TYPE_OFFSET_HOLE, REPLY_FLAG_DONE)
    );

    c.request(CMD_BLOCK_STATUS, 0, 4, 0, 16384).await;
    let status = c.chunk().await;
    assert_eq!(
        (status.kind, status.flags),
        (REPLY_TYPE_BLOCK_STATUS, REPLY_FLAG_DONE)
    );
    let words: Vec<u32> = status
        .payload
        .chunks(4)
        .map(|w| u32::from_be_bytes(w.try_into().unwrap()))
        .collect();
    assert_eq!(words, [1, 4096, 3, 4096, 0, 8192, 3]);
    c.request(CMD_BLOCK_STATUS, CMD_FLAG_REQ_ONE, 5, 4096, 16)
        .await;
    let one = c.chunk().await;
    assert_eq!(one.payload, [0, 0, 0, 1, 0, 0, 0, 16, 0, 0, 0, 0]);

    c.request(CMD_READ, 0, 6, 16000, 1000).await;
    let err = c.chunk().await;
    assert_eq!(
        (err.kind, err.flags, err.cookie),
        (REPLY_TYPE_ERROR, REPLY_FLAG_DONE, 6)
    );
    assert_eq!(err.payload[..4], EINVAL.to_be_bytes());
    let msg_len = u16::from_be_bytes(err.payload[4..6].try_into().unwrap()) as usize;
    assert_eq!(err.payload.len(), 6 + msg_len);
    assert!(msg_len > 0);
    c.request(CMD_READ, 0, 7, 0, PAYLOAD_BYTES_MAX + 1).await;
    assert_eq!(c.chunk().await.payload[..4], EOVERFLOW.to_be_bytes());
    c.request(CMD_WRITE, 0, 8, 0, 0).await;
    assert_eq!(c.simple_reply().await, (0, 8));
    server.stop().await;
}

#[tokio::test]
async fn block_status_needs_the_context_selected_for_that_export() {
    // Checks that without SET_META_CONTEXT, BLOCK_STATUS is EINVAL even
    // with structured replies.
    let server = Running::with([MemDevice::new("vol", MIB)]).await;
    let want = Want {
        structured: true,
        allocation: false,
    };
    let (mut c, _, _) = RawClient::go(server.addr, "vol", want).await;
    c.request(CMD_BLOCK_STATUS, 0, 1, 0, 4096).await;
    let err = c.chunk().await;
    assert_eq!(err.kind, REPLY_TYPE_ERROR);
    assert_eq!(err.payload[..4], EINVAL.to_be_bytes());
    server.stop().await;
}

#[tokio::test]
async fn pipelined_requests_all_get_their_replies() {
    // Checks that 48 writes then 48 reads sent without waiting each get
    // exactly one reply, matched by cookie, with the right data.
    let server = Running::with([MemDevice::new("vol", 4 * MIB)]).await;
    let (mut c, _, _) = RawClient::go(server.addr, "vol", SIMPLE).await;
    let block = |i: u64| vec![i as u8 + 1; 4096];
    let mut burst = Vec::new();
    for i in 0..48u64 {
        let h = RequestHeader {
            flags: 0,
            kind: CMD_WRITE,
            cookie: i,
            offset: i * 8192,
            len: 4096,
        };
        burst.extend(encode_request_header(&h));
        burst.extend(block(i));
    }
    c.write(&burst).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..48 {
        let (err, cookie) = c.simple_reply().await;
        assert_eq!(err, 0);
        assert!(seen.insert(cookie));
    }
    let mut burst = Vec::new();
    for i in 0..48u64 {
        let h = RequestHeader {
            flags: 0,
            kind: CMD_READ,
            cookie: 100 + i,
            offset: i * 8192,
            len: 4096,
        };
        burst.extend(encode_request_header(&h));
    }
    c.write(&burst).await;
    let mut got = HashMap::new();
    for _ in 0..48 {
        let (err, cookie) = c.simple_reply().await;
        assert_eq!(err, 0);
        got.insert(cookie, c.read(4096).await);
    }
    for i in 0..48u64 {
        assert_eq!(got[&(100 + i)], block(i), "read {i}");
    }
    server.stop().await;
}

#[tokio::test]
async fn two_connections_share_writes_and_flushes() {
    // Checks multi-conn: a write acknowledged on one connection is read
    // on another, and a flush on the second reaches the shared device.
    let dev = MemDevice::new("vol", MIB);
    let server = Running::with([dev.clone()]).await;
    let (mut a, _, flags) = RawClient::go(server.addr, "vol", SIMPLE).await;
    assert_ne!(flags & FLAG_CAN_MULTI_CONN, 0);
    let (mut b, _, _) = RawClient::go(server.addr, "vol", STRUCTURED).await;
    a.write_request(0, 1, 4096, b"shared").await;
    assert_eq!(a.simple_reply().await, (0, 1));
    b.request(CMD_READ, 0, 2, 4096, 6).await;
    let chunk = b.chunk().await;
    assert_eq!(&chunk.payload[8..], b"shared");
    let before = dev.flushes.load(Ordering::SeqCst);
    b.request(CMD_FLUSH, 0, 3, 0, 0).await;
    assert_eq!(b.simple_reply().await, (0, 3));
    assert_eq!(dev.flushes.load(Ordering::SeqCst), before + 1);
    server.stop().await;
}

#[tokio::test]
async fn handshake_options_over_tcp() {
    // Checks LIST, INFO with its items, LIST_META_CONTEXT's wildcard, an
    // unknown option and ABORT on a real socket.
    let server = Running::with([MemDevice::new("a", 4096), MemDevice::new("b", 8192)]).await;
    let mut c = RawClient::connect(server.addr).await;
    c.write(&FLAG_C_FIXED_NEWSTYLE.to_be_bytes()).await;
    c.option(OPT_LIST, &[]).await;
    assert_eq!(
        c.option_reply().await,
        (OPT_LIST, REP_SERVER, b"\0\0\0\x01a".to_vec())
    );
    assert_eq!(
        c.option_reply().await,
        (OPT_LIST, REP_SERVER, b"\0\0\0\x01b".to_vec())
    );
    assert_eq!(c.option_reply().await.1, REP_ACK);

    let mut p = name_payload("b");
    p.put_u16(2);
    p.put_u16(INFO_BLOCK_SIZE);
    p.put_u16(INFO_NAME);
    c.option(OPT_INFO, &p).await;
    let export = c.option_reply().await;
    assert_eq!(export.2[2..10], 8192u64.to_be_bytes());
    assert_eq!(c.option_reply().await.2, b"\0\x01b");
    let sizes = c.option_reply().await.2;
    assert_eq!(sizes[10..14], PAYLOAD_BYTES_MAX.to_be_bytes());
    assert_eq!(c.option_reply().await.1, REP_ACK);

    let mut p = name_payload("a");
    p.put_u32(1);
    p.put_u32(5);
    p.put_slice(b"base:");
    c.option(OPT_LIST_META_CONTEXT, &p).await;
    let ctx = c.option_reply().await;
    assert_eq!(
        (ctx.1, &ctx.2[4..]),
        (REP_META_CONTEXT, &b"base:allocation"[..])
    );
    assert_eq!(c.option_reply().await.1, REP_ACK);

    c.option(0x1234, b"whatever").await;
    assert_eq!(
        c.option_reply().await,
        (0x1234, REP_ERR_UNSUP, b"option not supported".to_vec())
    );
    c.option(OPT_ABORT, &[]).await;
    assert_eq!(c.option_reply().await.1, REP_ACK);
    c.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn malformed_input_closes_only_that_connection() {
    // Checks that garbage handshakes, bad magics, truncated requests and
    // payloads, a refused write payload too long to skip, and seeded
    // random bytes after GO each end their connection without a hang or
    // panic, that a refused oversized write that can be skipped keeps the
    // connection, and that the server goes on serving.
    let server = Running::with([MemDevice::new("vol", MIB)]).await;

    let mut c = RawClient::connect(server.addr).await;
    c.write(&random_bytes(1, 200)).await;
    c.expect_closed().await;

    let mut c = RawClient::connect(server.addr).await;
    c.write(&1u32.to_be_bytes()).await;
    c.write(b"IHAVEOPX\0\0\0\x07\0\0\0\0").await;
    c.expect_closed().await;

    let mut c = RawClient::connect(server.addr).await;
    c.write(&[0, 0]).await;
    drop(c);

    let (mut c, _, _) = RawClient::go(server.addr, "vol", SIMPLE).await;
    c.write(&[0x25, 0x60, 0x95, 0x14, 0, 0, 0, 0]).await;
    c.write(&[0; 20]).await;
    c.expect_closed().await;

    let (mut c, _, _) = RawClient::go(server.addr, "vol", SIMPLE).await;
    c.request(CMD_WRITE, 0, 1, 0, 4096).await;
    c.write(&[1; 100]).await;
    within(c.s.shutdown()).await.unwrap();
    c.expect_closed().await;

    let (mut c, _, _) = RawClient::go(server.addr, "vol", SIMPLE).await;
    let big = PAYLOAD_BYTES_MAX + 4096;
    c.request(CMD_WRITE, 0, 2, 0, big).await;
    c.write(&vec![0u8; big as usize]).await;
    assert_eq!(c.simple_reply().await, (EINVAL, 2));
    c.request(CMD_READ, 0, 3, 0, 1).await;
    assert_eq!(c.simple_reply().await, (0, 3));
    assert_eq!(c.read(1).await, [0]);

    let (mut c, _, _) = RawClient::go(server.addr, "vol", SIMPLE).await;
    c.request(CMD_WRITE, 0, 4, 0, SKIP_BYTES_MAX + 1).await;
    assert_eq!(c.simple_reply().await, (EINVAL, 4));
    c.expect_closed().await;

    for seed in 1..=20 {
        let (mut c, _, _) = RawClient::go(server.addr, "vol", STRUCTURED).await;
        c.write(&random_bytes(seed, 64 + seed as usize * 37)).await;
        within(c.s.shutdown()).await.unwrap();
        c.expect_closed().await;
    }

    let (mut c, _, _) = RawClient::go(server.addr, "vol", SIMPLE).await;
    c.request(CMD_READ, 0, 5, 0, 1).await;
    assert_eq!(c.simple_reply().await, (0, 5));
    server.stop().await;
}

/// A [`MemDevice`] whose writes take [`SLOW_WRITE`], and say when one
/// has started.
struct SlowDevice {
    mem: Arc<MemDevice>,
    write_started: tokio::sync::Notify,
}

const SLOW_WRITE: Duration = Duration::from_millis(300);

#[async_trait]
impl BlockDevice for SlowDevice {
    fn size(&self) -> u64 {
        self.mem.size()
    }
    fn identity(&self) -> DeviceIdentity {
        self.mem.identity()
    }
    fn read_only(&self) -> bool {
        false
    }
    async fn read(&self, offset: u64, len: u32) -> Result<Bytes, BlockError> {
        self.mem.read(offset, len).await
    }
    async fn write(&self, offset: u64, data: Bytes, fua: bool) -> Result<(), BlockError> {
        self.write_started.notify_one();
        tokio::time::sleep(SLOW_WRITE).await;
        self.mem.write(offset, data, fua).await
    }
    async fn flush(&self) -> Result<(), BlockError> {
        self.mem.flush().await
    }
    async fn write_zeroes(
        &self,
        offset: u64,
        len: u64,
        may_unmap: bool,
        fua: bool,
    ) -> Result<(), BlockError> {
        self.mem.write_zeroes(offset, len, may_unmap, fua).await
    }
    async fn allocation(&self, offset: u64, len: u64) -> Result<Vec<AllocRun>, BlockError> {
        self.mem.allocation(offset, len).await
    }
}

struct SlowExports(Arc<SlowDevice>);

#[async_trait]
impl Exports for SlowExports {
    async fn list(&self) -> Result<Vec<String>, BlockError> {
        Ok(vec!["slow".into()])
    }
    async fn open(&self, _name: &str) -> Result<Arc<dyn BlockDevice>, BlockError> {
        Ok(self.0.clone())
    }
}

#[tokio::test]
async fn shutdown_answers_requests_in_flight_then_closes() {
    // Checks graceful shutdown: a write in flight when the server is told
    // to stop is still carried out and answered, then the connection is
    // closed, a client still in its handshake is closed, serve returns,
    // and no new connection is accepted.
    let mem = MemDevice::new("slow", MIB);
    let slow = Arc::new(SlowDevice {
        mem: mem.clone(),
        write_started: tokio::sync::Notify::new(),
    });
    let server = Running::start(Arc::new(SlowExports(slow.clone()))).await;
    let addr = server.addr;
    let (mut c, _, _) = RawClient::go(addr, "slow", SIMPLE).await;
    let mut idle = RawClient::connect(addr).await;
    c.write_request(0, 1, 0, b"late").await;
    within(slow.write_started.notified()).await;
    let stopping = tokio::spawn(server.stop());
    assert_eq!(c.simple_reply().await, (0, 1));
    c.expect_closed().await;
    idle.expect_closed().await;
    within(stopping).await.unwrap();
    assert_eq!(&mem.read(0, 4).await.unwrap()[..], b"late");
    assert!(TcpStream::connect(addr).await.is_err());
}
