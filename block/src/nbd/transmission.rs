//! The transmission phase driver. One loop reads requests off the socket
//! (headers through a buffer, WRITE payloads straight into their own
//! buffers); each command runs as its own task, so a queue of them reaches
//! the device at once; one writer task sends the replies, batching
//! whatever is ready into a single vectored write.
//!
//! Bounds: [`IN_FLIGHT_MAX`] requests and [`IN_FLIGHT_BYTES_MAX`] bytes of
//! payload per connection (a payload's budget is returned when its reply
//! has been written). When the connection ends (DISC, EOF, a protocol
//! error or server shutdown) no more requests are read, the ones in
//! flight finish and their replies are sent, then the socket is closed.

use super::command::{
    self, all_hole, decode_command, read_chunks, status_extents, Command, Request,
};
use super::options::Session;
use super::proto::*;
use super::reply::{Chunk, Outbox, Reply};
use crate::device::{check_range, BlockDevice, BlockError};
use bytes::{Bytes, BytesMut};
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinError, JoinHandle, JoinSet};
use tracing::{debug, error, warn, Instrument};

/// Most requests in flight on one connection (clients queue about 32).
pub const IN_FLIGHT_MAX: usize = 64;
/// Most READ/WRITE payload bytes in flight on one connection.
pub const IN_FLIGHT_BYTES_MAX: u32 = 128 << 20;
/// Longest refused WRITE payload read and dropped to keep the connection;
/// past it, the connection is closed instead (the client broke a MUST).
pub const SKIP_BYTES_MAX: u32 = 64 << 20;
/// Most replies gathered into one vectored write.
const REPLY_BATCH_MAX: usize = 64;
/// Buffer for request headers (and small payloads behind them).
const READ_BUFFER_BYTES: usize = 64 << 10;
/// How long the replies of the last requests may take to be written
/// once the connection is ending; a client that stops reading is cut off.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

const _: () = assert!(IN_FLIGHT_BYTES_MAX >= PAYLOAD_BYTES_MAX);
const _: () = assert!(SKIP_BYTES_MAX >= PAYLOAD_BYTES_MAX);

/// How a connection ended cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client sent `NBD_CMD_DISC`.
    Disconnect,
    /// The client closed the connection between requests.
    Eof,
    /// The server is shutting down.
    Shutdown,
}

/// Why a connection ended uncleanly.
#[derive(Debug, thiserror::Error)]
pub enum TransmitError {
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    #[error("protocol: {0}")]
    Proto(#[from] ProtoError),
    #[error("refused a write of {0} bytes, too long to skip")]
    PayloadTooLong(u32),
    #[error("a request task failed: {0}")]
    Task(#[from] JoinError),
}

/// A reply on its way to the writer, with the payload budget it holds.
struct Queued {
    reply: Reply,
    budget: Option<OwnedSemaphorePermit>,
}

/// Serves requests for `device` until the client leaves or `stop`
/// completes.
pub async fn transmit<R, W>(
    reader: R,
    writer: W,
    device: Arc<dyn BlockDevice>,
    session: Session,
    stop: impl Future<Output = ()>,
) -> Result<End, TransmitError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel(IN_FLIGHT_MAX * 2);
    let mut writer = tokio::spawn(write_replies(writer, rx).in_current_span());
    let mut conn = Connection {
        reader: BufReader::with_capacity(READ_BUFFER_BYTES, reader),
        device,
        session,
        tx,
        tasks: JoinSet::new(),
        budget: Arc::new(Semaphore::new(IN_FLIGHT_BYTES_MAX as usize)),
    };
    let mut stop = pin!(stop);
    let ended = loop {
        let step = tokio::select! {
            biased;
            () = &mut stop => Ok(Step::End(End::Shutdown)),
            step = conn.next() => step,
        };
        match step {
            Ok(Step::Continue) => {}
            Ok(Step::End(end)) => break Ok(end),
            Err(e) => break Err(e),
        }
    };
    let Connection { tx, tasks, .. } = conn;
    let written = drain(tasks, tx, &mut writer).await;
    match (ended, written) {
        (Ok(end), Ok(())) => Ok(end),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e),
    }
}

/// Waits for the tasks in flight and for the writer to send their replies.
/// Past [`DRAIN_TIMEOUT`] (a client that stopped reading, or a device that
/// stopped answering), the writer and the replies still queued are dropped,
/// and the tasks are still waited for: a request the device has started
/// is never abandoned halfway.
async fn drain(
    mut tasks: JoinSet<()>,
    tx: mpsc::Sender<Queued>,
    writer: &mut JoinHandle<io::Result<()>>,
) -> Result<(), TransmitError> {
    let finished = tokio::time::timeout(DRAIN_TIMEOUT, async {
        let mut failed = None;
        while let Some(done) = tasks.join_next().await {
            failed = failed.or(done.err());
        }
        drop(tx);
        let written = (&mut *writer).await;
        (failed, written)
    })
    .await;
    match finished {
        Ok((Some(e), _)) => Err(e.into()),
        Ok((None, written)) => Ok(written??),
        Err(_) => {
            warn!("replies not written within {DRAIN_TIMEOUT:?}: dropping them");
            writer.abort();
            while tasks.join_next().await.is_some() {}
            Err(io::Error::from(io::ErrorKind::TimedOut).into())
        }
    }
}

/// What the read loop does after a request.
enum Step {
    Continue,
    End(End),
}

/// The read side of one connection.
struct Connection<R> {
    reader: BufReader<R>,
    device: Arc<dyn BlockDevice>,
    session: Session,
    tx: mpsc::Sender<Queued>,
    tasks: JoinSet<()>,
    budget: Arc<Semaphore>,
}

impl<R: AsyncRead + Unpin> Connection<R> {
    /// Takes in one request. Cancel-safe only in that cancelling it ends
    /// the connection: a request half read is lost.
    async fn next(&mut self) -> Result<Step, TransmitError> {
        self.reap().await?;
        if self.tx.is_closed() {
            // The writer failed; `drain` reports why.
            return Ok(Step::End(End::Eof));
        }
        let Some(header) = self.read_header().await? else {
            return Ok(Step::End(End::Eof));
        };
        match decode_command(&header, &self.session) {
            Request::Disconnect => Ok(Step::End(End::Disconnect)),
            Request::Reject {
                error,
                skip,
                message,
            } => self.reject(header.cookie, error, skip, message).await,
            Request::Command(cmd) => {
                self.start(header.cookie, cmd).await?;
                Ok(Step::Continue)
            }
        }
    }

    /// Collects finished tasks, and waits while [`IN_FLIGHT_MAX`] run. A
    /// task that panicked ends the connection: its reply will never come.
    async fn reap(&mut self) -> Result<(), TransmitError> {
        while let Some(done) = self.tasks.try_join_next() {
            done?;
        }
        while self.tasks.len() >= IN_FLIGHT_MAX {
            if let Some(done) = self.tasks.join_next().await {
                done?;
            }
        }
        Ok(())
    }

    /// The next request header; `None` at a clean EOF between requests.
    async fn read_header(&mut self) -> Result<Option<RequestHeader>, TransmitError> {
        if self.reader.fill_buf().await?.is_empty() {
            return Ok(None);
        }
        let mut h = [0u8; REQUEST_HEADER_BYTES];
        self.reader.read_exact(&mut h).await?;
        Ok(Some(decode_request_header(&h)?))
    }

    /// Answers a refused request, after reading past its payload.
    async fn reject(
        &mut self,
        cookie: u64,
        error: u32,
        skip: u32,
        message: &'static str,
    ) -> Result<Step, TransmitError> {
        debug!(cookie, error, "refused request: {message}");
        let reply = Reply::error(cookie, self.session.structured, error, message.into());
        if skip > SKIP_BYTES_MAX {
            // Best effort: the connection closes whether or not it arrives.
            let _ = self.send(reply).await;
            return Err(TransmitError::PayloadTooLong(skip));
        }
        let len = u64::from(skip);
        let copied =
            tokio::io::copy(&mut (&mut self.reader).take(len), &mut tokio::io::sink()).await?;
        if copied < len {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        self.send(reply).await?;
        Ok(Step::Continue)
    }

    async fn send(&self, reply: Reply) -> io::Result<()> {
        let queued = Queued {
            reply,
            budget: None,
        };
        self.tx
            .send(queued)
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }

    /// Reads a command's payload, then runs it in its own task.
    async fn start(&mut self, cookie: u64, cmd: Command) -> Result<(), TransmitError> {
        let bytes = command::payload_bytes(&cmd);
        let budget = if bytes == 0 {
            None
        } else {
            let permit = self.budget.clone().acquire_many_owned(bytes).await;
            Some(permit.expect("the budget semaphore is never closed"))
        };
        let payload = match cmd {
            Command::Write { len, .. } => read_payload(&mut self.reader, len).await?,
            _ => Bytes::new(),
        };
        let (device, tx, session) = (self.device.clone(), self.tx.clone(), self.session);
        let task = async move {
            let reply = execute(&*device, cookie, cmd, payload, session).await;
            // The writer is gone only if the connection is closing.
            let _ = tx.send(Queued { reply, budget }).await;
        };
        self.tasks.spawn(task.in_current_span());
        Ok(())
    }
}

/// Reads a `len`-byte payload into a buffer of its own, without zeroing
/// it first.
async fn read_payload<R: AsyncRead + Unpin>(reader: &mut R, len: u32) -> io::Result<Bytes> {
    let len = len as usize;
    let mut buf = BytesMut::with_capacity(len);
    while buf.len() < len {
        let want = (len - buf.len()) as u64;
        if (&mut *reader).take(want).read_buf(&mut buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(buf.freeze())
}

/// Writes replies as they come, several per vectored write, until every
/// sender is gone; then closes the write side.
async fn write_replies<W>(mut w: W, mut rx: mpsc::Receiver<Queued>) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut batch = Vec::with_capacity(REPLY_BATCH_MAX);
    let mut held = Vec::with_capacity(REPLY_BATCH_MAX);
    let mut out = Outbox::default();
    while rx.recv_many(&mut batch, REPLY_BATCH_MAX).await > 0 {
        for Queued { reply, budget } in batch.drain(..) {
            reply.encode(&mut out);
            held.extend(budget);
        }
        out.seal();
        w.write_all_buf(&mut out).await?;
        w.flush().await?;
        // Only now is the payload budget of these replies returned.
        held.clear();
    }
    w.shutdown().await
}

/// Carries out one command on the device.
async fn execute(
    device: &dyn BlockDevice,
    cookie: u64,
    cmd: Command,
    payload: Bytes,
    session: Session,
) -> Reply {
    let structured = session.structured;
    let done = match cmd {
        Command::Read { offset, len, df } => {
            return read(device, cookie, offset, len, df, structured).await
        }
        Command::BlockStatus {
            offset,
            len,
            req_one,
            context,
        } => {
            return match device.allocation(offset, len.into()).await {
                Ok(runs) => Reply::Structured {
                    cookie,
                    chunks: vec![Chunk::BlockStatus {
                        context,
                        extents: status_extents(len, &runs, req_one),
                    }],
                },
                Err(e) => failure(cookie, structured, &e, false),
            }
        }
        Command::WriteZeroes {
            fast: true,
            may_unmap: false,
            ..
        } => {
            // Zeroing without unmapping writes zeros: no faster than WRITE.
            let msg = "zeroing without unmapping is not fast";
            return Reply::error(cookie, structured, ENOTSUP, msg.into());
        }
        Command::Write { offset, fua, .. } => device.write(offset, payload, fua).await,
        Command::Flush => device.flush().await,
        Command::Trim { offset, len, fua } => trim(device, offset, len.into(), fua).await,
        Command::WriteZeroes {
            offset,
            len,
            may_unmap,
            fua,
            ..
        } => {
            device
                .write_zeroes(offset, len.into(), may_unmap, fua)
                .await
        }
        Command::Cache { offset, len } => check_range(offset, len.into(), device.size()),
    };
    match done {
        Ok(()) => Reply::ok(cookie),
        Err(e) => {
            let writes_data = matches!(cmd, Command::Write { .. } | Command::WriteZeroes { .. });
            failure(cookie, structured, &e, writes_data)
        }
    }
}

/// TRIM: a discard, made durable when FUA asks.
async fn trim(
    device: &dyn BlockDevice,
    offset: u64,
    len: u64,
    fua: bool,
) -> Result<(), BlockError> {
    device.discard(offset, len).await?;
    if fua {
        device.flush().await?;
    }
    Ok(())
}

/// READ. With structured replies, unallocated ranges go back as holes
/// (and a read that is all hole never touches the data).
async fn read(
    device: &dyn BlockDevice,
    cookie: u64,
    offset: u64,
    len: u32,
    df: bool,
    structured: bool,
) -> Reply {
    // The device checks too; checking here keeps the chunk offsets below
    // from overflowing whatever the device does.
    if let Err(e) = check_range(offset, len.into(), device.size()) {
        return failure(cookie, structured, &e, false);
    }
    let runs = if structured && len > 0 {
        match device.allocation(offset, len.into()).await {
            Ok(runs) => runs,
            Err(e) => return failure(cookie, structured, &e, false),
        }
    } else {
        Vec::new()
    };
    if len > 0 && all_hole(len, &runs) {
        let chunks = vec![Chunk::Hole { offset, len }];
        return Reply::Structured { cookie, chunks };
    }
    let data = match device.read(offset, len).await {
        Ok(data) if data.len() == len as usize => data,
        Ok(data) => {
            let e = BlockError::Io(format!("device read {} bytes of {len}", data.len()));
            return failure(cookie, structured, &e, false);
        }
        Err(e) => return failure(cookie, structured, &e, false),
    };
    if structured {
        let chunks = read_chunks(offset, data, &runs, df);
        Reply::Structured { cookie, chunks }
    } else {
        Reply::Simple {
            cookie,
            error: 0,
            data: Some(data),
        }
    }
}

/// The error reply for a failed device call, logged by how much it matters.
fn failure(cookie: u64, structured: bool, e: &BlockError, writes_data: bool) -> Reply {
    match e {
        BlockError::Fenced(epoch) => error!(cookie, epoch, "write refused: volume fenced"),
        BlockError::Io(_) | BlockError::NoSuchExport(_) => warn!(cookie, error = %e, "I/O error"),
        _ => debug!(cookie, error = %e, "request failed"),
    }
    Reply::error(
        cookie,
        structured,
        command::errno(e, writes_data),
        e.to_string(),
    )
}
