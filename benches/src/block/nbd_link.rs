//! One NBD connection in the transmission phase (over TCP or TLS):
//! requests out through the writer task (NBD pipelines by handle), simple
//! replies in, a READ's data read straight after its reply into one
//! block-sized buffer.

use super::link::{spawn_writer, Frame, Op, OpenSpec, Reply, Request, SOCKET_BUFFER_BYTES};
use super::nbd::{self, Command};
use super::session::NbdStream;
use crate::stats::ErrorKind;
use std::collections::HashSet;
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::mpsc;

/// The read side of either kind of connection.
type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;

pub struct NbdLink {
    reader: BufReader<ReadHalf>,
    tx: mpsc::Sender<Frame>,
    /// Handles of READs in flight: their replies carry data.
    reads: HashSet<u64>,
    read_buf: Vec<u8>,
}

impl NbdLink {
    pub fn new(stream: NbdStream, spec: OpenSpec) -> NbdLink {
        let capacity = spec.queue_depth + 1;
        let (read_half, tx): (ReadHalf, _) = match stream {
            NbdStream::Plain(s) => {
                let (r, w) = s.into_split();
                (Box::new(r), spawn_writer(w, capacity))
            }
            NbdStream::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (Box::new(r), spawn_writer(w, capacity))
            }
        };
        NbdLink {
            reader: BufReader::with_capacity(SOCKET_BUFFER_BYTES, read_half),
            tx,
            reads: HashSet::with_capacity(spec.queue_depth),
            read_buf: vec![0; spec.block_bytes as usize],
        }
    }

    pub async fn send(&mut self, req: Request) -> Result<(), ErrorKind> {
        let cmd = command(req.op);
        let header = nbd::encode_request(cmd, req.tag, req.offset, req.len);
        let frame = Frame::new(&header, req.payload, 0);
        self.tx
            .send(frame)
            .await
            .map_err(|_| ErrorKind::Connection)?;
        if req.op == Op::Read {
            self.reads.insert(req.tag);
        }
        Ok(())
    }

    /// Reads one reply (and a successful READ's data).
    pub async fn receive(&mut self) -> Result<Reply, ErrorKind> {
        let mut header = [0u8; nbd::SIMPLE_REPLY_BYTES];
        self.reader
            .read_exact(&mut header)
            .await
            .map_err(|_| ErrorKind::Connection)?;
        let reply = nbd::parse_simple_reply(&header).map_err(|_| ErrorKind::Protocol)?;
        let was_read = self.reads.remove(&reply.handle);
        if reply.error != 0 {
            return Ok(Reply {
                tag: reply.handle,
                result: Err(ErrorKind::Nbd(reply.error)),
            });
        }
        if was_read {
            self.reader
                .read_exact(&mut self.read_buf)
                .await
                .map_err(|_| ErrorKind::Connection)?;
        }
        Ok(Reply {
            tag: reply.handle,
            result: Ok(()),
        })
    }

    pub fn read_data(&self) -> &[u8] {
        &self.read_buf
    }

    /// Says goodbye (NBD_CMD_DISC); the server closes the connection.
    pub async fn disconnect(self) {
        let header = nbd::encode_request(Command::Disconnect, 0, 0, 0);
        let _ = self.tx.send(Frame::new(&header, None, 0)).await;
    }
}

fn command(op: Op) -> Command {
    match op {
        Op::Read => Command::Read,
        Op::Write => Command::Write,
        Op::Flush => Command::Flush,
    }
}

/// The name requests of `op` are counted under: NBD's command names.
pub fn request_name(op: Op) -> &'static str {
    command(op).name()
}
