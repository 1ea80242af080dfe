//! The transports a block worker drives: an NBD connection or an iSCSI
//! session, behind one small interface ([`Link`]): send a READ, WRITE or
//! FLUSH under a tag, receive the next completion, say goodbye. Also the
//! writer task both share, which owns the socket's write half so large
//! writes never stall reading the replies.

use super::iscsi::{IscsiAddress, IscsiInfo, IscsiLink};
use super::nbd::ExportInfo;
use super::nbd_link::NbdLink;
use super::session::NbdAddress;
use crate::error::BenchError;
use crate::stats::ErrorKind;
use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

/// Bytes buffered on each side of the socket.
pub const SOCKET_BUFFER_BYTES: usize = 256 * 1024;

/// Where the device is, and over which protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockAddress {
    Nbd(NbdAddress),
    Iscsi(IscsiAddress),
}

impl From<NbdAddress> for BlockAddress {
    fn from(a: NbdAddress) -> BlockAddress {
        BlockAddress::Nbd(a)
    }
}

impl From<IscsiAddress> for BlockAddress {
    fn from(a: IscsiAddress) -> BlockAddress {
        BlockAddress::Iscsi(a)
    }
}

impl BlockAddress {
    /// The protocol's name in the report.
    pub fn api(&self) -> &'static str {
        match self {
            BlockAddress::Nbd(_) => "nbd",
            BlockAddress::Iscsi(_) => "iscsi",
        }
    }

    /// The address as a URI (never with a secret).
    pub fn uri(&self) -> String {
        match self {
            BlockAddress::Nbd(a) => a.uri(),
            BlockAddress::Iscsi(a) => a.uri(),
        }
    }

    /// The setup step named in errors about the device.
    pub fn handshake(&self) -> &'static str {
        match self {
            BlockAddress::Nbd(_) => "NBD handshake",
            BlockAddress::Iscsi(_) => "iSCSI login",
        }
    }
}

/// What a worker's connection needs to know when it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenSpec {
    pub block_bytes: u64,
    pub queue_depth: usize,
    /// Which connection of the run (iSCSI: part of the session's ISID).
    pub index: u16,
}

/// What the device is, as the protocol told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceInfo {
    pub size_bytes: u64,
    pub read_only: bool,
    pub can_flush: bool,
    pub detail: Detail,
}

/// Protocol-specific facts, for the report's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    Nbd(ExportInfo),
    Iscsi(IscsiInfo),
}

/// Connects and negotiates; the link is ready for requests.
pub async fn open(addr: &BlockAddress, spec: OpenSpec) -> Result<(Link, DeviceInfo), BenchError> {
    match addr {
        BlockAddress::Nbd(a) => {
            let (stream, info) = super::session::open(a).await?;
            let link = NbdLink::new(stream, spec);
            let device = DeviceInfo {
                size_bytes: info.size_bytes,
                read_only: info.read_only(),
                can_flush: info.can_flush(),
                detail: Detail::Nbd(info),
            };
            Ok((Link::Nbd(link), device))
        }
        BlockAddress::Iscsi(a) => {
            let (link, info) = super::iscsi::open(a, spec).await?;
            Ok((Link::Iscsi(Box::new(link)), info))
        }
    }
}

/// A request's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
    Flush,
}

/// One request: `len` bytes at `offset` (a FLUSH: 0 and 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub tag: u64,
    pub op: Op,
    pub offset: u64,
    pub len: u32,
    /// A WRITE's data.
    pub payload: Option<Bytes>,
}

/// A request that ended; a successful READ's data is [`Link::read_data`]
/// until the next call of [`Link::receive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub tag: u64,
    pub result: Result<(), ErrorKind>,
}

/// One connection to the device.
pub enum Link {
    Nbd(NbdLink),
    /// Boxed: a session's state is much larger than an NBD connection's.
    Iscsi(Box<IscsiLink>),
}

impl Link {
    /// Whether a request may be sent now (iSCSI: the CmdSN window).
    pub fn window_open(&self) -> bool {
        match self {
            Link::Nbd(_) => true,
            Link::Iscsi(l) => l.window_open(),
        }
    }

    /// Sends a request; an error means the connection is gone.
    pub async fn send(&mut self, req: Request) -> Result<(), ErrorKind> {
        match self {
            Link::Nbd(l) => l.send(req).await,
            Link::Iscsi(l) => l.send(req).await,
        }
    }

    /// The next completion; `None` when what arrived ended no request
    /// (an iSCSI window update with nothing outstanding). An error means
    /// the connection is unusable.
    pub async fn receive(&mut self) -> Result<Option<Reply>, ErrorKind> {
        match self {
            Link::Nbd(l) => l.receive().await.map(Some),
            Link::Iscsi(l) => l.receive().await,
        }
    }

    /// The data of the READ [`Self::receive`] last completed.
    pub fn read_data(&self) -> &[u8] {
        match self {
            Link::Nbd(l) => l.read_data(),
            Link::Iscsi(l) => l.read_data(),
        }
    }

    /// The name requests of `op` are counted under (the protocol's own).
    pub fn request_name(&self, op: Op) -> &'static str {
        match (self, op) {
            (Link::Nbd(_), op) => super::nbd_link::request_name(op),
            (Link::Iscsi(_), Op::Read) => "READ_16",
            (Link::Iscsi(_), Op::Write) => "WRITE_16",
            (Link::Iscsi(_), Op::Flush) => "SYNCHRONIZE_CACHE_16",
        }
    }

    /// Ends the connection politely (NBD_CMD_DISC; iSCSI Logout).
    pub async fn disconnect(self) {
        match self {
            Link::Nbd(l) => l.disconnect().await,
            Link::Iscsi(l) => l.disconnect().await,
        }
    }
}

/// Bytes on the wire for one message: a header, then an optional payload
/// and zero padding after it.
pub struct Frame {
    header: [u8; 48],
    header_len: usize,
    payload: Option<Bytes>,
    pad: usize,
}

impl Frame {
    /// `header` is at most 48 bytes; `pad` at most 3.
    pub fn new(header: &[u8], payload: Option<Bytes>, pad: usize) -> Frame {
        assert!(
            header.len() <= 48 && pad <= 3,
            "frame header or padding too long"
        );
        let mut h = [0u8; 48];
        h[..header.len()].copy_from_slice(header);
        Frame {
            header: h,
            header_len: header.len(),
            payload,
            pad,
        }
    }
}

/// Starts the writer task of a connection; it ends when every sender is
/// dropped (then shuts the socket's write side) or a write fails.
pub fn spawn_writer<W>(half: W, capacity: usize) -> mpsc::Sender<Frame>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel(capacity);
    tokio::spawn(write_loop(
        BufWriter::with_capacity(SOCKET_BUFFER_BYTES, half),
        rx,
    ));
    tx
}

/// Writes frames as they come, flushing when none is waiting.
async fn write_loop<W: AsyncWrite + Unpin>(mut w: BufWriter<W>, mut rx: mpsc::Receiver<Frame>) {
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(f) = next {
            if write_one(&mut w, &f).await.is_err() {
                return;
            }
            next = rx.try_recv().ok();
        }
        if w.flush().await.is_err() {
            return;
        }
    }
    let _ = w.shutdown().await;
}

async fn write_one<W: AsyncWrite + Unpin>(w: &mut BufWriter<W>, f: &Frame) -> std::io::Result<()> {
    w.write_all(&f.header[..f.header_len]).await?;
    if let Some(p) = &f.payload {
        w.write_all(p).await?;
    }
    if f.pad > 0 {
        w.write_all(&[0u8; 3][..f.pad]).await?;
    }
    Ok(())
}
