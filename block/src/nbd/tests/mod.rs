//! Tests of the whole server over real sockets: `tools` drives it with the
//! real clients (nbdinfo, nbdcopy, qemu-img, qemu-io, fio), `raw` with a
//! hand-written client that can also misbehave, `tls` both over TLS. This file holds what both
//! share: a server on 127.0.0.1:0 over [`MemExports`], the raw client,
//! seeded random data.

mod raw;
mod tls;
mod tools;

use super::proto::*;
use super::transmission::SKIP_BYTES_MAX;
use super::NbdServer;
use crate::device::mem::{MemDevice, MemExports};
use crate::device::Exports;
use bytes::BufMut;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Longest a single socket step of a test may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Awaits `f`, failing the test if it takes longer than [`STEP_TIMEOUT`].
async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP_TIMEOUT, f)
        .await
        .expect("test step timed out")
}

/// A server running on a loopback port.
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    async fn start(exports: Arc<dyn Exports>) -> Running {
        Running::start_with(NbdServer::new(exports)).await
    }

    async fn start_with(server: NbdServer) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        Running { addr, stop, task }
    }

    async fn with(devices: impl IntoIterator<Item = Arc<MemDevice>>) -> Running {
        Running::start(MemExports::new(devices)).await
    }

    fn uri(&self, name: &str) -> String {
        format!("nbd://{}/{name}", self.addr)
    }

    /// Shuts the server down and waits for it to return.
    async fn stop(self) {
        let _ = self.stop.send(());
        within(self.task).await.unwrap();
    }
}

/// `len` bytes from a xorshift generator seeded by `SEED` (printed), or
/// by `seed` when `SEED` is unset.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let seed = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(seed);
    println!("random data: SEED={seed}");
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A structured reply chunk as received.
#[derive(Debug)]
struct RawChunk {
    flags: u16,
    kind: u16,
    cookie: u64,
    payload: Vec<u8>,
}

/// A hand-written NBD client: it speaks the protocol one message at a
/// time, so tests can pipeline, truncate and misbehave at will.
struct RawClient {
    s: TcpStream,
}

/// What `RawClient::go` negotiates.
#[derive(Clone, Copy)]
struct Want {
    structured: bool,
    allocation: bool,
}

const SIMPLE: Want = Want {
    structured: false,
    allocation: false,
};
const STRUCTURED: Want = Want {
    structured: true,
    allocation: true,
};

impl RawClient {
    /// Connects and reads the greeting.
    async fn connect(addr: SocketAddr) -> RawClient {
        let s = within(TcpStream::connect(addr)).await.unwrap();
        let mut c = RawClient { s };
        let greeting = c.read(GREETING_BYTES).await;
        assert_eq!(greeting, super::proto::greeting());
        c
    }

    /// Connects, negotiates `want`, and enters transmission of `name`;
    /// returns the client, the export size and the transmission flags.
    async fn go(addr: SocketAddr, name: &str, want: Want) -> (RawClient, u64, u16) {
        let mut c = RawClient::connect(addr).await;
        c.write(&(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES).to_be_bytes())
            .await;
        if want.structured {
            c.option(OPT_STRUCTURED_REPLY, &[]).await;
            assert_eq!(c.option_reply().await.1, REP_ACK);
        }
        if want.allocation {
            let mut p = name_payload(name);
            p.put_u32(1);
            p.put_u32(15);
            p.put_slice(b"base:allocation");
            c.option(OPT_SET_META_CONTEXT, &p).await;
            assert_eq!(c.option_reply().await.1, REP_META_CONTEXT);
            assert_eq!(c.option_reply().await.1, REP_ACK);
        }
        let mut p = name_payload(name);
        p.put_u16(0);
        c.option(OPT_GO, &p).await;
        let (mut size, mut flags) = (None, 0);
        loop {
            let (_, kind, data) = c.option_reply().await;
            match kind {
                REP_INFO if data[..2] == [0, 0] => {
                    size = Some(u64::from_be_bytes(data[2..10].try_into().unwrap()));
                    flags = u16::from_be_bytes(data[10..12].try_into().unwrap());
                }
                REP_INFO => {}
                REP_ACK => break,
                other => panic!("NBD_OPT_GO failed: {other:#x}"),
            }
        }
        (c, size.expect("NBD_INFO_EXPORT"), flags)
    }

    async fn write(&mut self, b: &[u8]) {
        within(self.s.write_all(b)).await.unwrap();
    }

    async fn read(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        within(self.s.read_exact(&mut b)).await.unwrap();
        b
    }

    async fn option(&mut self, code: u32, data: &[u8]) {
        let mut b = Vec::new();
        b.put_u64(IHAVEOPT);
        b.put_u32(code);
        b.put_u32(data.len() as u32);
        b.put_slice(data);
        self.write(&b).await;
    }

    /// (option, reply type, data)
    async fn option_reply(&mut self) -> (u32, u32, Vec<u8>) {
        let h = self.read(20).await;
        assert_eq!(h[..8], OPTION_REPLY_MAGIC.to_be_bytes());
        let opt = u32::from_be_bytes(h[8..12].try_into().unwrap());
        let kind = u32::from_be_bytes(h[12..16].try_into().unwrap());
        let len = u32::from_be_bytes(h[16..20].try_into().unwrap());
        (opt, kind, self.read(len as usize).await)
    }

    /// Sends a request (and its payload, if any).
    async fn request(&mut self, kind: u16, flags: u16, cookie: u64, offset: u64, len: u32) {
        let h = RequestHeader {
            flags,
            kind,
            cookie,
            offset,
            len,
        };
        self.write(&encode_request_header(&h)).await;
    }

    async fn write_request(&mut self, flags: u16, cookie: u64, offset: u64, data: &[u8]) {
        self.request(CMD_WRITE, flags, cookie, offset, data.len() as u32)
            .await;
        self.write(data).await;
    }

    /// A simple reply's (error, cookie).
    async fn simple_reply(&mut self) -> (u32, u64) {
        let h = self.read(SIMPLE_REPLY_BYTES).await;
        assert_eq!(h[..4], SIMPLE_REPLY_MAGIC.to_be_bytes());
        let error = u32::from_be_bytes(h[4..8].try_into().unwrap());
        (error, u64::from_be_bytes(h[8..16].try_into().unwrap()))
    }

    async fn chunk(&mut self) -> RawChunk {
        let h = self.read(CHUNK_HEADER_BYTES).await;
        assert_eq!(h[..4], STRUCTURED_REPLY_MAGIC.to_be_bytes());
        let len = u32::from_be_bytes(h[16..20].try_into().unwrap());
        RawChunk {
            flags: u16::from_be_bytes(h[4..6].try_into().unwrap()),
            kind: u16::from_be_bytes(h[6..8].try_into().unwrap()),
            cookie: u64::from_be_bytes(h[8..16].try_into().unwrap()),
            payload: self.read(len as usize).await,
        }
    }

    /// Waits for the server to close the connection (EOF or reset).
    async fn expect_closed(&mut self) {
        let mut b = [0u8; 256];
        loop {
            match within(self.s.read(&mut b)).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

fn name_payload(name: &str) -> Vec<u8> {
    let mut p = Vec::new();
    p.put_u32(name.len() as u32);
    p.put_slice(name.as_bytes());
    p
}
