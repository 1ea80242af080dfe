//! A minimal blocking NBD client for fault tests, where a test must know
//! exactly which requests the server acknowledged (fio and qemu-io do not
//! say which writes a flush covered): the fixed-newstyle handshake with
//! `NBD_OPT_GO`, then READ, WRITE and FLUSH with simple replies, pipelined
//! by handle. No TLS, no structured replies, no other commands.
//!
//! It is not `cairn bench`'s client: that one is private to the bench
//! crate, asynchronous, and would bring the block and proxy crates into
//! this one, which only drives the real binary from outside.
//!
//! Reference: the NBD protocol document (`doc/proto.md` of the NBD project).

use anyhow::{bail, ensure, Context, Result};
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `NBDMAGIC`: the first 8 bytes a server sends.
const NBD_MAGIC: u64 = 0x4e42_444d_4147_4943;
/// `IHAVEOPT`: newstyle negotiation, and the prefix of every option.
const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
const OPTION_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
const REQUEST_MAGIC: u32 = 0x2560_9513;
const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;

const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
const FLAG_NO_ZEROES: u16 = 1 << 1;
const OPT_GO: u32 = 7;
const REP_ACK: u32 = 1;
const REP_INFO: u32 = 3;
/// Option replies with this bit set are errors.
const REP_FLAG_ERROR: u32 = 1 << 31;
const INFO_EXPORT: u16 = 0;
/// The longest option reply payload read (a server's error message, say).
const OPTION_REPLY_BYTES_MAX: u32 = 64 * 1024;

const CMD_READ: u16 = 0;
const CMD_WRITE: u16 = 1;
const CMD_DISC: u16 = 2;
const CMD_FLUSH: u16 = 3;

/// One connection in the transmission phase.
pub struct NbdClient {
    /// Requests go out here.
    out: TcpStream,
    /// Replies come in here (a clone of `out`'s socket).
    replies: BufReader<TcpStream>,
    size_bytes: u64,
}

/// A request's header fields.
struct Request {
    command: u16,
    handle: u64,
    offset: u64,
    len: u32,
}

/// A simple reply: the request's handle and its NBD error (0: success).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub handle: u64,
    pub error: u32,
}

/// `(host:port, export)` of an `nbd://host:port/export` URL.
pub fn parse_url(url: &str) -> Result<(&str, &str)> {
    url.strip_prefix("nbd://")
        .and_then(|rest| rest.split_once('/'))
        .with_context(|| format!("not an nbd://host:port/export URL: {url}"))
}

impl NbdClient {
    /// Connects to `url` and attaches its export with `NBD_OPT_GO`; every
    /// later read of the socket gives up after `timeout`.
    pub fn connect(url: &str, timeout: Duration) -> Result<NbdClient> {
        let (addr, export) = parse_url(url)?;
        let out = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        out.set_nodelay(true)?;
        out.set_read_timeout(Some(timeout))?;
        let mut client = NbdClient {
            replies: BufReader::new(out.try_clone()?),
            out,
            size_bytes: 0,
        };
        client.handshake(export).context("NBD handshake")?;
        Ok(client)
    }

    /// The export's size, as `NBD_INFO_EXPORT` said.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn handshake(&mut self, export: &str) -> Result<()> {
        let mut greeting = [0u8; 18];
        self.replies.read_exact(&mut greeting)?;
        ensure!(
            be_u64(&greeting[..8]) == NBD_MAGIC && be_u64(&greeting[8..16]) == IHAVEOPT,
            "not a newstyle NBD server"
        );
        let flags = u16::from_be_bytes([greeting[16], greeting[17]]);
        ensure!(flags & FLAG_FIXED_NEWSTYLE != 0, "not fixed newstyle");
        let client_flags = u32::from(FLAG_FIXED_NEWSTYLE | (flags & FLAG_NO_ZEROES));
        let mut go = client_flags.to_be_bytes().to_vec();
        go.extend_from_slice(&IHAVEOPT.to_be_bytes());
        go.extend_from_slice(&OPT_GO.to_be_bytes());
        go.extend_from_slice(&(4 + export.len() as u32 + 2).to_be_bytes());
        go.extend_from_slice(&(export.len() as u32).to_be_bytes());
        go.extend_from_slice(export.as_bytes());
        go.extend_from_slice(&0u16.to_be_bytes()); // no information requests
        self.out.write_all(&go)?;
        self.option_replies()
    }

    /// Reads `NBD_OPT_GO`'s replies up to its ACK, keeping the export's size.
    fn option_replies(&mut self) -> Result<()> {
        let mut size = None;
        loop {
            let mut header = [0u8; 20];
            self.replies.read_exact(&mut header)?;
            ensure!(
                be_u64(&header[..8]) == OPTION_REPLY_MAGIC,
                "bad option reply magic"
            );
            let kind = be_u32(&header[12..16]);
            let len = be_u32(&header[16..20]);
            ensure!(len <= OPTION_REPLY_BYTES_MAX, "option reply of {len} bytes");
            let mut data = vec![0u8; len as usize];
            self.replies.read_exact(&mut data)?;
            match kind {
                REP_ACK => break,
                REP_INFO if data.len() >= 12 && be_u16(&data[..2]) == INFO_EXPORT => {
                    size = Some(be_u64(&data[2..10]));
                }
                REP_INFO => {}
                k if k & REP_FLAG_ERROR != 0 => bail!(
                    "NBD_OPT_GO refused ({k:#x}): {}",
                    String::from_utf8_lossy(&data)
                ),
                k => bail!("unexpected option reply {k:#x}"),
            }
        }
        self.size_bytes = size.context("NBD_OPT_GO acknowledged without the export's size")?;
        Ok(())
    }

    /// Sends one request, its header and then `data` (a WRITE's).
    fn send(&mut self, r: Request, data: &[u8]) -> Result<()> {
        let mut req = Vec::with_capacity(28 + data.len());
        req.extend_from_slice(&REQUEST_MAGIC.to_be_bytes());
        req.extend_from_slice(&0u16.to_be_bytes()); // command flags
        req.extend_from_slice(&r.command.to_be_bytes());
        req.extend_from_slice(&r.handle.to_be_bytes());
        req.extend_from_slice(&r.offset.to_be_bytes());
        req.extend_from_slice(&r.len.to_be_bytes());
        req.extend_from_slice(data);
        self.out.write_all(&req)?;
        Ok(())
    }

    /// Sends `NBD_CMD_WRITE` of `data` at `offset` under `handle`; its
    /// reply comes from [`Self::receive`].
    pub fn send_write(&mut self, handle: u64, offset: u64, data: &[u8]) -> Result<()> {
        let len = u32::try_from(data.len()).context("write too long")?;
        let r = Request {
            command: CMD_WRITE,
            handle,
            offset,
            len,
        };
        self.send(r, data)
    }

    /// Sends `NBD_CMD_FLUSH` under `handle`: once acknowledged, every write
    /// acknowledged before it was sent is durable.
    pub fn send_flush(&mut self, handle: u64) -> Result<()> {
        let r = Request {
            command: CMD_FLUSH,
            handle,
            offset: 0,
            len: 0,
        };
        self.send(r, &[])
    }

    /// The next simple reply to a WRITE or FLUSH (never a READ's: its data
    /// follows the header).
    pub fn receive(&mut self) -> Result<Reply> {
        let mut header = [0u8; 16];
        self.replies.read_exact(&mut header)?;
        ensure!(
            be_u32(&header[..4]) == SIMPLE_REPLY_MAGIC,
            "bad simple reply magic"
        );
        Ok(Reply {
            error: be_u32(&header[4..8]),
            handle: be_u64(&header[8..16]),
        })
    }

    /// Reads `len` bytes at `offset`, with nothing else in flight.
    pub fn read(&mut self, offset: u64, len: u32) -> Result<Vec<u8>> {
        let r = Request {
            command: CMD_READ,
            handle: u64::MAX,
            offset,
            len,
        };
        self.send(r, &[])?;
        let reply = self.receive()?;
        ensure!(reply.handle == u64::MAX, "reply to another request");
        ensure!(
            reply.error == 0,
            "READ of {len} bytes at {offset}: NBD error {}",
            reply.error
        );
        let mut data = vec![0u8; len as usize];
        self.replies.read_exact(&mut data)?;
        Ok(data)
    }

    /// Says goodbye (`NBD_CMD_DISC`); the server closes the connection.
    pub fn disconnect(mut self) -> Result<()> {
        let r = Request {
            command: CMD_DISC,
            handle: 0,
            offset: 0,
            len: 0,
        };
        self.send(r, &[])
    }
}

fn be_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes(b[..2].try_into().expect("2 bytes"))
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().expect("4 bytes"))
}

fn be_u64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().expect("8 bytes"))
}
